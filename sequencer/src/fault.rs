//! Fault injection for adversarial tests: a dishonest sequencer. Off by default, and refused
//! unless explicitly allowed on a local anvil ([`keel_l1::fault_guard`]), so a production
//! sequencer cannot be made dishonest by a stray variable.
//!
//! `KEEL_FAULT` holds a comma-separated list of faults:
//! - `wrong-root@B:S`: batch B's claimed roots diverge at step S (`first-inbox`,
//!   `first-transaction`, `middle`, `last` or a step number): `R_0 … R_S` are true, every root
//!   after is wrong, so the game ends with a one-step proof of step S.
//! - `bad-signature@B:VICTIM`: batch B is posted with one more record, a transfer of VICTIM's
//!   whole ETH balance to the sequencer whose signature does not recover, and the claimed roots
//!   apply it as if VICTIM had signed it (a theft).
//! - `double-deposit@B`: the claimed roots credit batch B's first deposit twice.
//! - `skip-forced-withdrawal@B`: the claimed roots skip batch B's first forced withdrawal.
//! - `silent-defender`: games against this sequencer are never answered.
//!
//! The ledger and the hot state stay honest: a fault only changes what is *claimed on L1* (the
//! posted records and root, and the roots the defender dissects with), once per batch. So after
//! the verifiers remove the batch, the sequencer re-posts it honestly and the chain goes on —
//! what an operator who fixed a bug would see.

use std::{collections::HashMap, str::FromStr};

use keel_core::{
    keys::{balance_key, nonce_key},
    smt::{NodeStore, TreeError},
    state::{BatchSteps, RootedState},
    stf::{apply_step, StateAccess, Step},
    tx::{Domain, PreparedRecord, Record, Signature, Transaction, TxKind},
    Address, InboxKind, B256, U256,
};
use keel_l1::fault_guard;
use parking_lot::Mutex;

use crate::chain::Chain;

/// The setting that lists the faults.
pub const FAULT_VAR: &str = "KEEL_FAULT";

/// Which step of a batch a wrong root diverges at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DivergeAt {
    /// The batch's first inbox entry (step 0).
    FirstInbox,
    /// The batch's first record (step `m`).
    FirstTransaction,
    /// Step `n / 2`.
    Middle,
    /// The last step `n − 1`.
    Last,
    /// A step by number.
    Step(u64),
}

/// One way to be dishonest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Claim wrong roots from a step of a batch on.
    WrongRoot {
        /// The batch.
        batch: u64,
        /// The first step whose post root is wrong.
        at: DivergeAt,
    },
    /// Post a forged record with a bad signature and claim it applied.
    BadSignature {
        /// The batch.
        batch: u64,
        /// Whose funds the forged transfer takes.
        victim: Address,
    },
    /// Claim a deposit credited twice.
    DoubleDeposit {
        /// The batch.
        batch: u64,
    },
    /// Claim a forced withdrawal skipped.
    SkipForcedWithdrawal {
        /// The batch.
        batch: u64,
    },
    /// Never answer a game.
    SilentDefender,
}

impl Fault {
    fn batch(&self) -> Option<u64> {
        match *self {
            Self::WrongRoot { batch, .. }
            | Self::BadSignature { batch, .. }
            | Self::DoubleDeposit { batch }
            | Self::SkipForcedWithdrawal { batch } => Some(batch),
            Self::SilentDefender => None,
        }
    }
}

/// Why a fault list does not parse.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{FAULT_VAR}: cannot read {0:?}: expected wrong-root@B:S, bad-signature@B:0xVICTIM, double-deposit@B, skip-forced-withdrawal@B or silent-defender")]
pub struct FaultSyntax(String);

impl FromStr for Fault {
    type Err = FaultSyntax;

