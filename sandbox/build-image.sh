#!/bin/sh
# Build the agent-runtime sandbox image.
#   sandbox/build-image.sh               offline: debootstrap (cached) + docker import
#   sandbox/build-image.sh --force       rebuild even if the tag exists
#   sandbox/build-image.sh --dockerfile  build sandbox/Dockerfile (needs a registry)
# Prints the image tag and its id. The recipe lives in runtime/sandbox/image.py.
set -eu
here=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
cd "$here"
exec "${PYTHON:-python3}" -m runtime.sandbox.image "$@"
