"""The OPA server engine against a real `opa run --server` on loopback."""

from __future__ import annotations

import os
import re
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runtime.errors import PolicyCompileError
from runtime.models import Decision
from runtime.policy.authorizer import Authorizer
from runtime.policy.bundle import load_bundle, opa_check, opa_fmt_check, opa_test
from runtime.policy.opa import OpaServerEngine, free_loopback_port

pytestmark = pytest.mark.opa

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def call(
    agent: str, tool: str, effect: str, args: dict[str, Any], team: str = "analyst"
) -> dict[str, Any]:
    return {
        "subject": {"agent": agent, "team": team, "tenant": "acme"},
        "action": {"tool": tool, "effect": effect, "args": args},
        "context": {"run_id": "r1", "step": 1, "task": "t"},
    }


def without_id(decision: Decision) -> Decision:
    return decision.model_copy(update={"decision_id": None})


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); treat it as gone.
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split()[2] == "Z")


@pytest.fixture
def own_engine(opa_binary: Path, policy_copy: Path) -> Iterator[OpaServerEngine]:
    """A managed server of this test alone (the session one is shared)."""
    engine = OpaServerEngine(policy_copy, opa_binary=opa_binary)
    try:
        yield engine
    finally:
        engine.close()


# --------------------------------------------------------------------------- rego/ toolchain


def test_rego_is_opa_fmt_clean(opa_binary: Path, policy_dir: Path) -> None:
    result = opa_fmt_check(policy_dir, opa=opa_binary)
    assert result.returncode == 0, result.output


def test_rego_passes_opa_check_strict(opa_binary: Path, policy_dir: Path) -> None:
    opa_check([policy_dir], opa=opa_binary)


def test_rego_unit_tests_pass(opa_binary: Path, policy_dir: Path) -> None:
    result = opa_test(policy_dir, opa=opa_binary, extra_args=("--fail-on-empty", "--coverage"))
    assert result.returncode == 0, result.output


def test_broken_rego_fails_check_with_opas_message_first(opa_binary: Path, tmp_path: Path) -> None:
    (tmp_path / "x.rego").write_text("package x\n\nallow if {\n")
    with pytest.raises(PolicyCompileError) as excinfo:
        opa_check([tmp_path], opa=opa_binary)
    assert str(excinfo.value).splitlines()[0] == (
        f"1 error occurred during loading: {tmp_path}/x.rego:4: rego_parse_error: "
        "unexpected eof token (opa check --strict failed)"
    )


# --------------------------------------------------------------------------- decisions


def test_granted_call_is_allowed_with_a_decision_id(
    opa_engine: OpaServerEngine, policy_dir: Path
) -> None:
    decision = Authorizer(opa_engine).authorize(
        call("coder", "python.run", "exec", {"code": "print(1)"})
    )
    assert decision.decision_id is not None and UUID.match(decision.decision_id)
    assert without_id(decision) == Decision(
        allow=True,
        reasons=["tool python.run is granted to agent coder"],
        obligations={"timeout_s": 30, "max_output_bytes": 65536},
        policy_version=load_bundle(policy_dir).version,
        engine="opa-server",
    )


def test_rogue_planner_running_python_is_denied(opa_engine: OpaServerEngine) -> None:
    decision = Authorizer(opa_engine).authorize(
        call("planner", "python.run", "exec", {"code": "import os"}, team="rogue")
    )
    assert (decision.allow, decision.require_approval, decision.reasons) == (
        False,
        False,
        ["tool python.run is not granted to agent planner"],
    )


def test_memory_of_another_agent_is_denied(opa_engine: OpaServerEngine) -> None:
    decision = Authorizer(opa_engine).authorize_memory(
        {
            "subject": {"agent": "coder", "team": "analyst", "tenant": "acme"},
            "operation": "read",
            "namespace": "acme/planner",
            "run_id": "r1",
        }
    )
    assert decision.reasons == ["agent coder may not read memory namespace acme/planner"]
    assert decision.allow is False


