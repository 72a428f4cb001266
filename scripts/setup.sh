#!/usr/bin/env bash
# Idempotent set-up of everything the runtime needs on a Debian machine; each step is
# skipped when already done. Needs root (or sudo) for the Docker engine and apt.
#   1. Python packages (pip install -e '.[dev]')
#   2. Docker engine: Debian's docker.io, started as `dockerd --bridge=none --iptables=false`
#   3. debootstrap (for the offline sandbox image)
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

# 1. Python packages -------------------------------------------------------------
stamp=".runtime/.pip-$(sha256sum pyproject.toml | cut -c1-16)"
if [ -f "$stamp" ] && python3 -c "import runtime.cli, langgraph, docker, chromadb, regopy" 2>/dev/null; then
  say "python packages: present"
else
  say "python packages: installing (pip install -e '.[dev]')"
  python3 -m pip install -q --disable-pip-version-check -e '.[dev]'
  mkdir -p .runtime && touch "$stamp"
fi

# 2. Docker engine ----------------------------------------------------------------
if ! command -v dockerd >/dev/null 2>&1; then
  say "docker engine: installing Debian's docker.io"
  apt_install docker.io
fi
if docker_ok=$(python3 -c "import docker; docker.from_env(timeout=5).ping()" 2>/dev/null && echo yes); [ "$docker_ok" = yes ]; then
  say "docker engine: answering"
else
  say "docker engine: starting dockerd --bridge=none --iptables=false"
  $SUDO mkdir -p /var/log
  $SUDO sh -c 'nohup dockerd --bridge=none --iptables=false >/var/log/agent-runtime-dockerd.log 2>&1 &'
  for _ in $(seq 1 60); do
    if python3 -c "import docker; docker.from_env(timeout=5).ping()" 2>/dev/null; then break; fi
    sleep 1
  done
  python3 -c "import docker; docker.from_env(timeout=5).ping()" || {
    say "docker engine did not answer within 60 s; see /var/log/agent-runtime-dockerd.log"; exit 1; }
  say "docker engine: answering"
fi

# 3. debootstrap -------------------------------------------------------------------
if ! command -v debootstrap >/dev/null 2>&1; then
  say "debootstrap: installing"
  apt_install debootstrap
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
