#!/usr/bin/env bash
# Regenerate docs/benchmarks.md and docs/benchmarks.json: every figure, on this machine, in one go.
#
#   bash scripts/bench.sh
#
# Stages (outputs in target/bench/, then `keel-bench report` fills docs/benchmarks.template.md):
#   1. release build of the sequencer, the verifier and the harness;
#   2. core micro-benchmarks (`cargo bench -p keel-core --bench core`, medians of 5 runs each);
#   3. L1 gas from forge tests on the real contracts (deterministic: one run);
#   4. Postgres group commits alone (`keel-bench pg`, medians of 3 runs);
#   5. verifier replay of 1,000,000 transfers (`keel-bench replay`, medians of 3 runs);
#   6. end to end, side by side with anvil, with the verifier (`keel-bench e2e`, medians of 3 runs).
# The load average is recorded around every stage: other work on the machine skews timings, and
# the report says how loaded it was.
#
# Environment: KEEL_BENCH_E2E_ARGS, KEEL_BENCH_REPLAY_ARGS, KEEL_BENCH_PG_ARGS override the
# stages' arguments (e.g. KEEL_BENCH_REPLAY_ARGS="--transfers 100000 --runs 1" for a quick look).
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=target/bench
mkdir -p "$OUT"
E2E_ARGS=${KEEL_BENCH_E2E_ARGS:---transfers 20000 --accounts 1000 --concurrency 128 --runs 3}
REPLAY_ARGS=${KEEL_BENCH_REPLAY_ARGS:---transfers 1000000 --accounts 10000 --runs 3}
PG_ARGS=${KEEL_BENCH_PG_ARGS:---runs 3}

load() { cut -d' ' -f1-3 /proc/loadavg | sed 's/ /, /g'; }
stage() {
  echo "== $1 (load average: $(load))" >&2
  printf '"%s": [%s],\n' "$1" "$(load)" >>"$OUT/load.partial"
}
: >"$OUT/load.partial"
START_LOAD=$(load)

stage build
cargo build --release -p keel-sequencer -p keel-verifier -p keel-bench

stage core
cargo bench -p keel-core --bench core >"$OUT/core.txt"

stage gas
(
  cd contracts
  node_modules/.bin/forge test -vv \
    --match-test "test_proveStep_vectors_succeeds|test_proveStep_deepTree_succeeds|test_appendBatch_100Records_succeeds|test_appendBatch_1000Records_succeeds"
) >"$OUT/forge-vv.txt"
(
  cd contracts
  node_modules/.bin/forge test --isolate --gas-report \
    --match-test "test_appendBatch_100Records_succeeds|test_appendBatch_1000Records_succeeds|test_depositETH|test_depositERC20|test_finalizeWithdrawal"
) >"$OUT/forge-gas-report.txt"

BENCH=target/release/keel-bench
stage pg
# shellcheck disable=SC2086 # the arguments are meant to split
$BENCH pg $PG_ARGS --out "$OUT/pg.json" >/dev/null
stage replay
# shellcheck disable=SC2086
$BENCH replay $REPLAY_ARGS --out "$OUT/replay.json" >/dev/null
stage e2e
# shellcheck disable=SC2086
$BENCH e2e $E2E_ARGS --out "$OUT/e2e.json" >/dev/null

{
  echo "{"
  cat "$OUT/load.partial"
  printf '"start": [%s],\n"end": [%s]\n}\n' "$START_LOAD" "$(load)"
} >"$OUT/load.json"

$BENCH report --dir "$OUT" \
  --command "bash scripts/bench.sh  # e2e: $E2E_ARGS; replay: $REPLAY_ARGS; pg: $PG_ARGS" >/dev/null
echo "wrote docs/benchmarks.md and docs/benchmarks.json" >&2