def test_safety_verdict_from_opa(opa_engine: OpaServerEngine) -> None:
    verdict = Authorizer(opa_engine).safety_verdict(
        {
            "findings": [
                {"type": "email", "detector": "pii", "severity": "medium", "location": "m"}
            ],
            "action": {"kind": "message", "tool": "x", "trust": "trusted"},
        }
    )
    assert verdict == {
        "verdict": "redact",
        "reasons": ["personal data (email) was found in m and will be redacted"],
        "alternatives": ["mask the personal data (e.g. j***@example.com) or leave it out"],
    }


def test_undefined_rule_is_undefined_not_an_error(opa_engine: OpaServerEngine) -> None:
    assert opa_engine.evaluate("runtime/authz/no_such_rule", {}).result is None


# --------------------------------------------------------------------------- supervision


def test_dead_server_is_restarted(own_engine: OpaServerEngine) -> None:
    pid = own_engine.managed_pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while process_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    decision = Authorizer(own_engine).authorize(call("coder", "fs.read", "read", {"path": "a"}))
    assert decision.allow is True
    assert own_engine.managed_pid not in (None, pid)


def test_close_stops_the_server_and_later_calls_deny(opa_binary: Path, policy_dir: Path) -> None:
    engine = OpaServerEngine(policy_dir, opa_binary=opa_binary)
    pid = engine.managed_pid
    assert pid is not None
    engine.close()
    assert not process_alive(pid)
    decision = Authorizer(engine).authorize(call("coder", "fs.read", "read", {"path": "a"}))
    assert decision.reasons == [
        f"deny (fail closed: policy engine unreachable: OPA engine for {engine.url} is closed)"
    ]


def test_broken_policy_dir_never_starts(opa_binary: Path, policy_copy: Path) -> None:
    (policy_copy / "runtime/authz/authz.rego").write_text(
        "package runtime.authz\n\ndecision := {\n"
    )
    with pytest.raises(PolicyCompileError) as caught:
        OpaServerEngine(policy_copy, opa_binary=opa_binary)
    # One line naming the module and row first, as the embedded engine does.
    assert str(caught.value).splitlines()[0] == (
        "runtime/authz/authz.rego:4: rego_parse_error: unexpected eof token "
        "(opa check --strict failed)"
    )


# --------------------------------------------------------------------------- reload


def test_reload_pushes_new_policy(own_engine: OpaServerEngine, policy_copy: Path) -> None:
    old_version = own_engine.policy_version
    data = (policy_copy / "data.json").read_text()
    (policy_copy / "data.json").write_text(data.replace('"default": 50', '"default": 1'))
    new_version = own_engine.reload()
    assert new_version != old_version
    assert new_version == load_bundle(policy_copy).version
    decision = Authorizer(own_engine).authorize(
        {
            **call("planner", "fs.read", "read", {"path": "a"}),
            "context": {"run_id": "r1", "step": 1, "task": "t", "calls_so_far": {"fs.read": 1}},
        }
    )
    assert decision.reasons == ["tool fs.read has used its budget of 1 calls in this run"]
    assert decision.policy_version == new_version


def test_managed_reload_swaps_to_a_fresh_server(
    own_engine: OpaServerEngine, policy_copy: Path
) -> None:
    old_pid = own_engine.managed_pid
    assert old_pid is not None
    (policy_copy / "extra.rego").write_text("package runtime.extra\n\nanswer := 42\n")
    own_engine.reload()
    assert own_engine.managed_pid not in (None, old_pid)
    assert not process_alive(old_pid)
    assert own_engine.evaluate("runtime/extra/answer", {}).result == 42


def test_broken_reload_is_refused_and_old_policy_stays(
    own_engine: OpaServerEngine, policy_copy: Path
) -> None:
    old_version = own_engine.policy_version
    (policy_copy / "runtime/authz/authz.rego").write_text(
        "package runtime.authz\n\ndecision := {\n"
    )
    with pytest.raises(PolicyCompileError):
        own_engine.reload()
    assert own_engine.policy_version == old_version
    decision = Authorizer(own_engine).authorize(call("coder", "fs.read", "read", {"path": "a"}))
    assert decision.allow is True


