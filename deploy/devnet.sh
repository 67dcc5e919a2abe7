#!/usr/bin/env bash
# One command for a complete local Keel: installs what is missing (the pinned L1 toolchain,
# PostgreSQL's server package when absent), builds the `keel` binary, and runs `keel devnet`:
# a private Postgres cluster, anvil, the deployed contracts, a sequencer, and funded dev
# accounts. Ctrl-C stops everything; running it again starts fresh. Extra arguments go to
# `keel devnet` (see `keel devnet --help`).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh"
cd "$root"
cargo build --quiet -p keel-cli --bin keel
exec "$root/target/debug/keel" devnet "$@"
