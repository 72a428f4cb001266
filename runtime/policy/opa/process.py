"""The managed OPA server: one `opa run --server` child on loopback that only the runtime
can talk to, loaded with one policy bundle it never lets anybody change.

Any local process can reach a port on 127.0.0.1, so the server is locked three ways:

- authentication: `--authentication=token --authorization=basic` with a system policy
  (`system.authz`) that allows a request only when its bearer token hashes to the digest
  of a token drawn at random for this server. The token lives in this process's memory
  only: the policy file holds its SHA-256 (in a 0700 staging folder, removed once the
  server has loaded it), never the token, and neither goes on the command line, into the
  environment or into a log. Without it every API answers 401, `/health` included.
- ownership: the policy is loaded as a bundle whose manifest claims every path (`roots:
  [""]`), so OPA refuses any write to its data or policies, even with the token.
- revision: the manifest's revision is the bundle's version; every decision is asked with
  `?provenance=true` and one answered from another revision is refused (the engine).

Decision logging to the console is switched on so that OPA returns a `decision_id` with
each answer; the log lines are drained into a small ring buffer, never to disk, and shown
only when the server fails to start.
"""

from __future__ import annotations

import collections
import concurrent.futures
import ctypes
import hashlib
import json
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Any

import requests

from runtime.errors import OpaUnavailable, PolicyCompileError
from runtime.policy.bundle import PolicyBundle

PR_SET_PDEATHSIG = 1
START_ATTEMPTS = 3  # only a lost race for the free port is tried again
POLICY_FOLDER = "policy"
SERVER_AUTHZ_FILE = "server/authz.rego"
ADDRESS_IN_USE = "address already in use"
RESERVED_PACKAGE = re.compile(r"^\s*package\s+system(\.|\s|$)", re.MULTILINE)

SERVER_AUTHZ = """package system.authz

# Written by the runtime for one managed server: a request is allowed only with the bearer
# token whose SHA-256 is below. The token itself is never written anywhere.
default allow := false

allow if crypto.sha256(input.identity) == "{digest}"
"""


def die_with_parent() -> None:
    """Linux: the managed OPA gets SIGTERM if the runtime dies without closing it."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


_SPAWNER_LOCK = threading.Lock()
_spawner: concurrent.futures.ThreadPoolExecutor | None = None


def popen_for_life(argv: list[str], **options: Any) -> subprocess.Popen[bytes]:
    """`subprocess.Popen` from one thread that lives as long as the process.

    PR_SET_PDEATHSIG (`die_with_parent`) fires when the *thread* that forked the server
    exits, not the process: a server started from a run's worker thread (`aexec`, any
    thread pool) died with that thread, and every run after it found the engine gone.
    """
    global _spawner
    with _SPAWNER_LOCK:
        if _spawner is None:
            _spawner = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="opa-spawn")
        spawner = _spawner

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(argv, **options)

    return spawner.submit(start).result()


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def write_server_bundle(bundle: PolicyBundle, folder: Path, token_digest: str) -> Path:
    """The bundle as OPA loads it with `--bundle`: the modules under policy/, the merged
    data at the root, the server's own authz policy, and a manifest that owns every path."""
    for module_id, source in bundle.modules.items():
        if RESERVED_PACKAGE.search(source):
            raise PolicyCompileError(
                f"{module_id}: package system.* is reserved for the managed OPA server's own "
                "authorization; use another package name"
            )
        target = folder / POLICY_FOLDER / module_id
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(source)
    (folder / "data.json").write_text(json.dumps(dict(bundle.data)))
    authz = folder / SERVER_AUTHZ_FILE
    authz.parent.mkdir(parents=True, exist_ok=True)
    authz.write_text(SERVER_AUTHZ.replace("{digest}", token_digest))
    manifest = {"revision": bundle.version, "roots": [""]}
    (folder / ".manifest").write_text(json.dumps(manifest))
    return folder


def load_refusal(log_lines: collections.deque[str], folder: Path) -> str | None:
    """`OPA refused <module>: <error>` when OPA exited because a loaded module did not
    compile (the first such line; parse errors come several to a load)."""
    prefix = f"{folder / POLICY_FOLDER}/"
    for line in log_lines:
        if prefix not in line or "rego_" not in line:
            continue
        detail = line.split(prefix, 1)[1]
        module, _, rest = detail.partition(":")
        message = rest.split(":", 1)[1].strip() if rest[:1].isdigit() else rest.strip()
        return f"OPA refused {module}: {message}"
    return None


class ManagedOpaProcess:
    """One `opa run --server` child process on loopback, with its token and last log lines."""

    def __init__(self, opa: Path, *, startup_timeout: float = 10.0) -> None:
        self.opa = opa
        self.startup_timeout = startup_timeout
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.log_tail: collections.deque[str] = collections.deque(maxlen=40)
        self._drain: threading.Thread | None = None
        self._token = secrets.token_urlsafe(32)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def token(self) -> str:
        return self._token

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}"}

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, bundle: PolicyBundle) -> None:
        """Start the server on a free loopback port, loaded with `bundle` in one compile (so
        the files of one package may use each other's rules). PolicyCompileError names the
        module OPA refused; OpaUnavailable says why the server did not come up."""
        digest = hashlib.sha256(self._token.encode()).hexdigest()
        failure = "not started"
        with tempfile.TemporaryDirectory(prefix="runtime-opa-") as staging:  # mode 0700
            folder = write_server_bundle(bundle, Path(staging), digest)
            for _attempt in range(START_ATTEMPTS):
                self._spawn(folder)
                if self._wait_healthy():
                    return
                failure = self.describe_failure()
                lost_port = any(ADDRESS_IN_USE in line for line in self.log_tail)
                self.stop()
                refused = load_refusal(self.log_tail, folder)
                if refused is not None:
                    raise PolicyCompileError(refused)
                if not lost_port:
                    break
        raise OpaUnavailable(f"OPA server did not start: {failure}")

    def _spawn(self, folder: Path) -> None:
        self.port = free_loopback_port()
        self.log_tail.clear()
        self.process = popen_for_life(
            [
                str(self.opa),
                "run",
                "--server",
                "--addr",
                f"127.0.0.1:{self.port}",
                "--authentication=token",
                "--authorization=basic",
                "--log-level",
                "error",
                "--set",
                "decision_logs.console=true",
                "--bundle",
                str(folder),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,  # start-up errors go to stdout
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent if sys.platform == "linux" else None,
        )
        assert self.process.stdout is not None
        self._drain = threading.Thread(
            target=self._drain_log, args=(self.process.stdout,), daemon=True
        )
        self._drain.start()

    def _drain_log(self, stream: IO[bytes]) -> None:
        try:
            for line in stream:
                self.log_tail.append(line.decode(errors="replace").rstrip())
        except (OSError, ValueError):
            return  # the stream was closed under us by stop()

    def _wait_healthy(self) -> bool:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if not self.alive:
                return False
            try:
                response = requests.get(f"{self.url}/health", headers=self.headers, timeout=0.5)
                if response.status_code == 200:
                    return True
            except requests.RequestException:
                pass
            time.sleep(0.02)
        return False

    def describe_failure(self) -> str:
        code = self.process.poll() if self.process is not None else None
        status = f"exited with code {code}" if code is not None else "no healthy answer"
        errors = [line for line in self.log_tail if '"Decision Log"' not in line]
        return f"{status} on {self.url}" + (f": {errors[-1]}" if errors else "")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        if self._drain is not None:
            self._drain.join(timeout=2)
        if process.stdout is not None:
            process.stdout.close()