    fn from_str(s: &str) -> Result<Self, FaultSyntax> {
        let bad = || FaultSyntax(s.to_owned());
        let (name, args) = s.split_once('@').unwrap_or((s, ""));
        let (batch, arg) = args.split_once(':').unwrap_or((args, ""));
        let batch = || batch.parse::<u64>().map_err(|_| bad());
        match name {
            "silent-defender" if args.is_empty() => Ok(Self::SilentDefender),
            "wrong-root" => {
                let at = match arg {
                    "first-inbox" => DivergeAt::FirstInbox,
                    "first-transaction" => DivergeAt::FirstTransaction,
                    "middle" => DivergeAt::Middle,
                    "last" => DivergeAt::Last,
                    n => DivergeAt::Step(n.parse().map_err(|_| bad())?),
                };
                Ok(Self::WrongRoot { batch: batch()?, at })
            }
            "bad-signature" => {
                Ok(Self::BadSignature { batch: batch()?, victim: arg.parse().map_err(|_| bad())? })
            }
            "double-deposit" if arg.is_empty() => Ok(Self::DoubleDeposit { batch: batch()? }),
            "skip-forced-withdrawal" if arg.is_empty() => {
                Ok(Self::SkipForcedWithdrawal { batch: batch()? })
            }
            _ => Err(bad()),
        }
    }
}

/// What a dishonest sequencer claims for a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    /// The records it posts.
    pub records: Vec<Record>,
    /// The roots `R_0 … R_n` it claims (`R_n` is the posted root).
    pub roots: Vec<B256>,
}

/// Why a claim cannot be made (the fault does not fit the batch).
#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    /// The batch lacks what the fault needs.
    #[error("fault {fault:?} does not fit batch {batch}: {why}")]
    DoesNotFit {
        /// The fault.
        fault: Fault,
        /// The batch.
        batch: u64,
        /// What is missing.
        why: &'static str,
    },
    /// The batch is not closed in this sequencer's chain.
    #[error("batch {0} is not closed in the chain")]
    NoSuchBatch(u64),
    /// The tree failed.
    #[error(transparent)]
    Tree(#[from] TreeError),
}

/// The faults this sequencer injects.
#[derive(Debug, Default)]
pub struct Faults {
    faults: Vec<Fault>,
    /// Who receives stolen funds.
    thief: Address,
    /// Batches already posted dishonestly (each is posted wrong once), with the header posted.
    posted: Mutex<HashMap<u64, PostedClaim>>,
}

/// What a dishonest posting put on L1 for a batch, so the poster recognizes it as its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PostedClaim {
    /// The tx root of the posted records.
    pub tx_root: B256,
    /// How many records were posted.
    pub tx_count: u64,
    /// The claimed post-state root.
    pub post_root: B256,
}

impl Faults {
    /// No faults.
    pub fn none() -> Self {
        Self::default()
    }

    /// Faults from the environment, checked against the L1 chain id. `thief` receives what a
    /// forged transfer takes.
    pub fn from_env(l1_chain_id: u64, thief: Address) -> anyhow::Result<Self> {
        Self::from_settings(
            std::env::var(FAULT_VAR).ok().as_deref(),
            std::env::var(fault_guard::ALLOW_VAR).ok().as_deref(),
            l1_chain_id,
            thief,
        )
    }

    /// Faults from the two settings, checked against the L1 chain id.
    pub fn from_settings(
        spec: Option<&str>,
        allow: Option<&str>,
        l1_chain_id: u64,
        thief: Address,
    ) -> anyhow::Result<Self> {
        let Some(spec) = spec.filter(|s| !s.trim().is_empty()) else { return Ok(Self::none()) };
        fault_guard::check_allowed(FAULT_VAR, allow, l1_chain_id)?;
        let faults =
            spec.split(',').map(|f| f.trim().parse()).collect::<Result<Vec<Fault>, _>>()?;
        tracing::warn!(?faults, "this sequencer is DISHONEST: fault injection is on");
        Ok(Self { faults, thief, posted: Mutex::new(HashMap::new()) })
    }

    /// Whether the defender must stay silent.
    pub fn silent_defender(&self) -> bool {
        self.faults.contains(&Fault::SilentDefender)
    }

