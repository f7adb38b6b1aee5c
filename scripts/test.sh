#!/usr/bin/env bash
# The project's test command (README "Run the tests"): Rust unit, integration, doc and
# sqllogictest suites, the privacy evaluation on a reduced set, then the Python cross-checks
# against fitdecode, pyarrow and an S3-compatible server (moto).
# Needs ../shared beside the checkout and the Python packages of tests/python/requirements.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
# `cargo test` also builds target/debug/datamin (with the same features: no second build).
cargo test --workspace
# Privacy evaluation on a reduced set (the full numbers are in README.md).
target/debug/datamin evaluate --subjects 20 --activities 10
DATAMIN_BIN="$PWD/target/debug/datamin" python3 -m pytest -q tests/python
