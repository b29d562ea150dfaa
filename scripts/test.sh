#!/usr/bin/env bash
# Run every test of the project: install the real peers the tests talk to, then
# format check, clippy with warnings denied, the library docs with warnings denied, and the
# whole workspace's tests.
# Tests that need a peer fail (never skip) when it is missing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install-peers.sh
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# The library crates' docs as docs.rs builds them (every feature), warnings denied.
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --all-features --locked \
    -p isns-proto -p slp-proto -p ipmi-iscsi -p boot-config-core -p iscsi-probe
cargo test --workspace --locked