def test_reload_refused_by_the_server_restores_the_old_modules(
    opa_binary: Path, policy_copy: Path
) -> None:
    # Without the local `opa check`, the server itself refuses the module mid-push.
    engine = OpaServerEngine(policy_copy, opa_binary=opa_binary, check_policies=False)
    try:
        old_version = engine.policy_version
        (policy_copy / "runtime/memory/memory.rego").write_text(
            "package runtime.memory\n\nx := undefined_fn(1)\n"
        )
        with pytest.raises(PolicyCompileError, match=r"^OPA refused runtime/memory/memory.rego: "):
            engine.reload()
        assert engine.policy_version == old_version
        decision = Authorizer(engine).authorize_memory(
            {
                "subject": {"agent": "coder", "team": "analyst", "tenant": "acme"},
                "operation": "write",
                "namespace": "acme/coder",
                "run_id": "r1",
            }
        )
        assert decision.allow is True
    finally:
        engine.close()


# --------------------------------------------------------------------------- remote mode, failures


def test_remote_server_by_url(opa_engine: OpaServerEngine) -> None:
    remote = OpaServerEngine(url=opa_engine.url, token=opa_engine.token)
    try:
        decision = Authorizer(remote).authorize(call("coder", "fs.read", "read", {"path": "a"}))
        assert decision.allow is True
        assert decision.policy_version == ""
    finally:
        remote.close()
    assert opa_engine.healthy()


def test_unreachable_server_denies_and_says_so() -> None:
    url = f"http://127.0.0.1:{free_loopback_port()}"
    engine = OpaServerEngine(url=url, timeout=0.5)
    decision = Authorizer(engine).authorize(call("coder", "fs.read", "read", {"path": "a"}))
    assert decision.reasons == [
        f"deny (fail closed: policy engine unreachable: OPA at {url}: ConnectionRefusedError)"
    ]


def test_keep_alive_survives_an_idle_close_by_the_server(own_engine: OpaServerEngine) -> None:
    authorizer = Authorizer(own_engine)
    document = call("coder", "fs.read", "read", {"path": "a"})
    assert authorizer.authorize(document).allow is True
    # Simulate the server dropping the idle kept-alive connection.
    for connection in own_engine._link.pool._idle:
        assert connection.sock is not None
        connection.sock.shutdown(socket.SHUT_RDWR)
    assert authorizer.authorize(document).allow is True


def test_server_that_never_answers_times_out_and_denies() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        engine = OpaServerEngine(url=url, timeout=0.2)
        started = time.monotonic()
        decision = Authorizer(engine).authorize(call("coder", "fs.read", "read", {"path": "a"}))
        assert time.monotonic() - started < 2
    assert decision.reasons == [
        f"deny (fail closed: policy engine timed out after 0.2s: OPA at {url})"
    ]


def test_concurrent_callers_all_get_decisions(opa_engine: OpaServerEngine) -> None:
    from concurrent.futures import ThreadPoolExecutor

    authorizer = Authorizer(opa_engine)
    documents = [call("coder", "fs.read", "read", {"path": f"f{i}.txt"}) for i in range(200)]
    with ThreadPoolExecutor(max_workers=20) as pool:
        decisions = list(pool.map(authorizer.authorize, documents))
    assert all(decision.allow for decision in decisions)
    assert len({decision.decision_id for decision in decisions}) == 200


def test_reload_under_load_never_fails_a_decision(
    own_engine: OpaServerEngine, policy_copy: Path
) -> None:
    import threading

    authorizer = Authorizer(own_engine)
    document = call("coder", "fs.read", "read", {"path": "a.txt"})
    failures: list[Decision] = []
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            decision = authorizer.authorize(document)
            if not decision.allow:
                failures.append(decision)

    workers = [threading.Thread(target=hammer) for _ in range(4)]
    for worker in workers:
        worker.start()
    try:
        for round_number in range(3):
            (policy_copy / "extra.rego").write_text(
                f"package runtime.extra\n\nround := {round_number}\n"
            )
            own_engine.reload()
    finally:
        stop.set()
        for worker in workers:
            worker.join()
    assert failures == []
