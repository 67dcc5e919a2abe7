#!/usr/bin/env bash
# Builds the contracts and writes the artifacts the `keel-l1` crate compiles against
# (l1/artifacts/<Contract>.json: ABI and creation bytecode). They are committed so that
# `cargo build` needs no Node or forge; CI runs this with --check and fails if they are stale.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh"
(cd "$root/contracts" && node_modules/.bin/forge build --skip test --skip script >/dev/null)
out="$root/l1/artifacts"
[ "${1:-}" = "--check" ] && out="$(mktemp -d)"
mkdir -p "$out"
for c in Rollup Bridge ChallengeManager OneStepProver DevToken; do
  node -e '
    const fs = require("fs");
    const a = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
    const trimmed = { abi: a.abi, bytecode: { object: a.bytecode.object } };
    fs.writeFileSync(process.argv[2], JSON.stringify(trimmed, null, 1) + "\n");
  ' "$root/contracts/out/$c.sol/$c.json" "$out/$c.json"
done
if [ "${1:-}" = "--check" ]; then
  if ! diff -r "$out" "$root/l1/artifacts" >/dev/null; then
    echo "l1/artifacts are stale: run scripts/export-artifacts.sh and commit" >&2
    exit 1
  fi
  echo "l1/artifacts are up to date" >&2
fi
