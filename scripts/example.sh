#!/usr/bin/env bash
# Set up (idempotent) and run the example task with the `analyst` team.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# shellcheck disable=SC1091
source "${RUNTIME_VENV:-$PWD/.venv}/bin/activate"
runtime exec "Rank our sales regions by revenue and write a short report" --team analyst "$@"
