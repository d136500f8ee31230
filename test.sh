#!/usr/bin/env bash
# Runs every test of the workspace on a fresh machine: installs what is missing
# (redis-server, Node packages), checks formatting, lints and docs, then runs the Rust
# tests, which include the interop tests against real Node BullMQ 5 and 6.
set -euo pipefail
cd "$(dirname "$0")"

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v redis-server >/dev/null 2>&1; then
  echo "==> installing redis-server"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
fi
if ! command -v openssl >/dev/null 2>&1; then
  echo "==> installing openssl (test certificates for the TLS tests)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl >/dev/null
fi
if [ ! -d /usr/share/zoneinfo ]; then
  echo "==> installing tzdata (time zones of the job scheduler tests)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tzdata >/dev/null
fi
if ! command -v node >/dev/null 2>&1; then
  echo "==> installing Node.js"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi

echo "==> npm ci (node-worker-compat: BullMQ 6.7.0 and 5.79.0)"
(cd node-worker-compat && npm ci --no-audit --no-fund --loglevel=error)

echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "==> cargo doc"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked --quiet

echo "==> tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
else
  cargo test --workspace --locked --no-fail-fast --lib --bins --tests --examples
fi
cargo test --workspace --locked --doc

echo "==> Node tests (invoice worker, POC listener)"
(cd node-worker-compat && npm test)
