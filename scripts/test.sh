#!/usr/bin/env bash
# The project's test command (README "Run the tests"): Rust unit, integration, doc and
# sqllogictest suites, clippy, the privacy evaluation on a reduced set, then the Python
# cross-checks against fitdecode, pyarrow, h3 and an S3-compatible server (moto).
#
# Needs ../shared beside the checkout. The Python packages of tests/python/requirements.txt
# are installed into a virtual environment of the checkout (.venv), created on first use and
# reused afterwards (re-installed when requirements.txt changes).
set -euo pipefail
cd "$(dirname "$0")/.."
test -d ../shared/data || { echo "error: ../shared/data missing (the tests read the shared files)" >&2; exit 2; }

venv=.venv
stamp="$venv/.requirements.sha256"
want=$(sha256sum tests/python/requirements.txt | cut -d' ' -f1)
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "== setting up $venv (Python test dependencies)"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt
  echo "$want" > "$stamp"
fi

# `cargo test --workspace` also builds target/debug/datamin and target/debug/datamin-eval
# (with the same features: no second build).
cargo test --workspace
cargo clippy --workspace --all-targets -- -D warnings
# Public docs build without a warning (no broken links).
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --workspace --quiet
# The `hdfs` feature (no HDFS cluster here): it builds, lints clean, and parses hdfs:// URLs.
# It changes no feature of a shared crate, so this rebuilds only datamin and the HDFS client.
cargo clippy --all-targets --features hdfs -- -D warnings
cargo test --lib --features hdfs -- store::
# Privacy evaluation on a reduced set (the full numbers are in README.md).
target/debug/datamin-eval --subjects 20 --activities 10
DATAMIN_BIN="$PWD/target/debug/datamin" "$venv/bin/python" -m pytest -q tests/python
