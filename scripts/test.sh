#!/usr/bin/env bash
# Runs every Keel test: the Rust workspace (unit, property and vector tests) and the forge tests
# of the contracts (including the differential test over tests/vectors). Installs what is missing.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh"

cd "$root"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
else
  cargo test --workspace --no-fail-fast
fi

cd "$root/contracts"
node_modules/.bin/forge test
