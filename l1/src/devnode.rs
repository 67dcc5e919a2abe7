//! Starting the pinned anvil (from `contracts/node_modules`, installed by `scripts/setup.sh`) for
//! tests and the devnet. Set `KEEL_ANVIL` to use another binary.

use std::path::PathBuf;

use alloy::node_bindings::{Anvil, AnvilInstance};

use crate::L1Error;

/// The anvil binary: `$KEEL_ANVIL`, else the pinned one in this checkout, else `anvil` on PATH.
pub fn anvil_path() -> PathBuf {
    if let Some(p) = std::env::var_os("KEEL_ANVIL") {
        return PathBuf::from(p);
    }
    let pinned =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../contracts/node_modules/.bin/anvil");
    if pinned.exists() {
        return pinned;
    }
    PathBuf::from("anvil")
}

/// Start anvil on a free port with its ten funded dev accounts; it stops when dropped.
pub fn spawn_anvil(extra_args: &[&str]) -> Result<AnvilInstance, L1Error> {
    let path = anvil_path();
    Anvil::new().path(&path).args(extra_args.iter().copied()).try_spawn().map_err(|e| {
        L1Error::Decode(format!(
            "cannot start anvil at {} ({e}); run scripts/setup.sh or set KEEL_ANVIL",
            path.display()
        ))
    })
}

/// Start anvil on a given port (0 picks a free one) with `extra_args`; it stops when dropped.
pub fn spawn_anvil_on(port: u16, extra_args: &[&str]) -> Result<AnvilInstance, L1Error> {
    let path = anvil_path();
    Anvil::new().path(&path).port(port).args(extra_args.iter().copied()).try_spawn().map_err(|e| {
        L1Error::Decode(format!(
            "cannot start anvil at {} on port {port} ({e}); is the port free? run scripts/setup.sh or set KEEL_ANVIL",
            path.display()
        ))
    })
}

/// Deploy a [`DevToken`](crate::bindings::DevToken) (a mintable ERC-20 for devnets and tests)
/// from `provider`'s account; returns its address.
pub async fn deploy_dev_token(
    provider: &alloy::providers::DynProvider,
    name: &str,
    symbol: &str,
) -> Result<alloy::primitives::Address, L1Error> {
    let token =
        crate::bindings::DevToken::deploy(provider.clone(), name.to_owned(), symbol.to_owned())
            .await?;
    Ok(*token.address())
}

/// Mint `amount` of the dev token at `token` to `to`, sent from `provider`'s account.
pub async fn mint_dev_token(
    provider: &alloy::providers::DynProvider,
    token: alloy::primitives::Address,
    to: alloy::primitives::Address,
    amount: alloy::primitives::U256,
) -> Result<(), L1Error> {
    let token = crate::bindings::DevToken::new(token, provider.clone());
    crate::client::confirm(token.mint(to, amount).send().await?).await?;
    Ok(())
}
