"""`runtime serve` as a user starts it: it binds loopback, prints where to log in, and
answers only with the token; a non-loopback address needs --allow-remote."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

TOKEN = "cli-token-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str, token: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def start(tmp_path: Path, port: int, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "runtime.cli", "serve", "--port", str(port)],
        cwd=tmp_path,
        env={**os.environ, "RUNTIME_STATE_DIR": str(tmp_path / "state"), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_until_up(url: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        try:
            get(url)
            return
        except (urllib.error.URLError, ConnectionError, OSError):
            time.sleep(0.2)
    raise AssertionError("runtime serve did not answer within 60 s")


def stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGINT)
    try:
        _, stderr = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        _, stderr = process.communicate()
    return stderr


def test_serve_answers_only_with_its_token(tmp_path: Path) -> None:
    port = free_port()
    process = start(tmp_path, port, {"RUNTIME_SERVE_TOKEN": TOKEN})
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_up(base + "/metrics", process)
        assert get(base + "/metrics")[0] == 401
        assert get(base + "/metrics", "wrong-token-0123456789")[0] == 401
        status, body = get(base + "/metrics", TOKEN)
        assert status == 200 and "runtime_approvals_pending 0" in body
    finally:
        stderr = stop(process)
    assert f"dashboard: http://127.0.0.1:{port}/ (log in at /login?token=<serve_token>)" in stderr
    assert TOKEN not in stderr


def test_serve_without_a_token_makes_one_up_and_prints_it(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "RUNTIME_SERVE_TOKEN"}
    process = subprocess.Popen(
        [sys.executable, "-m", "runtime.cli", "serve", "--port", str(port)],
        cwd=tmp_path,
        env={**env, "RUNTIME_STATE_DIR": str(tmp_path / "state")},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_up(base + "/metrics", process)
    finally:
        stderr = stop(process)
    line = next(x for x in stderr.splitlines() if x.startswith("dashboard: "))
    token = line.rsplit("token=", 1)[1]
    assert line == f"dashboard: {base}/login?token={token}" and len(token) >= 16


def test_serve_refuses_a_public_address_without_allow_remote(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "runtime.cli", "serve", "--host", "0.0.0.0"],
        cwd=tmp_path,
        env={**os.environ, "RUNTIME_STATE_DIR": str(tmp_path / "state")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "error: refusing to serve the dashboard on 0.0.0.0: it binds to loopback unless you "
        "pass --allow-remote (and put TLS in front of it)"
    )
