#!/usr/bin/env bash
# The project's test command (README "Run the tests"): Rust unit, integration, doc and
# sqllogictest suites, then the Python cross-checks against fitdecode and pyarrow.
# Needs ../shared beside the checkout and the Python packages of tests/python/requirements.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
# `cargo test` also builds target/debug/datamin (with the same features: no second build).
cargo test --workspace
DATAMIN_BIN="$PWD/target/debug/datamin" python3 -m pytest -q tests/python
# Privacy evaluation on a reduced set (the full numbers are in README.md).
target/debug/datamin evaluate --subjects 20 --activities 10
