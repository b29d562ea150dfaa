#!/usr/bin/env bash
# Run every test of the project: install the real peers the tests talk to, then
# format check, clippy with warnings denied, the library docs with warnings denied, a build of
# the downstream crate (examples/downstream), and the whole workspace's tests.
# Tests that need a peer fail (never skip) when it is missing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install-peers.sh
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# The library crates' docs as docs.rs builds them (every feature), warnings denied.
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --all-features --locked \
    -p isns-proto -p slp-proto -p ipmi-iscsi -p boot-config-core -p iscsi-probe
# The library crates as a dependent outside the workspace gets them: default features (no
# async runtime), then with every crate's `tokio` feature. Not --locked: its Cargo.lock only
# seeds the resolution, which follows the library crates' own dependencies as they change.
cargo build --manifest-path examples/downstream/Cargo.toml --target-dir target/downstream
cargo build --manifest-path examples/downstream/Cargo.toml --target-dir target/downstream \
    --features tokio
cargo test --workspace --locked
