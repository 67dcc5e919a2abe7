//! Fault injection for adversarial tests: a dishonest challenger. Off by default, and refused
//! unless explicitly allowed on a local anvil ([`keel_l1::fault_guard`]), so a production
//! verifier cannot be made dishonest by a stray variable.
//!
//! `KEEL_FAULT` holds one fault:
//! - `challenge-agreed@B`: bond against batch B although this verifier agrees with it, select the
//!   first segment of every dissection, and never prove (there is nothing false to prove), so
//!   the game ends by its timeout and the bond goes to the asserter.
//! - `silent-challenger`: challenge the disputed batch as usual, then never move (a challenger
//!   colluding with a dishonest sequencer, hoping to block honest ones).

use std::str::FromStr;

use keel_l1::fault_guard;

/// The setting that names the fault.
pub const FAULT_VAR: &str = "KEEL_FAULT";

/// How this challenger cheats.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ChallengerFault {
    /// Honest.
    #[default]
    None,
    /// Challenge batch `batch`, which it agrees with.
    ChallengeAgreed {
        /// The batch index.
        batch: u64,
    },
    /// Challenge, then never move.
    Silent,
}

/// Why the fault setting does not parse.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{FAULT_VAR}: cannot read {0:?}: expected challenge-agreed@B or silent-challenger")]
pub struct FaultSyntax(String);

impl FromStr for ChallengerFault {
    type Err = FaultSyntax;

    fn from_str(s: &str) -> Result<Self, FaultSyntax> {
        match s.trim().split_once('@') {
            None if s.trim() == "silent-challenger" => Ok(Self::Silent),
            Some(("challenge-agreed", batch)) => Ok(Self::ChallengeAgreed {
                batch: batch.parse().map_err(|_| FaultSyntax(s.to_owned()))?,
            }),
            _ => Err(FaultSyntax(s.to_owned())),
        }
    }
}

impl ChallengerFault {
    /// The fault from the environment, checked against the L1 chain id.
    pub fn from_env(l1_chain_id: u64) -> anyhow::Result<Self> {
        Self::from_settings(
            std::env::var(FAULT_VAR).ok().as_deref(),
            std::env::var(fault_guard::ALLOW_VAR).ok().as_deref(),
            l1_chain_id,
        )
    }

    /// The fault from the two settings, checked against the L1 chain id.
    pub fn from_settings(
        spec: Option<&str>,
        allow: Option<&str>,
        l1_chain_id: u64,
    ) -> anyhow::Result<Self> {
        let Some(spec) = spec.filter(|s| !s.trim().is_empty()) else { return Ok(Self::None) };
        fault_guard::check_allowed(FAULT_VAR, allow, l1_chain_id)?;
        let fault = spec.parse()?;
        tracing::warn!(?fault, "this verifier is a DISHONEST challenger: fault injection is on");
        Ok(fault)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_are_refused_unless_allowed_and_on_a_local_chain() {
        let local = fault_guard::LOCAL_CHAIN_ID;
        let ok = Some(fault_guard::CONSENT);
        assert_eq!(
            ChallengerFault::from_settings(None, None, 1).expect("none"),
            ChallengerFault::None
        );
        assert!(ChallengerFault::from_settings(Some("silent-challenger"), None, local).is_err());
        assert!(ChallengerFault::from_settings(Some("silent-challenger"), ok, 1).is_err());
        assert_eq!(
            ChallengerFault::from_settings(Some("silent-challenger"), ok, local).expect("ok"),
            ChallengerFault::Silent
        );
        assert_eq!(
            ChallengerFault::from_settings(Some("challenge-agreed@3"), ok, local).expect("ok"),
            ChallengerFault::ChallengeAgreed { batch: 3 }
        );
        assert!(ChallengerFault::from_settings(Some("challenge-agreed@x"), ok, local).is_err());
        assert!(ChallengerFault::from_settings(Some("other"), ok, local).is_err());
    }
}