    /// Whether batch `index` is still to be posted dishonestly.
    pub fn dishonest_posting_due(&self, index: u64) -> bool {
        self.fault_for(index).is_some() && !self.posted.lock().contains_key(&index)
    }

    /// Batch `index` was posted dishonestly with `claim`: post it honestly from now on.
    pub fn posted_dishonestly(&self, index: u64, claim: PostedClaim) {
        self.posted.lock().insert(index, claim);
    }

    /// What batch `index` was posted dishonestly with, if it was.
    pub fn posted_claim(&self, index: u64) -> Option<PostedClaim> {
        self.posted.lock().get(&index).copied()
    }

    fn fault_for(&self, index: u64) -> Option<Fault> {
        self.faults.iter().copied().find(|f| f.batch() == Some(index))
    }

    /// The dishonest claim for batch `index` with its ledger `records`, or `None` if no fault
    /// targets it.
    pub fn claim(
        &self,
        chain: &Chain,
        index: u64,
        records: &[Record],
    ) -> Result<Option<Claim>, ClaimError> {
        let Some(fault) = self.fault_for(index) else { return Ok(None) };
        let batch = chain
            .batches()
            .get(index as usize)
            .filter(|b| b.post_root.is_some())
            .ok_or(ClaimError::NoSuchBatch(index))?;
        let steps = BatchSteps {
            entries: chain.inbox_entries(batch.inbox_start, batch.inbox_end),
            records: chain.domain().prepare_all(records),
        };
        let theft = match fault {
            Fault::BadSignature { victim, .. } => Some(Theft { victim, thief: self.thief }),
            _ => None,
        };
        let (roots, forged) = claimed_roots(
            chain.domain(),
            chain.state().tree().store(),
            batch.pre_root,
            &steps,
            fault,
            index,
            theft,
        )?;
        let mut records = records.to_vec();
        records.extend(forged);
        Ok(Some(Claim { records, roots }))
    }
}

/// A forged transfer: everything `victim` holds in ETH, to `thief`.
#[derive(Clone, Copy, Debug)]
struct Theft {
    victim: Address,
    thief: Address,
}

/// `tx` with a well-formed signature that recovers no key: the smallest `r` that is not the
/// x-coordinate of a curve point for this digest. Under the true STF the record is a no-op.
fn bad_signature_record(domain: &Domain, tx: &Transaction) -> Record {
    let mut r = U256::from(1u64);
    loop {
        let sig =
            Signature { r: B256::from(r.to_be_bytes::<32>()), s: B256::with_last_byte(1), v: 27 };
        if domain.recover(tx, &sig).is_err() {
            return Record::encode(tx, &sig);
        }
        r += U256::from(1u64);
    }
}

