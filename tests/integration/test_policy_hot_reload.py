"""Hot reload, policy history and rollback with the real engines (OPA server and regopy).

Each test copies rego/ into a throwaway project, lets a Runtime's watcher poll it, edits a
rule and waits (with a deadline, never a timed assertion) until a decision changes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from runtime.core import Runtime
from runtime.models import StepReport
from runtime.policy.bundle import load_bundle
from runtime.policy.versions import POLICY_STREAM, read_bundle_files, short
from runtime.settings import load_settings
from tests.integration.test_cli_errors import one_line, run_cli

T = TypeVar("T")
ENGINES = [pytest.param("opa", marks=pytest.mark.opa), "embedded"]
ENGINE_NAMES = {"opa": "opa-server", "embedded": "embedded-regopy"}
BROKEN_AUTHZ = "package runtime.authz\n\ndecision := {\n"
PLANNER_RUNS_CODE: dict[str, Any] = {
    "subject": {"agent": "planner", "team": "analyst", "tenant": "acme"},
    "action": {"tool": "python.run", "effect": "exec", "args": {"code": "print(1)"}},
    "context": {"run_id": "r", "step": 1, "task": "t"},
}
NOT_GRANTED = ["tool python.run is not granted to agent planner"]
GRANTED = ["tool python.run is granted to agent planner"]


def wait_for(condition: Callable[[], T], what: str, deadline_s: float = 90.0) -> T:
    """Poll until `condition` is truthy; fail (never pass) when the deadline passes."""
    deadline = time.monotonic() + deadline_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.02)


def grant_planner_python(policy: Path) -> None:
    doc = json.loads((policy / "data.json").read_text())
    doc["runtime_data"]["authz"]["grants"]["agents"]["planner"]["tools"].append("python.run")
    (policy / "data.json").write_text(json.dumps(doc, indent=2) + "\n")


def settings_for(project: Path, engine: str, opa_path: Path | None, **extra: Any) -> Any:
    return load_settings(
        project_dir=project,
        state_dir=project / ".state",  # the state dir run_cli gives the CLI
        policy_engine=engine,
        opa_binary=str(opa_path) if opa_path else None,
        policy_watch_interval_s=extra.pop("policy_watch_interval_s", 0.05),
        **extra,
    )


def engine_env(engine: str, opa_path: Path | None) -> dict[str, str]:
    env = {"RUNTIME_POLICY_ENGINE": engine}
    if opa_path is not None:
        env["RUNTIME_OPA_BINARY"] = str(opa_path)
    return env


@pytest.fixture
def opa_for(request: pytest.FixtureRequest) -> Callable[[str], Path | None]:
    def resolve(engine: str) -> Path | None:
        return request.getfixturevalue("opa_path") if engine == "opa" else None

    return resolve


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def runtime(project: Path, engine: str, opa_for: Callable[[str], Path | None]) -> Iterator[Runtime]:
    with Runtime(settings_for(project, engine, opa_for(engine))) as rt:
        yield rt


def policy_events(rt: Runtime) -> list[tuple[str, dict[str, Any]]]:
    return [(e.kind, e.payload) for e in rt.audit.events(POLICY_STREAM)]


def reasons(rt: Runtime) -> list[str]:
    return list(rt.authorizer().authorize(PLANNER_RUNS_CODE).reasons)


# --------------------------------------------------------------------------- hot reload


def test_an_edit_is_hot_reloaded_recorded_and_snapshotted(
    runtime: Runtime, project: Path, engine: str
) -> None:
    policy = project / "rego"
    first = runtime.policy_engine().policy_version
    assert reasons(runtime) == NOT_GRANTED

    grant_planner_python(policy)
    second = load_bundle(policy).version
    wait_for(lambda: reasons(runtime) == GRANTED, "the edit to take effect")
    # The swap comes first, the record right after it (same poll, under the policy lock).
    wait_for(lambda: len(policy_events(runtime)) == 2, "the reload to be recorded")

    decision = runtime.authorizer().authorize(PLANNER_RUNS_CODE)
    assert (decision.allow, decision.policy_version, decision.engine) == (
        True,
        second,
        ENGINE_NAMES[engine],
    )
    assert policy_events(runtime) == [
        (
            "policy.activated",
            {
                "from": None,
                "to": first,
                "source": "startup",
                "files_changed": None,
                "snapshot": True,
            },
        ),
        (
            "policy.changed",
            {
                "from": first,
                "to": second,
                "source": "reload",
                "files_changed": {"added": [], "removed": [], "modified": ["data.json"]},
                "snapshot": True,
            },
        ),
    ]
    snapshot = runtime.policy_history().snapshot_path(second)
    assert read_bundle_files(snapshot).files == read_bundle_files(policy).files
    assert runtime.audit.run_ids() == []
    assert runtime.audit.verify().ok


def test_a_broken_edit_leaves_the_old_policy_in_force_and_is_refused_once(
    runtime: Runtime, project: Path
) -> None:
    policy = project / "rego"
    old = runtime.policy_engine().policy_version
    watcher = runtime.policy_watcher
    assert watcher is not None
    (policy / "runtime/authz/authz.rego").write_text(BROKEN_AUTHZ)
    rejected = read_bundle_files(policy).version

    refused = wait_for(
        lambda: [p for kind, p in policy_events(runtime) if kind == "policy.reload_refused"],
        "policy.reload_refused",
    )
    polls = watcher.polls
    wait_for(lambda: watcher.polls >= polls + 5, "five more polls")

    assert runtime.policy_engine().policy_version == old
    assert reasons(runtime) == NOT_GRANTED
    assert [p for kind, p in policy_events(runtime) if kind == "policy.reload_refused"] == refused
    assert len(refused) == 1
    assert (refused[0]["rejected"], refused[0]["current"]) == (rejected, old)
    assert refused[0]["detail"].startswith("runtime/authz/authz.rego:")
    assert watcher.errors == 0
    assert runtime.audit.verify().ok


def test_the_cache_never_serves_a_decision_from_the_old_version(
    runtime: Runtime, project: Path
) -> None:
    authorizer = runtime.authorizer()
    cache = authorizer.cache
    assert cache is not None and cache.maxsize == 10_000
    old = runtime.policy_engine().policy_version
    assert authorizer.authorize(PLANNER_RUNS_CODE).reasons == NOT_GRANTED
    hits = cache.hits
    assert authorizer.authorize(PLANNER_RUNS_CODE).reasons == NOT_GRANTED
    assert (cache.hits, len(cache)) == (hits + 1, 1)

    grant_planner_python(project / "rego")
    # Wait on the engine, not on the decision: the very next decision after the swap must
    # already be the new one, whatever the cache held.
    wait_for(lambda: runtime.policy_engine().policy_version != old, "the reload")

    decision = authorizer.authorize(PLANNER_RUNS_CODE)
    assert (decision.reasons, decision.policy_version) == (
        GRANTED,
        runtime.policy_engine().policy_version,
    )
    assert len(cache) == 1  # the old version's entry went with the clear


def test_the_cache_size_setting_zero_turns_the_cache_off(project: Path) -> None:
    with Runtime(settings_for(project, "embedded", None, policy_cache_size=0)) as rt:
        assert rt.authorizer().cache is None


def test_a_zero_interval_turns_hot_reload_off(project: Path) -> None:
    settings = settings_for(project, "embedded", None, policy_watch_interval_s=0)
    with Runtime(settings) as rt:
        rt.policy_engine()
        assert rt.policy_watcher is None
        assert [e.kind for e in rt.audit.events(POLICY_STREAM)] == ["policy.activated"]


def test_edits_between_runs_are_policy_changes(project: Path) -> None:
    settings = settings_for(project, "embedded", None, policy_watch_interval_s=0)
    with Runtime(settings) as rt:
        first = rt.policy_engine().policy_version
    grant_planner_python(project / "rego")
    with Runtime(settings) as rt:
        second = rt.policy_engine().policy_version
    with Runtime(settings) as rt:  # nothing changed: nothing recorded
        rt.policy_engine()
        events = policy_events(rt)
    assert [(kind, p["from"], p["to"], p["source"]) for kind, p in events] == [
        ("policy.activated", None, first, "startup"),
        ("policy.changed", first, second, "startup"),
    ]


def test_close_stops_the_watcher(project: Path) -> None:
    rt = Runtime(settings_for(project, "embedded", None))
    rt.policy_engine()
    watcher = rt.policy_watcher
    assert watcher is not None and watcher.running
    rt.close()
    assert not watcher.running


# --------------------------------------------------------------------------- CLI


def test_rollback_via_the_cli_restores_the_files_and_the_next_decision(
    runtime: Runtime, project: Path, engine: str, opa_for: Callable[[str], Path | None]
) -> None:
    policy = project / "rego"
    env = engine_env(engine, opa_for(engine))
    first = runtime.policy_engine().policy_version
    first_files = read_bundle_files(policy).files
    grant_planner_python(policy)
    second = load_bundle(policy).version
    wait_for(lambda: reasons(runtime) == GRANTED, "the edit to take effect")
    wait_for(
        lambda: [e.version for e in runtime.policy_history().entries()] == [first, second],
        "the reload to be recorded",
    )

    done = run_cli(project, "policy", "rollback", "--yes", env=env)

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"{short(second)} -> {short(first)}"
    tests = ", ".join(sorted(p.relative_to(policy).as_posix() for p in policy.rglob("*_test.rego")))
    assert lines[1:] == [
        "  restored: data.json",
        f"  left alone (tests are not part of a version): {tests}",
    ]
    assert read_bundle_files(policy).files == first_files
    wait_for(lambda: reasons(runtime) == NOT_GRANTED, "the running runtime to pick up the rollback")
    assert runtime.policy_engine().policy_version == first
    assert [(kind, p["from"], p["to"], p["source"]) for kind, p in policy_events(runtime)] == [
        ("policy.activated", None, first, "startup"),
        ("policy.changed", first, second, "reload"),
        ("policy.rollback", second, first, "rollback"),
    ]

    verified = run_cli(project, "audit", "verify")
    assert (verified.returncode, verified.stdout.strip()) == (
        0,
        f"audit log intact: {len(runtime.audit.events())} events",
    )
    listed = run_cli(project, "runs", "list")
    # The @policy stream is not a run (the empty listing says so, or says nothing).
    assert listed.returncode == 0 and listed.stdout in ("", "no runs yet\n")
    history = run_cli(project, "policy", "history", env=env)
    assert history.returncode == 0, history.stderr
    rows = [(row[0], *row[2:].split()[:3]) for row in history.stdout.splitlines()]
    assert [(mark, version, source) for mark, version, _ts, source in rows] == [
        ("*", short(first), "rollback"),
        (" ", short(second), "reload"),
        (" ", short(first), "startup"),
    ]


def test_policy_history_json_is_newest_first(project: Path) -> None:
    settings = settings_for(project, "embedded", None, policy_watch_interval_s=0)
    with Runtime(settings) as rt:
        first = rt.policy_engine().policy_version
    grant_planner_python(project / "rego")
    with Runtime(settings) as rt:
        second = rt.policy_engine().policy_version
    (project / "rego" / "runtime/memory/memory.rego").write_text(
        (project / "rego" / "runtime/memory/memory.rego").read_text() + "\n# draft\n"
    )

    done = run_cli(project, "policy", "history", "--json")

    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["current"] == second
    assert doc["on_disk"] == read_bundle_files(project / "rego").version
    assert [(v["version"], v["source"], v["from_version"]) for v in doc["versions"]] == [
        (second, "startup", first),
        (first, "startup", None),
    ]
    text = run_cli(project, "policy", "history")
    assert text.stdout.splitlines()[-1] == (
        f"  {(project / 'rego').resolve()} now holds {short(doc['on_disk'])}, which no runtime "
        "has loaded yet"
    )


@pytest.mark.parametrize(
    ("setup", "args", "message"),
    [
        (
            "none",
            ["--yes"],
            "error: no policy version recorded in {state}: one is recorded when "
            "a runtime first loads the policies",
        ),
        ("one", ["--yes"], "error: no previous policy version: {first} is the only one recorded"),
        (
            "two",
            ["--yes", "--to", "abcdef"],
            "error: no policy version 'abcdef' in the history; see `runtime policy history`",
        ),
        ("two", [], "error: rollback rewrites the policy files in {policy}: pass --yes to confirm"),
    ],
    ids=["no-history", "one-version", "unknown-version", "no-yes-without-a-terminal"],
)
def test_rollback_refuses_bad_input_with_one_line(
    project: Path, setup: str, args: list[str], message: str
) -> None:
    settings = settings_for(project, "embedded", None, policy_watch_interval_s=0)
    first = ""
    if setup in ("one", "two"):
        with Runtime(settings) as rt:
            first = rt.policy_engine().policy_version
    if setup == "two":
        grant_planner_python(project / "rego")
        with Runtime(settings) as rt:
            rt.policy_engine()
    before = read_bundle_files(project / "rego").files

    done = run_cli(project, "policy", "rollback", *args, env={"RUNTIME_POLICY_ENGINE": "embedded"})

    assert done.returncode == 2
    assert one_line(done.stderr) == message.format(
        state=(project / ".state" / "policy").resolve(),
        first=short(first),
        policy=(project / "rego").resolve(),
    )
    assert read_bundle_files(project / "rego").files == before


def test_the_policy_stream_is_not_a_run(project: Path) -> None:
    with Runtime(settings_for(project, "embedded", None, policy_watch_interval_s=0)) as rt:
        rt.policy_engine()
    done = run_cli(project, "runs", "show", "@policy")
    assert done.returncode == 2
    assert one_line(done.stderr) == (
        "error: '@policy' is not a run; policy changes: `runtime policy history --events`"
    )
    for command in (["runs", "resume", "@policy"], ["approve", "@policy"]):
        refused = run_cli(project, *command)
        assert refused.returncode == 2
        assert one_line(refused.stderr) == (
            "error: no run '@policy' in the audit log; see `runtime runs list`"
        )
    events = run_cli(project, "policy", "history", "--events", "--json")
    assert [e["kind"] for e in json.loads(events.stdout)] == ["policy.activated"]


# --------------------------------------------------------------------------- in a run


@pytest.mark.docker
@pytest.mark.opa
@pytest.mark.slow
@pytest.mark.usefixtures("no_leftover_containers")
def test_a_hot_reload_during_a_run_is_noted_in_the_run(
    project: Path, opa_path: Path, sandbox_image: str
) -> None:
    settings = settings_for(project, "opa", opa_path)
    with Runtime(settings) as rt:
        old = rt.policy_engine().policy_version

        def edit_and_wait(step: StepReport) -> None:
            # The rogue planner's first call is denied; the policy changes before it gives up.
            if step.step == 1:
                grant_planner_python(project / "rego")
                run_id = rt.audit.run_ids()[-1]
                wait_for(
                    lambda: "policy.changed" in [e.kind for e in rt.audit.events(run_id)],
                    "the reload to be noted in the run",
                )

        result = rt.exec("list the root folder", "rogue", on_step=edit_and_wait)
        new = rt.policy_engine().policy_version
        kinds = [(e.kind, e.payload) for e in rt.audit.events(result.run_id)]
        verified = rt.audit.verify()

    assert result.status == "blocked"
    noted = [p for kind, p in kinds if kind == "policy.changed"]
    assert noted == [{"from": old, "to": new, "source": "reload"}]
    names = [kind for kind, _ in kinds]
    assert names.index("decision") < names.index("policy.changed") < names.index("run.end")
    assert verified.ok
