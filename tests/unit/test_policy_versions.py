"""Policy versions: snapshots, the `@policy` history in the audit log, rollback's file
restoration, and the watcher's poll logic over the real embedded engine (no threads)."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime.audit.store import AuditLog
from runtime.errors import ConfigError, PolicyCompileError, UserError
from runtime.policy.authorizer import Authorizer
from runtime.policy.bundle import load_bundle
from runtime.policy.embedded import EmbeddedEngine
from runtime.policy.versions import (
    POLICY_STREAM,
    RELOAD_REFUSED,
    PolicyHistory,
    compile_check,
    read_bundle_files,
    short,
)
from runtime.policy.watcher import PolicyChange, PolicyWatcher, stat_signature
from runtime.settings import load_settings

# rego/ is the shipped policy library, not a project: tests of the library itself read it.
REPO_POLICY = Path(__file__).parents[2] / "rego"
BROKEN_AUTHZ = "package runtime.authz\n\ndecision := {\n"
PLANNER_RUNS_CODE = {
    "subject": {"agent": "planner", "team": "analyst", "tenant": "acme"},
    "action": {"tool": "python.run", "effect": "exec", "args": {"code": "print(1)"}},
    "context": {"run_id": "r", "step": 1, "task": "t"},
}


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    target = tmp_path / "project" / "rego"
    shutil.copytree(REPO_POLICY, target)
    return target


@pytest.fixture
def audit(tmp_path: Path) -> Iterator[AuditLog]:
    log = AuditLog(tmp_path / "state" / "audit.db")
    yield log
    log.close()


@pytest.fixture
def history(tmp_path: Path, audit: AuditLog, policy: Path) -> PolicyHistory:
    return PolicyHistory(tmp_path / "state", audit, policy)


def grant_planner_python(policy: Path) -> None:
    doc = json.loads((policy / "data.json").read_text())
    doc["runtime_data"]["authz"]["grants"]["agents"]["planner"]["tools"].append("python.run")
    (policy / "data.json").write_text(json.dumps(doc, indent=2) + "\n")


def no_check(path: Path) -> None:
    return None


def policy_kinds(audit: AuditLog) -> list[str]:
    return [event.kind for event in audit.events(POLICY_STREAM)]


AUTHZ = "runtime/authz/authz.rego"
AUTHZ_TEST = "runtime/authz/authz_test.rego"
MEMORY = "runtime/memory/memory.rego"


def files_under(directory: Path) -> list[str]:
    """Every file below `directory`, as sorted relative paths."""
    return sorted(p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file())


def bundle_bytes(directory: Path) -> dict[str, bytes]:
    return dict(read_bundle_files(directory).files)


# --------------------------------------------------------------------------- recording


def test_first_activation_keeps_exactly_the_bundle_files(
    history: PolicyHistory, policy: Path, audit: AuditLog
) -> None:
    version = load_bundle(policy).version
    entry = history.record_activation(version, "startup")

    assert entry is not None
    assert (entry.kind, entry.version, entry.source, entry.from_version) == (
        "policy.activated",
        version,
        "startup",
        None,
    )
    snapshot = history.snapshot_path(version)
    assert files_under(snapshot) == sorted(
        name
        for name in files_under(policy)
        if name.endswith("data.json")
        or (name.endswith(".rego") and not name.endswith("_test.rego"))
    )
    assert AUTHZ_TEST not in files_under(snapshot)
    assert AUTHZ in files_under(snapshot)
    assert bundle_bytes(snapshot) == bundle_bytes(policy)
    assert audit.events(POLICY_STREAM)[0].payload == {
        "from": None,
        "to": version,
        "source": "startup",
        "files_changed": None,
        "snapshot": True,
    }


def test_the_same_version_is_recorded_once(history: PolicyHistory, policy: Path) -> None:
    version = load_bundle(policy).version
    history.record_activation(version, "startup")
    assert history.record_activation(version, "startup") is None
    assert history.record_activation(version, "reload") is None
    assert [e.version for e in history.entries()] == [version]


def test_an_edit_is_a_change_that_names_the_files(
    history: PolicyHistory, policy: Path, audit: AuditLog
) -> None:
    first = load_bundle(policy).version
    history.record_activation(first, "startup")
    grant_planner_python(policy)
    (policy / "extra.rego").write_text("package runtime.extra\n\nanswer := 42\n")
    (policy / AUTHZ_TEST).write_text("package runtime.authz_test\n")  # not a bundle file
    second = load_bundle(policy).version

    entry = history.record_activation(second, "startup")

    assert entry is not None
    assert (entry.kind, entry.from_version, entry.version) == ("policy.changed", first, second)
    assert audit.events(POLICY_STREAM)[-1].payload["files_changed"] == {
        "added": ["extra.rego"],
        "removed": [],
        "modified": ["data.json"],
    }
    assert bundle_bytes(history.snapshot_path(second)) == bundle_bytes(policy)
    assert audit.verify().ok


def test_the_policy_stream_is_not_a_run(
    history: PolicyHistory, policy: Path, audit: AuditLog
) -> None:
    audit.append("run1", "run.start", {"task": "t"})
    history.record_activation(load_bundle(policy).version, "startup")
    audit.append("run2", "run.start", {"task": "u"})
    assert audit.run_ids() == ["run1", "run2"]
    assert [e.kind for e in audit.events()] == ["run.start", "policy.activated", "run.start"]


def test_a_refused_reload_is_recorded_once_per_hash(
    history: PolicyHistory, policy: Path, audit: AuditLog
) -> None:
    version = load_bundle(policy).version
    history.record_activation(version, "startup")
    assert history.record_failure(RELOAD_REFUSED, "sha256:bad", version, "parse error") is True
    assert history.record_failure(RELOAD_REFUSED, "sha256:bad", version, "parse error") is False
    assert history.record_failure(RELOAD_REFUSED, "sha256:worse", version, "other") is True
    # After another version became current, the same broken files are a new attempt.
    grant_planner_python(policy)
    history.record_activation(load_bundle(policy).version, "reload")
    assert history.record_failure(RELOAD_REFUSED, "sha256:bad", version, "parse error") is True
    assert policy_kinds(audit) == [
        "policy.activated",
        "policy.reload_refused",
        "policy.reload_refused",
        "policy.changed",
        "policy.reload_refused",
    ]


# --------------------------------------------------------------------------- rollback


def two_versions(history: PolicyHistory, policy: Path) -> tuple[str, str, dict[str, bytes]]:
    """v1 (the repo's policies) then v2 (planner granted python.run, plus extra.rego)."""
    v1_files = bundle_bytes(policy)
    v1 = load_bundle(policy).version
    history.record_activation(v1, "startup")
    grant_planner_python(policy)
    (policy / "extra.rego").write_text("package runtime.extra\n\nanswer := 42\n")
    v2 = load_bundle(policy).version
    history.record_activation(v2, "reload")
    return v1, v2, v1_files


def test_rollback_restores_the_previous_files_and_leaves_tests_alone(
    history: PolicyHistory, policy: Path, audit: AuditLog
) -> None:
    v1, v2, v1_files = two_versions(history, policy)
    edited_test = "package runtime.authz_test\n\n# edited by hand, must survive\n"
    (policy / AUTHZ_TEST).write_text(edited_test)

    result = history.rollback(None, check=no_check)

    assert (result.from_version, result.to_version) == (v2, v1)
    assert bundle_bytes(policy) == v1_files
    assert not (policy / "extra.rego").exists()
    assert (policy / AUTHZ_TEST).read_text() == edited_test
    assert result.files_changed.model_dump() == {
        "added": [],
        "removed": ["extra.rego"],
        "modified": ["data.json"],
    }
    assert result.tests_left_alone == [n for n in files_under(policy) if n.endswith("_test.rego")]
    assert AUTHZ_TEST in result.tests_left_alone
    assert result.unrecorded_kept is None
    assert not [p for p in policy.rglob(".*")]  # no staging leftovers
    event = audit.events(POLICY_STREAM)[-1]
    assert (event.kind, event.payload["from"], event.payload["to"]) == ("policy.rollback", v2, v1)
    assert [(e.source, e.version) for e in history.entries()] == [
        ("startup", v1),
        ("reload", v2),
        ("rollback", v1),
    ]
    assert audit.verify().ok


def test_rolling_back_twice_goes_back_to_where_it_was(history: PolicyHistory, policy: Path) -> None:
    v1, v2, _ = two_versions(history, policy)
    v2_files = bundle_bytes(policy)
    history.rollback(None, check=no_check)
    result = history.rollback(None, check=no_check)
    assert (result.from_version, result.to_version) == (v1, v2)
    assert bundle_bytes(policy) == v2_files


def test_rollback_to_a_version_by_hash_prefix(history: PolicyHistory, policy: Path) -> None:
    v1, _v2, v1_files = two_versions(history, policy)
    (policy / "data.json").write_text((policy / "data.json").read_text().replace("50", "49"))
    history.record_activation(load_bundle(policy).version, "reload")

    result = history.rollback(v1.removeprefix("sha256:")[:10], check=no_check)

    assert result.to_version == v1
    assert bundle_bytes(policy) == v1_files


def test_rollback_keeps_edits_no_runtime_had_loaded(history: PolicyHistory, policy: Path) -> None:
    two_versions(history, policy)
    (policy / MEMORY).write_text((policy / MEMORY).read_text() + "\n# draft\n")
    draft = read_bundle_files(policy)

    result = history.rollback(None, check=no_check)

    assert result.from_version == draft.version
    assert result.unrecorded_kept == str(history.snapshot_path(draft.version))
    assert bundle_bytes(history.snapshot_path(draft.version)) == dict(draft.files)


def test_rollback_to_a_version_that_does_not_compile_changes_nothing(
    history: PolicyHistory, policy: Path, audit: AuditLog
) -> None:
    two_versions(history, policy)
    before = bundle_bytes(policy)

    def refuse(path: Path) -> None:
        raise PolicyCompileError("1 error occurred: authz.rego:4: rego_parse_error\nmore")

    with pytest.raises(PolicyCompileError) as caught:
        history.rollback(None, check=refuse)

    v1 = history.entries()[0].version
    assert str(caught.value) == (
        f"policy version {short(v1)} does not compile, nothing changed: "
        "1 error occurred: authz.rego:4: rego_parse_error"
    )
    assert bundle_bytes(policy) == before
    assert policy_kinds(audit) == ["policy.activated", "policy.changed"]


def test_rollback_compile_check_uses_the_embedded_engine(
    history: PolicyHistory, policy: Path
) -> None:
    two_versions(history, policy)
    snapshot = history.snapshot_path(history.entries()[0].version)
    compile_check(snapshot, engine="embedded")  # compiles: no exception
    (snapshot / AUTHZ).write_text(BROKEN_AUTHZ)
    with pytest.raises(PolicyCompileError):
        compile_check(snapshot, engine="embedded")


@pytest.mark.parametrize(
    ("to", "message"),
    [
        ("ffff", "no policy version 'ffff' in the history; see `runtime policy history`"),
        ("not-a-hash", "'not-a-hash' is not a policy version; see `runtime policy history`"),
        ("sha256:", "'sha256:' is not a policy version; see `runtime policy history`"),
    ],
)
def test_rollback_to_an_unknown_version_is_refused(
    history: PolicyHistory, policy: Path, to: str, message: str
) -> None:
    two_versions(history, policy)
    before = bundle_bytes(policy)
    with pytest.raises(UserError) as caught:
        history.rollback(to, check=no_check)
    assert str(caught.value) == message
    assert bundle_bytes(policy) == before


def test_rollback_with_one_version_has_nothing_to_go_back_to(
    history: PolicyHistory, policy: Path
) -> None:
    version = load_bundle(policy).version
    history.record_activation(version, "startup")
    with pytest.raises(UserError) as caught:
        history.rollback(None, check=no_check)
    assert str(caught.value) == (
        f"no previous policy version: {short(version)} is the only one recorded"
    )


def test_rollback_without_history_says_how_one_starts(history: PolicyHistory) -> None:
    with pytest.raises(UserError) as caught:
        history.rollback(None, check=no_check)
    assert str(caught.value) == (
        f"no policy version recorded in {history.root}: one is recorded when a runtime "
        "first loads the policies"
    )


def test_rollback_to_the_version_on_disk_is_refused(history: PolicyHistory, policy: Path) -> None:
    _v1, v2, _ = two_versions(history, policy)
    with pytest.raises(UserError) as caught:
        history.rollback(v2, check=no_check)
    assert str(caught.value) == f"{policy} already holds policy version {short(v2)}"


def test_an_altered_snapshot_is_never_written_back(history: PolicyHistory, policy: Path) -> None:
    v1, _v2, _ = two_versions(history, policy)
    before = bundle_bytes(policy)
    tampered = history.snapshot_path(v1) / "data.json"
    tampered.write_text(tampered.read_text().replace("python.run", "python.rum"))
    with pytest.raises(UserError, match=r"^the snapshot of sha256:\w{12} in .* was altered"):
        history.rollback(None, check=no_check)
    assert bundle_bytes(policy) == before


# --------------------------------------------------------------------------- watcher polls


@pytest.fixture
def engine(policy: Path) -> Iterator[EmbeddedEngine]:
    engine = EmbeddedEngine(policy)
    yield engine
    engine.close()


def watcher_for(
    engine: EmbeddedEngine, policy: Path, history: PolicyHistory, changes: list[PolicyChange]
) -> PolicyWatcher:
    history.record_activation(engine.policy_version, "startup")
    watcher = PolicyWatcher(engine, policy, history, interval_s=1.0, on_change=changes.append)
    # Two polls: the first sees a signature, the second finds it settled and unchanged.
    assert watcher.poll() is None
    assert watcher.poll() is None
    return watcher


def test_a_settled_edit_is_reloaded_on_the_second_poll(
    engine: EmbeddedEngine, policy: Path, history: PolicyHistory
) -> None:
    changes: list[PolicyChange] = []
    watcher = watcher_for(engine, policy, history, changes)
    old = engine.policy_version
    authorizer = Authorizer(engine)
    assert authorizer.authorize(PLANNER_RUNS_CODE).allow is False
    grant_planner_python(policy)

    assert watcher.poll() is None  # the edit might still be in progress
    change = watcher.poll()

    new = load_bundle(policy).version
    assert change == PolicyChange(from_version=old, to_version=new, source="reload")
    assert changes == [change]
    assert engine.policy_version == new
    assert authorizer.authorize(PLANNER_RUNS_CODE).allow is True
    assert watcher.poll() is None


def test_a_broken_edit_is_refused_once_and_the_old_policy_stays(
    engine: EmbeddedEngine, policy: Path, history: PolicyHistory, audit: AuditLog
) -> None:
    watcher = watcher_for(engine, policy, history, [])
    old = engine.policy_version
    (policy / AUTHZ).write_text(BROKEN_AUTHZ)
    rejected = read_bundle_files(policy).version

    for _ in range(5):
        assert watcher.poll() is None

    assert engine.policy_version == old
    assert Authorizer(engine).authorize(PLANNER_RUNS_CODE).reasons == [
        "tool python.run is not granted to agent planner"
    ]
    refused = [e.payload for e in audit.events(POLICY_STREAM) if e.kind == RELOAD_REFUSED]
    assert refused == [
        {
            "rejected": rejected,
            "current": old,
            "error": f"regopy could not compile {policy}: {AUTHZ}:3: this is unclosed",
            "detail": f"{AUTHZ}:3: this is unclosed",
        }
    ]


def test_edits_to_test_files_are_not_policy_changes(policy: Path) -> None:
    before = stat_signature(policy)
    (policy / AUTHZ_TEST).write_text("package runtime.authz_test\n")
    assert stat_signature(policy) == before


def test_the_watcher_skips_a_poll_while_a_rollback_holds_the_lock(
    engine: EmbeddedEngine, policy: Path, history: PolicyHistory
) -> None:
    watcher = watcher_for(engine, policy, history, [])
    old = engine.policy_version
    grant_planner_python(policy)
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with history.lock():
            holding.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert holding.wait(30)
        watcher.poll()
        assert watcher.poll() is None
        assert engine.policy_version == old
    finally:
        release.set()
        holder.join(30)
    assert watcher.poll() is not None
    assert engine.policy_version != old


@pytest.mark.parametrize("field", ["policy_watch_interval_s", "policy_cache_size"])
def test_negative_hot_reload_settings_are_refused(field: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(project_dir=tmp_path, **{field: -1})
    assert (
        str(caught.value) == f"invalid setting {field}: Input should be greater than or equal to 0"
    )


def test_hot_reload_settings_defaults(tmp_path: Path) -> None:
    settings = load_settings(project_dir=tmp_path)
    assert (settings.policy_watch_interval_s, settings.policy_cache_size) == (1.0, 10_000)
