"""The Docker sandbox against the real engine: hardening, protocol, pool, commit, cleanup."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from runtime.errors import CommitRefused, EnvironmentProblem, ExecutorCrashed, SandboxError
from runtime.models import ExecResult
from runtime.sandbox.base import CommitCaps, Sandbox, SandboxBackend, SandboxSpec
from runtime.sandbox.changeset import diff
from runtime.sandbox.docker import LABEL, LABEL_OWNER, LABEL_RUN, DockerBackend
from tests.fixtures_sandbox import commit_from_box, make_backend, our_containers

pytestmark = pytest.mark.docker


def test_backend_and_box_satisfy_the_protocols(backend: DockerBackend) -> None:
    assert isinstance(backend, SandboxBackend)
    box = backend.acquire("run-protocol")
    try:
        assert isinstance(box, Sandbox)
        assert box.image_digest.startswith("sha256:")
    finally:
        backend.release(box)


def test_isolation_sentence_names_the_hardening(backend: DockerBackend) -> None:
    assert backend.isolation() == (
        "runc + seccomp default + cap_drop ALL + no-new-privileges + read-only root + "
        "network none + uid 10001 (no gVisor, no userns-remap)"
    )


def test_box_is_labelled_with_run_and_owner(backend: DockerBackend, docker_client: Any) -> None:
    box = backend.acquire("run-labels")
    try:
        labels = docker_client.api.inspect_container(box.id)["Config"]["Labels"]
        assert (labels[LABEL], labels[LABEL_RUN], labels[LABEL_OWNER]) == (
            "1",
            "run-labels",
            str(os.getpid()),
        )
    finally:
        backend.release(box)


def test_container_hardening_flags(backend: DockerBackend, docker_client: Any) -> None:
    box = backend.acquire("run-flags")
    try:
        host = docker_client.api.inspect_container(box.id)["HostConfig"]
        assert host["NetworkMode"] == "none"
        assert host["ReadonlyRootfs"] is True
        assert host["CapDrop"] == ["ALL"]
        assert host["SecurityOpt"] == ["no-new-privileges"]
        assert host["Privileged"] is False
        assert host["Init"] is False  # the executor is PID 1, so no process shares its channel
        assert host["Memory"] == host["MemorySwap"] == 128 * 1024 * 1024
        assert host["PidsLimit"] == 64
        assert {u["Name"] for u in host["Ulimits"]} == {"nofile", "fsize"}
        assert "noexec" in host["Tmpfs"]["/tmp"]
        assert not any("docker.sock" in bind for bind in host.get("Binds") or [])
    finally:
        backend.release(box)


def test_release_removes_the_container(backend: DockerBackend, docker_client: Any) -> None:
    box = backend.acquire("run-release")
    assert box.id in our_containers(docker_client)
    backend.release(box)
    assert box.id not in our_containers(docker_client)


def test_round_trip_runs_python_and_commands(backend: DockerBackend) -> None:
    box = backend.acquire("run-basic")
    try:
        result = box.run_python("print(6 * 7)")
        assert result == ExecResult(
            stdout="42\n", stderr="", exit_code=0, duration_ms=result.duration_ms
        )
        assert box.run_command(["sh", "-c", "echo $HOME; pwd"]).stdout == "/workspace\n/workspace\n"
    finally:
        backend.release(box)


def test_no_network_inside_the_box(backend: DockerBackend) -> None:
    box = backend.acquire("run-net")
    try:
        code = (
            "import socket\n"
            "for addr in [('127.0.0.1', 80), ('1.1.1.1', 53)]:\n"
            "    s = socket.socket(); s.settimeout(2)\n"
            "    try:\n"
            "        s.connect(addr); print('connected', addr)\n"
            "    except OSError as e:\n"
            "        print(addr[0], e.errno)\n"
            "import os; print(sorted(os.listdir('/sys/class/net')))\n"
        )
        # 111 = connection refused on loopback, 101 = network unreachable: no route out.
        assert box.run_python(code).stdout == "127.0.0.1 111\n1.1.1.1 101\n['lo']\n"
    finally:
        backend.release(box)


def test_host_files_are_not_visible(backend: DockerBackend) -> None:
    marker = Path("/tmp") / f"agent-runtime-host-marker-{uuid.uuid4().hex}"
    marker.write_text("host secret")
    box = backend.acquire("run-hostfile")
    try:
        code = f"import os; print(os.path.exists({str(marker)!r}))"
        assert box.run_python(code).stdout == "False\n"
    finally:
        backend.release(box)
        marker.unlink()


def test_code_runs_as_non_root(backend: DockerBackend) -> None:
    box = backend.acquire("run-uid")
    try:
        assert box.run_python("import os; print(os.getuid(), os.getgid())").stdout == (
            "10001 10001\n"
        )
    finally:
        backend.release(box)


def test_memory_limit_kills_the_hog_and_the_box_still_answers(backend: DockerBackend) -> None:
    box = backend.acquire("run-mem")
    try:
        result = box.run_python(
            "x = bytearray(400 * 1024 * 1024); x[::4096] = b'1' * len(x[::4096])"
        )
        assert result.exit_code != 0
        assert box.run_python("print('alive')").stdout == "alive\n"
    finally:
        backend.release(box)


def test_timeout_kills_the_work_not_the_runtime(backend: DockerBackend) -> None:
    box = backend.acquire("run-timeout")
    try:
        start = time.monotonic()
        result = box.run_python("while True: pass", timeout_s=1.0)
        assert (result.timed_out, result.exit_code) == (True, 137)
        assert time.monotonic() - start < 4
        assert box.run_python("print('next')").stdout == "next\n"
    finally:
        backend.release(box)


def test_output_is_truncated_with_a_flag(backend: DockerBackend) -> None:
    box = backend.acquire("run-trunc")
    try:
        result = box.run_python("import sys; sys.stdout.write('y' * 100000)")
        assert result.stdout == "y" * 4096
        assert (result.stdout_truncated, result.truncated) == (True, True)
    finally:
        backend.release(box)


def test_files_round_trip_and_snapshot(backend: DockerBackend) -> None:
    box = backend.acquire("run-files")
    try:
        box.write_file("data/in.csv", b"a,b\n1,2\n")
        assert box.read_file("data/in.csv") == b"a,b\n1,2\n"
        snap = box.snapshot()
        assert sorted(snap) == ["data", "data/in.csv"]
        assert (snap["data/in.csv"].kind, snap["data/in.csv"].size) == ("file", 8)
        with pytest.raises(SandboxError):
            box.read_file("../etc/passwd")
    finally:
        backend.release(box)


def test_snapshot_diff_commit_copies_changes_out(backend: DockerBackend, tmp_path: Path) -> None:
    box = backend.acquire("run-commit")
    try:
        box.write_file("keep.txt", b"old")
        before = box.snapshot()
        box.run_python(
            "import os\nos.makedirs('out', exist_ok=True)\n"
            "open('out/report.md', 'w').write('# report')\nopen('keep.txt', 'w').write('new')"
        )
        changes = diff(before, box.snapshot())
        assert [(c.path, c.change) for c in changes.changes] == [
            ("keep.txt", "modified"),
            ("out", "added"),
            ("out/report.md", "added"),
        ]
        written = commit_from_box(box, changes, tmp_path, CommitCaps())
        assert written == ["keep.txt", "out/report.md"]
        assert (tmp_path / "out" / "report.md").read_text() == "# report"
    finally:
        backend.release(box)


def test_symlink_to_a_host_path_is_refused_at_commit(
    backend: DockerBackend, tmp_path: Path
) -> None:
    box = backend.acquire("run-symlink")
    try:
        before = box.snapshot()
        box.run_python(
            "import os; os.symlink('/etc/shadow', 'shadow'); open('ok.txt','w').write('ok')"
        )
        with pytest.raises(CommitRefused) as refused:
            commit_from_box(box, diff(before, box.snapshot()), tmp_path, CommitCaps())
        assert str(refused.value) == (
            "Commit refused, nothing was written: 'shadow': symlink (to '/etc/shadow')"
        )
        assert os.listdir(tmp_path) == []
    finally:
        backend.release(box)


def test_killed_executor_is_detected_and_the_next_box_works(backend: DockerBackend) -> None:
    box = backend.acquire("run-kill")
    # The box cannot kill its executor (PID 1 of its namespace); the engine can.
    backend._client.api.kill(box.id, signal="SIGKILL")
    with pytest.raises(ExecutorCrashed):
        box.run_python("print('unreachable')")
    with pytest.raises(ExecutorCrashed):
        box.run_python("print(1)")
    backend.release(box)
    fresh = backend.acquire("run-kill-2")
    try:
        assert fresh.run_python("print('fresh')").stdout == "fresh\n"
    finally:
        backend.release(fresh)


def test_frozen_executor_hits_the_host_timeout(backend: DockerBackend) -> None:
    box = backend.acquire("run-freeze")
    backend._client.api.pause(box.id)  # the box itself cannot stop PID 1
    start = time.monotonic()
    with pytest.raises(ExecutorCrashed) as crashed:
        box.run_python("print('unreachable')", timeout_s=0.5)
    assert time.monotonic() - start < 10
    assert "did not answer within 5.5 s" in str(crashed.value)
    backend.release(box)


def test_warm_pool_hands_out_fresh_boxes_never_twice(
    docker_client: Any, sandbox_image: str, no_container_left_behind: None
) -> None:
    with make_backend(docker_client, sandbox_image, pool_size=2) as pooled:
        assert pooled.wait_for_pool(60)
        start = time.perf_counter()
        first = pooled.acquire("run-a")
        elapsed = time.perf_counter() - start
        second = pooled.acquire("run-b")
        assert first.id != second.id
        assert elapsed < 0.5
        assert first.run_id == "run-a"
        pooled.release(first)
        pooled.release(second)
        assert pooled.wait_for_pool(60)
        third = pooled.acquire("run-c")
        assert third.id not in {first.id, second.id}
        pooled.release(third)


def test_prune_removes_boxes_of_dead_owners_only(
    backend: DockerBackend, docker_client: Any, sandbox_image: str
) -> None:
    orphan = docker_client.api.create_container(
        sandbox_image, labels={LABEL: "1", LABEL_OWNER: "999999999", LABEL_RUN: "dead"}
    )["Id"]
    box = backend.acquire("run-prune")
    try:
        assert backend.prune() >= 1  # other dead owners may exist too
        remaining = {
            c["Id"] for c in docker_client.api.containers(all=True, filters={"label": f"{LABEL}=1"})
        }
        assert orphan not in remaining
        assert box.id in remaining
    finally:
        backend.release(box)


def test_unavailable_runtime_is_refused(docker_client: Any, sandbox_image: str) -> None:
    with pytest.raises(EnvironmentProblem) as refused:
        DockerBackend(docker_client, SandboxSpec(image=sandbox_image, runtime="no-such-runtime"))
    assert str(refused.value).startswith(
        "Sandbox runtime 'no-such-runtime' is not installed in the Docker engine"
    )


def test_missing_image_names_the_fix(docker_client: Any) -> None:
    from runtime.errors import SandboxImageMissing

    with pytest.raises(SandboxImageMissing) as missing:
        DockerBackend(docker_client, SandboxSpec(image="agent-runtime-sandbox:doesnotexist"))
    assert str(missing.value) == (
        "Sandbox image agent-runtime-sandbox:doesnotexist is not built: run `runtime sandbox build`"
    )


def test_unreachable_engine_names_the_fix() -> None:
    from runtime.errors import DockerUnavailable
    from runtime.sandbox.docker import connect

    with pytest.raises(DockerUnavailable) as down:
        connect(base_url="unix:///nonexistent/docker.sock")
    assert str(down.value) == (
        "Docker engine not reachable at unix:///nonexistent/docker.sock: run `runtime doctor`"
    )


def test_spec_timeout_is_a_ceiling_callers_cannot_raise(
    docker_client: Any, sandbox_image: str, no_container_left_behind: None
) -> None:
    from runtime.sandbox.base import SandboxLimits

    strict = SandboxLimits(call_timeout_s=1.0, memory_mb=128)
    with make_backend(docker_client, sandbox_image, limits=strict) as backend:
        box = backend.acquire("run-ceiling")
        start = time.monotonic()
        result = box.run_python("import time; time.sleep(20)", timeout_s=60)
        assert result.timed_out is True
        assert time.monotonic() - start < 5
        backend.release(box)
