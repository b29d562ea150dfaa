#!/usr/bin/env bash
# Run every test of the project: install the real peers the tests talk to, then
# format check, clippy with warnings denied, and the whole workspace's tests.
# Tests that need a peer fail (never skip) when it is missing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install-peers.sh
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
