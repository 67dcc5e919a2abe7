//! The arithmetic of the dissection game that the asserter, the challenger and the
//! ChallengeManager must share (`docs/protocol.md` §9).

use alloy_primitives::B256;

/// Why a dissection or selection is not allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DissectionError {
    /// The degree must be at least 2.
    #[error("a game's degree must be at least 2, got {0}")]
    BadDegree(u64),
    /// A range of fewer than two steps is proven, not dissected.
    #[error("range [{lo}, {hi}) has fewer than two steps")]
    TooShort {
        /// Start.
        lo: u64,
        /// End.
        hi: u64,
    },
    /// The segment index is past the last segment.
    #[error("segment {index} does not exist; there are {segments}")]
    NoSuchSegment {
        /// The index asked for.
        index: u64,
        /// How many segments there are.
        segments: u64,
    },
}

/// The number of segments `s = min(k, hi − lo)` of a dissection of `(lo, hi)`.
pub fn segment_count(lo: u64, hi: u64, degree: u64) -> Result<u64, DissectionError> {
    if degree < 2 {
        return Err(DissectionError::BadDegree(degree));
    }
    if hi < lo.saturating_add(2) {
        return Err(DissectionError::TooShort { lo, hi });
    }
    Ok(degree.min(hi - lo))
}

/// Point `p_i = lo + floor(i·(hi − lo)/s)` for `0 ≤ i ≤ s`.
fn point(lo: u64, hi: u64, s: u64, i: u64) -> u64 {
    lo + ((u128::from(i) * u128::from(hi - lo)) / u128::from(s)) as u64
}

/// The `s − 1` interior points at which the asserter posts roots.
pub fn dissection_points(lo: u64, hi: u64, degree: u64) -> Result<Vec<u64>, DissectionError> {
    let s = segment_count(lo, hi, degree)?;
    Ok((1..s).map(|i| point(lo, hi, s, i)).collect())
}

/// The step range `(p_j, p_{j+1})` of segment `j`.
pub fn segment(lo: u64, hi: u64, degree: u64, j: u64) -> Result<(u64, u64), DissectionError> {
    let s = segment_count(lo, hi, degree)?;
    if j >= s {
        return Err(DissectionError::NoSuchSegment { index: j, segments: s });
    }
    Ok((point(lo, hi, s, j), point(lo, hi, s, j + 1)))
}

/// The segment an honest challenger selects: the first whose end root differs from its own.
/// `posted` are the asserter's interior roots, `root_hi` the asserter's root at `hi`, and
/// `own_root_at(step)` the challenger's root after `step` steps. `None` if it agrees with every
/// end root (then the asserter's claim at `hi` is right and there is nothing to dispute).
pub fn first_disputed_segment(
    lo: u64,
    hi: u64,
    degree: u64,
    posted: &[B256],
    root_hi: B256,
    mut own_root_at: impl FnMut(u64) -> B256,
) -> Result<Option<u64>, DissectionError> {
    let s = segment_count(lo, hi, degree)?;
    for j in 0..s {
        let end = point(lo, hi, s, j + 1);
        let claimed = if j + 1 == s { root_hi } else { posted[j as usize] };
        if own_root_at(end) != claimed {
            return Ok(Some(j));
        }
    }
    Ok(None)
}

/// The most moves a game over `n` steps can take: `2·⌈log_k n⌉ + 1`.
pub fn max_moves(n: u64, degree: u64) -> u64 {
    let mut rounds = 0;
    let mut span = n;
    while span > 1 {
        span = span.div_ceil(degree);
        rounds += 1;
    }
    2 * rounds + 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn small_ranges() {
        assert_eq!(dissection_points(0, 2, 8), Ok(vec![1]));
        assert_eq!(dissection_points(0, 5, 8), Ok(vec![1, 2, 3, 4]));
        assert_eq!(dissection_points(0, 16, 8), Ok(vec![2, 4, 6, 8, 10, 12, 14]));
        assert_eq!(dissection_points(10, 27, 4), Ok(vec![14, 18, 22]));
        assert_eq!(segment(10, 27, 4, 3), Ok((22, 27)));
        assert_eq!(dissection_points(3, 4, 8), Err(DissectionError::TooShort { lo: 3, hi: 4 }));
        assert_eq!(dissection_points(0, 4, 1), Err(DissectionError::BadDegree(1)));
        assert_eq!(
            segment(0, 4, 2, 2),
            Err(DissectionError::NoSuchSegment { index: 2, segments: 2 })
        );
        assert_eq!(max_moves(1, 8), 1);
        assert_eq!(max_moves(1000, 8), 9);
    }

    proptest! {
        /// Segments tile the range, each is non-empty, and a game always narrows to one step
        /// within the move bound.
        #[test]
        fn segments_tile_the_range(lo in 0u64..1_000_000, len in 2u64..1_000_000, k in 2u64..20, pick in any::<u64>()) {
            let hi = lo + len;
            let s = segment_count(lo, hi, k)?;
            let mut at = lo;
            for j in 0..s {
                let (a, b) = segment(lo, hi, k, j)?;
                prop_assert_eq!(a, at);
                prop_assert!(b > a);
                at = b;
            }
            prop_assert_eq!(at, hi);
            let (mut l, mut h, mut moves) = (lo, hi, 1);
            while h - l > 1 {
                let s = segment_count(l, h, k)?;
                (l, h) = segment(l, h, k, pick % s)?;
                moves += 2;
            }
            prop_assert!(moves <= max_moves(len, k));
        }
    }
}