/// Replay a batch with `fault` and return the claimed `R_0 … R_n`.
/// With a theft, also the forged record (appended after the batch's records).
fn claimed_roots<S: NodeStore>(
    domain: &Domain,
    store: S,
    pre_root: B256,
    steps: &BatchSteps,
    fault: Fault,
    batch: u64,
    theft: Option<Theft>,
) -> Result<(Vec<B256>, Option<Record>), ClaimError> {
    let config = domain.config();
    let does_not_fit = |why| ClaimError::DoesNotFit { fault, batch, why };
    let first_of = |kind| steps.entries.iter().position(|e| e.kind == kind);
    let twice = match fault {
        Fault::DoubleDeposit { .. } => {
            Some(first_of(InboxKind::Deposit).ok_or(does_not_fit("it has no deposit"))?)
        }
        _ => None,
    };
    let skip = match fault {
        Fault::SkipForcedWithdrawal { .. } => Some(
            first_of(InboxKind::ForcedWithdrawal)
                .ok_or(does_not_fit("it has no forced withdrawal"))?,
        ),
        _ => None,
    };
    let mut state = RootedState::new(store, pre_root);
    let mut roots = vec![pre_root];
    for (k, step) in steps.steps().enumerate() {
        if skip != Some(k) {
            apply_step(config, step, &mut state)?;
        }
        if twice == Some(k) {
            apply_step(config, step, &mut state)?;
        }
        roots.push(state.commit()?);
    }
    let mut forged = None;
    if let Some(Theft { victim, thief }) = theft {
        // A transfer of all the victim's ETH, applied as if the victim had signed it.
        let balance = U256::from_be_bytes(state.read(balance_key(&victim, &Address::ZERO))?.0);
        let nonce = U256::from_be_bytes(state.read(nonce_key(&victim))?.0);
        let amount = u128::try_from(balance).unwrap_or(u128::MAX);
        if amount == 0 {
            return Err(does_not_fit("the victim has no ETH on L2"));
        }
        let tx = Transaction {
            kind: TxKind::Transfer,
            to: thief,
            token: Address::ZERO,
            amount,
            fee: 0,
            nonce: nonce.saturating_to(),
        };
        let record = bad_signature_record(domain, &tx);
        let as_signed = PreparedRecord { record, sender: Ok((tx, victim)) };
        apply_step(config, Step::Record(&as_signed), &mut state)?;
        roots.push(state.commit()?);
        forged = Some(record);
    }
    if let Fault::WrongRoot { at, .. } = fault {
        let n = steps.len() as u64;
        let s = match at {
            DivergeAt::FirstInbox if !steps.entries.is_empty() => 0,
            DivergeAt::FirstInbox => return Err(does_not_fit("it consumes no inbox entry")),
            DivergeAt::FirstTransaction if !steps.records.is_empty() => steps.entries.len() as u64,
            DivergeAt::FirstTransaction => return Err(does_not_fit("it has no transaction")),
            DivergeAt::Middle => n / 2,
            DivergeAt::Last => n.saturating_sub(1),
            DivergeAt::Step(s) if s < n => s,
            DivergeAt::Step(_) => return Err(does_not_fit("the step is past its end")),
        };
        for root in &mut roots[(s + 1) as usize..] {
            *root = keel_core::keccak256([root.as_slice(), b"keel-fault"].concat());
        }
    }
    Ok((roots, forged))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_are_refused_unless_allowed_and_on_a_local_chain() {
        let local = fault_guard::LOCAL_CHAIN_ID;
        let ok = Some(fault_guard::CONSENT);
        let thief = Address::repeat_byte(9);
        assert!(Faults::from_settings(None, None, 1, thief).expect("no fault").faults.is_empty());
        assert!(Faults::from_settings(Some("silent-defender"), None, local, thief).is_err());
        assert!(Faults::from_settings(Some("silent-defender"), Some("yes"), local, thief).is_err());
        assert!(Faults::from_settings(Some("silent-defender"), ok, 1, thief).is_err());
        assert!(Faults::from_settings(Some("wrong-root@x:last"), ok, local, thief).is_err());
        assert!(Faults::from_settings(Some("nonsense"), ok, local, thief).is_err());
        let f = Faults::from_settings(Some("wrong-root@1:last, silent-defender"), ok, local, thief)
            .expect("allowed");
        assert!(f.silent_defender());
        assert!(!f.dishonest_posting_due(0), "batch 0 is honest");
        assert!(f.dishonest_posting_due(1), "batch 1 is posted wrong");
        let claim =
            PostedClaim { tx_root: B256::ZERO, tx_count: 0, post_root: B256::repeat_byte(1) };
        f.posted_dishonestly(1, claim);
        assert!(!f.dishonest_posting_due(1), "once");
        assert_eq!(f.posted_claim(1), Some(claim));
        assert_eq!(f.posted_claim(0), None);
    }

    /// A batch of a deposit to A, a forced withdrawal by A and a transfer A → B.
    fn batch() -> (Domain, BatchSteps, Address) {
        use keel_core::tx::{address_of, SecretKey};
        let domain = Domain::new(keel_core::ChainConfig {
            l2_chain_id: 7,
            rollup_address: Address::repeat_byte(1),
            fee_recipient: Address::repeat_byte(2),
        });
        let key = SecretKey::from_byte_array([3; 32]).expect("key");
        let a = address_of(&key);
        let entry = |kind, amount| keel_core::InboxEntry {
            kind,
            sender: a,
            recipient: a,
            token: Address::ZERO,
            amount,
        };
        let transfer = Transaction {
            kind: TxKind::Transfer,
            to: Address::repeat_byte(0xB),
            token: Address::ZERO,
            amount: 5,
            fee: 1,
            nonce: 0,
        };
        let steps = BatchSteps {
            entries: vec![entry(InboxKind::Deposit, 100), entry(InboxKind::ForcedWithdrawal, 10)],
            records: vec![domain.prepare(domain.sign(&transfer, &key))],
        };
        (domain, steps, a)
    }

    /// The first `k` whose claimed `R_k` differs from the true one.
    fn first_wrong_root(fault: Fault) -> (usize, usize, Option<Record>) {
        use keel_core::{smt::MemoryNodeStore, state::step_roots};
        let (domain, steps, a) = batch();
        let store = MemoryNodeStore::default();
        let honest = step_roots(domain.config(), &store, B256::ZERO, &steps).expect("replay");
        let theft = match fault {
            Fault::BadSignature { victim, .. } => Some(Theft { victim, thief: a }),
            _ => None,
        };
        let (claimed, forged) =
            claimed_roots(&domain, &store, B256::ZERO, &steps, fault, 0, theft).expect("claim");
        let k = (0..claimed.len()).find(|&k| honest.get(k) != Some(&claimed[k])).expect("a lie");
        (k, claimed.len(), forged)
    }

    #[test]
    fn claims_diverge_exactly_where_the_fault_says() {
        let wrong = |at| first_wrong_root(Fault::WrongRoot { batch: 0, at }).0;
        // Steps: 0 deposit, 1 forced withdrawal, 2 transfer; R_k is the root after step k − 1.
        assert_eq!(wrong(DivergeAt::FirstInbox), 1);
        assert_eq!(wrong(DivergeAt::FirstTransaction), 3);
        assert_eq!(wrong(DivergeAt::Middle), 2);
        assert_eq!(wrong(DivergeAt::Last), 3);
        assert_eq!(first_wrong_root(Fault::DoubleDeposit { batch: 0 }).0, 1);
        assert_eq!(first_wrong_root(Fault::SkipForcedWithdrawal { batch: 0 }).0, 2);
    }

    #[test]
    fn a_theft_appends_a_record_whose_signature_does_not_recover() {
        let (domain, _, a) = batch();
        let (k, len, forged) = first_wrong_root(Fault::BadSignature { batch: 0, victim: a });
        assert_eq!((k, len), (4, 5), "the true roots, then one for the forged record");
        let forged = forged.expect("a forged record");
        assert_eq!(
            domain.prepare(forged).sender.map(|_| ()),
            Err(keel_core::tx::RecordError::RecoveryFailed),
            "under the true STF the forged record is a no-op"
        );
    }

    #[test]
    fn every_fault_parses() {
        let victim: Address = "0x00000000000000000000000000000000000000aa".parse().expect("addr");
        assert_eq!(
            "wrong-root@2:first-inbox".parse(),
            Ok(Fault::WrongRoot { batch: 2, at: DivergeAt::FirstInbox })
        );
        assert_eq!(
            "wrong-root@2:7".parse(),
            Ok(Fault::WrongRoot { batch: 2, at: DivergeAt::Step(7) })
        );
        assert_eq!(
            format!("bad-signature@1:{victim}").parse(),
            Ok(Fault::BadSignature { batch: 1, victim })
        );
        assert_eq!("double-deposit@0".parse(), Ok(Fault::DoubleDeposit { batch: 0 }));
        assert_eq!(
            "skip-forced-withdrawal@3".parse(),
            Ok(Fault::SkipForcedWithdrawal { batch: 3 })
        );
        assert!("double-deposit@0:x".parse::<Fault>().is_err());
        assert!("silent-defender@1".parse::<Fault>().is_err());
    }
}
