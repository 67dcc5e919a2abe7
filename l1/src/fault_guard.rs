//! The guard every fault injection of Keel's services passes through. Fault injection makes a
//! service dishonest on purpose (for adversarial tests), so it must be impossible to switch on
//! by accident: it needs an explicit consent value, and it is refused on any L1 but a local
//! anvil, so a stray variable on a production machine makes the service refuse to start instead
//! of breaking a real chain.

/// The only L1 on which faults may be injected: anvil's default chain id.
pub const LOCAL_CHAIN_ID: u64 = 31_337;

/// The environment variable that must hold [`CONSENT`] for any fault to be accepted.
pub const ALLOW_VAR: &str = "KEEL_ALLOW_FAULT_INJECTION";

/// The exact value [`ALLOW_VAR`] must hold.
pub const CONSENT: &str = "yes-break-my-chain";

/// Why a fault injection was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum FaultRefused {
    /// The consent variable is missing or holds something else.
    #[error(
        "{what} is set but fault injection is not allowed (it makes this service dishonest; \
         set {ALLOW_VAR}={CONSENT} on a test chain)"
    )]
    NotAllowed {
        /// The setting that asked for a fault.
        what: String,
    },
    /// The L1 is not a local anvil.
    #[error("fault injection is refused on L1 chain {0}: only a local anvil ({LOCAL_CHAIN_ID}) allows it")]
    NotLocal(u64),
}

/// Accept a fault asked for by setting `what` only with explicit consent on a local anvil.
pub fn check_allowed(
    what: &str,
    allow: Option<&str>,
    l1_chain_id: u64,
) -> Result<(), FaultRefused> {
    if allow != Some(CONSENT) {
        return Err(FaultRefused::NotAllowed { what: what.to_owned() });
    }
    if l1_chain_id != LOCAL_CHAIN_ID {
        return Err(FaultRefused::NotLocal(l1_chain_id));
    }
    tracing::warn!(setting = what, "FAULT INJECTION ON: this service will behave dishonestly");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_need_consent_and_a_local_chain() {
        assert!(check_allowed("X", None, LOCAL_CHAIN_ID).is_err());
        assert!(check_allowed("X", Some("yes"), LOCAL_CHAIN_ID).is_err());
        assert_eq!(check_allowed("X", Some(CONSENT), 1), Err(FaultRefused::NotLocal(1)));
        assert!(check_allowed("X", Some(CONSENT), LOCAL_CHAIN_ID).is_ok());
    }
}
