//! The key store: named L1/L2 keys (the same secp256k1 key signs L1 transactions and L2
//! EIP-712 transactions) in `$KEEL_HOME/keys/<name>.key` (default `~/.keel`), written with
//! mode 0600. A key can also come from `KEEL_PRIVATE_KEY` without touching the disk.

use std::{
    io::Write,
    os::unix::fs::{OpenOptionsExt, PermissionsExt},
    path::PathBuf,
};

use alloy::signers::local::PrivateKeySigner;
use anyhow::{bail, Context};

/// Where keys live.
pub(crate) fn keys_dir() -> anyhow::Result<PathBuf> {
    let home = match std::env::var_os("KEEL_HOME") {
        Some(h) => PathBuf::from(h),
        None => {
            PathBuf::from(std::env::var_os("HOME").context("set HOME or KEEL_HOME")?).join(".keel")
        }
    };
    Ok(home.join("keys"))
}

fn check_name(name: &str) -> anyhow::Result<()> {
    if name.is_empty()
        || name.len() > 64
        || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        bail!("key name `{name}` must be 1-64 letters, digits, `-` or `_`");
    }
    Ok(())
}

fn path_of(name: &str) -> anyhow::Result<PathBuf> {
    check_name(name)?;
    Ok(keys_dir()?.join(format!("{name}.key")))
}

/// Parse a 0x-prefixed hex private key.
pub(crate) fn parse_key(hex: &str) -> anyhow::Result<PrivateKeySigner> {
    hex.trim().parse().map_err(|_| anyhow::anyhow!("a private key is 32 bytes of hex, 0x-prefixed"))
}

/// Save a key under `name`; refuses to overwrite.
pub(crate) fn save(name: &str, key: &PrivateKeySigner) -> anyhow::Result<PathBuf> {
    let path = path_of(name)?;
    let dir = keys_dir()?;
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).ok();
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| {
            format!("key `{name}` already exists at {} (choose another name)", path.display())
        })?;
    writeln!(f, "0x{}", alloy::hex::encode(key.to_bytes()))?;
    Ok(path)
}

/// Load the key named `name`.
pub(crate) fn load(name: &str) -> anyhow::Result<PrivateKeySigner> {
    let path = path_of(name)?;
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "no key `{name}` at {}: create it with `keel keys new {name}` or import one",
            path.display()
        )
    })?;
    let mode = std::fs::metadata(&path)?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        bail!(
            "{} is readable by others (mode {mode:o}); run `chmod 600 {}`",
            path.display(),
            path.display()
        );
    }
    parse_key(&text).with_context(|| format!("{} does not hold a private key", path.display()))
}

/// The names of stored keys with their addresses.
pub(crate) fn list() -> anyhow::Result<Vec<(String, alloy::primitives::Address)>> {
    let dir = keys_dir()?;
    let Ok(entries) = std::fs::read_dir(&dir) else { return Ok(vec![]) };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "key") {
            let name = p.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
            if let Ok(k) = load(&name) {
                out.push((name, k.address()));
            }
        }
    }
    out.sort();
    Ok(out)
}
