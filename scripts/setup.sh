#!/usr/bin/env bash
# Installs what Keel's build and tests need on a fresh Debian/Ubuntu machine with Rust and Node:
# the pinned L1 toolchain (anvil, forge, cast, solc-js) from npm into contracts/node_modules.
# Idempotent: does nothing that is already done.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

need() { command -v "$1" >/dev/null 2>&1 || { echo "setup: '$1' is not installed: $2" >&2; exit 1; }; }
need cargo "install Rust (https://rustup.rs)"
need node "install Node.js 20 or newer"
need npm "install npm (comes with Node.js)"

lock="$root/contracts/package-lock.json"
stamp="$root/contracts/node_modules/.keel-installed"
if [ ! -f "$stamp" ] || [ "$lock" -nt "$stamp" ]; then
  echo "setup: installing the pinned L1 toolchain (npm ci in contracts/)" >&2
  (cd "$root/contracts" && npm ci --no-audit --no-fund --loglevel=error)
  touch "$stamp"
fi
