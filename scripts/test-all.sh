#!/usr/bin/env bash
# Every test the project has, in order: the Rust workspace tests, then the black-box
# conformance suite (the clouds' official Python SDKs against the real havipd binary).
# Exits non-zero as soon as either fails.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$(pwd)"

echo "==> cargo test --workspace"
cargo test --workspace

echo "==> cargo build -p havipd"
cargo build -p havipd

VENV="$ROOT/.venv"
if [ ! -x "$VENV/bin/python" ]; then
    echo "==> creating $VENV"
    python3 -m venv "$VENV"
fi
echo "==> pip install -r conformance/requirements.txt"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r conformance/requirements.txt

export HAVIPD_BIN="${HAVIPD_BIN:-$ROOT/target/debug/havipd}"
echo "==> pytest conformance (havipd: $HAVIPD_BIN)"
"$VENV/bin/python" -m pytest conformance -q --timeout=120 -p no:cacheprovider
