#!/usr/bin/env bash
# Set up (idempotent), then run the whole suite: lint, types, Rego, unit, integration,
# conformance and hostile tests against the real Docker engine, OPA server and Chroma.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# shellcheck disable=SC1091
source "${RUNTIME_VENV:-$PWD/.venv}/bin/activate"
export PATH="$PATH:$(go env GOPATH 2>/dev/null || echo "$HOME/go")/bin"
ruff format --check .
ruff check .
mypy
runtime policy test
python -m pytest "$@"
