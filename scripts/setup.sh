#!/usr/bin/env bash
# Installs what Keel's build and tests need on a fresh Debian/Ubuntu machine with Rust and Node:
# the pinned L1 toolchain (anvil, forge, cast, solc-js) from npm into contracts/node_modules,
# PostgreSQL's server package, and headless Chromium for the status page test.
# Idempotent: does nothing that is already done.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

need() { command -v "$1" >/dev/null 2>&1 || { echo "setup: '$1' is not installed: $2" >&2; exit 1; }; }
need cargo "install Rust (https://rustup.rs)"
need node "install Node.js 20 or newer"
need npm "install npm (comes with Node.js)"

# PostgreSQL's server binaries (initdb, pg_ctl, postgres): the sequencer, the devnet and the
# tests start private clusters from them. Nothing runs as a system service.
have_pg() {
  [ -n "${KEEL_PG_BIN:-}" ] && [ -x "$KEEL_PG_BIN/initdb" ] && return 0
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && return 0
  command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]
}
if ! have_pg; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing PostgreSQL's server package (apt-get install postgresql)" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  else
    echo "setup: PostgreSQL's server binaries are missing: install them (e.g. 'sudo apt-get install postgresql')," >&2
    echo "       or set KEEL_PG_BIN to a folder holding initdb and pg_ctl" >&2
    exit 1
  fi
fi

# Headless Chromium (Debian's `chromium` package): the status page test loads the sequencer's
# page at / in it. Only that test needs it, so a missing one is reported, not fatal here; the
# test itself fails and points back to this script.
if [ ! -x /usr/bin/chromium ] && [ -z "${KEEL_CHROMIUM:-}" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing Chromium for the status page test (apt-get install chromium)" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "setup: /usr/bin/chromium is missing: the status page test needs it; install it" >&2
    echo "       (e.g. 'sudo apt-get install chromium'), or set KEEL_CHROMIUM to a Chromium binary" >&2
  fi
fi

# promtool (Debian's `prometheus` package): scripts/lint-deploy.sh checks the alert rules and
# runs their unit tests (deploy/prometheus/alerts.test.yml) with it.
if ! command -v promtool >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing promtool for the alert rule tests (apt-get install prometheus)" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  else
    echo "setup: promtool is missing: the alert rule tests need it; install it" >&2
    echo "       (e.g. 'sudo apt-get install prometheus')" >&2
  fi
fi

lock="$root/contracts/package-lock.json"
stamp="$root/contracts/node_modules/.keel-installed"
if [ ! -f "$stamp" ] || [ "$lock" -nt "$stamp" ]; then
  echo "setup: installing the pinned L1 toolchain (npm ci in contracts/)" >&2
  (cd "$root/contracts" && npm ci --no-audit --no-fund --loglevel=error)
  touch "$stamp"
fi
