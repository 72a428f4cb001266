"""`runtime policy test|check|eval|history|rollback`: the policy folder and its versions."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from runtime.cli.common import DebugOpt, JsonOpt, ProjectOpt, audit_log, command, settings_for
from runtime.cli.output import err, print_json, say
from runtime.errors import UserError
from runtime.settings import Settings

if TYPE_CHECKING:
    from runtime.audit.store import AuditLog
    from runtime.policy.versions import PolicyHistory

policy = typer.Typer()


@command(policy, "test")
def policy_test(project: ProjectOpt = None, debug: DebugOpt = False) -> int:
    """Run `opa test` on the policy folder; exits with its status."""
    from runtime.policy.bundle import opa_test

    result = opa_test(settings_for(project).resolved_policy_dir)
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    return result.returncode


@command(policy, "check")
def policy_check(project: ProjectOpt = None, debug: DebugOpt = False) -> int:
    """Compile the policies strictly (`opa check --strict`)."""
    from runtime.policy.bundle import check_bundle, load_bundle

    bundle = load_bundle(settings_for(project).resolved_policy_dir)
    check_bundle(bundle)
    say(f"policies compile; bundle {bundle.version}")
    return 0


@command(policy, "eval")
def policy_eval(
    input_file: Annotated[
        Path,
        typer.Option(
            "--input",
            help="The input document: a PolicyInput (authz), a MemoryAccessInput (memory) "
            "or a safety input (safety), as JSON.",
        ),
    ],
    engine: Annotated[str, typer.Option("--engine", help="opa or embedded.")] = "opa",
    entrypoint: Annotated[
        str, typer.Option("--entrypoint", help="authz, memory or safety.")
    ] = "authz",
    as_json: Annotated[
        bool, typer.Option("--json", help='Print {"decision": {...}, "rules": [...]}.')
    ] = False,
    project: ProjectOpt = None,
    debug: DebugOpt = False,
) -> int:
    """Evaluate one input against the policies; print the decision and the rules that produced it."""
    from runtime.core import build_policy_engine
    from runtime.policy.explain import ENTRYPOINTS, explain_decision

    if entrypoint not in ENTRYPOINTS:
        raise UserError(f"unknown entrypoint {entrypoint!r}: use one of {', '.join(ENTRYPOINTS)}")
    try:
        document = json.loads(input_file.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"cannot read {input_file} as JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise UserError(f"{input_file} holds JSON but not an object")
    policy_engine = build_policy_engine(settings_for(project, policy_engine=engine))
    try:
        explained = explain_decision(policy_engine, entrypoint, document)
    finally:
        policy_engine.close()
    if as_json:
        print_json(json.dumps(explained.document(), indent=2, ensure_ascii=False))
    else:
        _print_explained(explained)
        _print_provenance(document.get("provenance") if entrypoint == "authz" else None)
    return 0 if explained.outcome in ("allow", "pass", "redact") else 3


def _print_provenance(provenance: Any) -> None:
    """Where each argument of the input came from (schema 2 or 1)."""
    from runtime.provenance.show import provenance_lines

    lines = provenance_lines(provenance)
    if lines:
        say("argument provenance:")
        for line in lines:
            say(f"  {line}")


def _print_explained(explained: Any) -> None:
    """The decision, then the rules that produced it with their locations and values."""
    decision = explained.decision
    where = f" ({decision['engine']}, {decision['policy_version']})" if "engine" in decision else ""
    say(f"{explained.outcome}{where}")
    for reason in decision.get("reasons", []):
        say(f"  - {reason}")
    for alternative in decision.get("alternatives", []):
        say(f"  safe alternative: {alternative}")
    if decision.get("obligations"):
        say(f"  obligations: {json.dumps(decision['obligations'])}")
    if not explained.rules:
        say(f"produced by: unknown ({explained.note or 'no rule found'})")
        return
    say("produced by:")
    entry, *read = explained.rules
    say(f"  {entry.rule}  {entry.location or '?'}")
    for hit in read:
        value = json.dumps(hit.value, ensure_ascii=False)
        value = value if len(value) <= 200 else value[:199] + "…"
        say(f"  {hit.rule}  {hit.location or '?'}  {value}")


def _policy_history(log: AuditLog, settings: Settings) -> PolicyHistory:
    from runtime.policy.versions import PolicyHistory

    return PolicyHistory(settings.resolved_state_dir, log, settings.resolved_policy_dir)


def _print_policy_events(rows: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        print_json(rows)
        return
    for row in reversed(rows):
        detail = {k: v for k, v in row.items() if k not in ("seq", "ts", "kind")}
        say(f"{row['ts'][:19]}  {row['kind']:<21} {json.dumps(detail)}")


def _print_history(entries: list[Any], settings: Settings, on_disk: str) -> None:
    from runtime.policy.versions import short

    current = entries[-1].version if entries else None
    for index, entry in enumerate(reversed(entries)):
        mark = "*" if index == 0 else " "
        changed = entry.files_changed or {}
        files = ", ".join(
            f"{sign}{name}"
            for sign, key in (("+", "added"), ("-", "removed"), ("~", "modified"))
            for name in changed.get(key, [])
        )
        say(
            f"{mark} {short(entry.version)}  {entry.ts[:19]}  {entry.source:<8}  "
            f"from {short(entry.from_version):<19}  {files}".rstrip()
        )
    if on_disk != current:
        say(
            f"  {settings.resolved_policy_dir} now holds {short(on_disk)}, which no runtime "
            "has loaded yet"
        )


@command(policy, "history")
def policy_history(
    events: Annotated[
        bool, typer.Option("--events", help="Every policy event, refused reloads included.")
    ] = False,
    as_json: JsonOpt = False,
    project: ProjectOpt = None,
    debug: DebugOpt = False,
) -> int:
    """The policy versions this project has run with, newest first; `*` marks the current one."""
    from runtime.policy.versions import read_bundle_files

    settings = settings_for(project)
    entries: list[Any] = []
    with audit_log(settings) as log:
        if log is not None:
            history = _policy_history(log, settings)
            if events:
                _print_policy_events(history.events(), as_json)
                return 0
            entries = history.entries()
        elif events:
            _print_policy_events([], as_json)
            return 0
    on_disk = read_bundle_files(settings.resolved_policy_dir).version
    if as_json:
        print_json(
            {
                "current": entries[-1].version if entries else None,
                "policy_dir": str(settings.resolved_policy_dir),
                "on_disk": on_disk,
                "versions": [e.model_dump() for e in reversed(entries)],
            }
        )
        return 0
    if not entries:
        say(
            "no policy version recorded yet: one is recorded when a runtime first loads "
            "the policies"
        )
        return 0
    _print_history(entries, settings, on_disk)
    return 0


@command(policy, "rollback")
def policy_rollback(
    to: Annotated[
        str | None,
        typer.Option(
            "--to", help="A version from `runtime policy history` (a hash prefix will do)."
        ),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    as_json: JsonOpt = False,
    project: ProjectOpt = None,
    debug: DebugOpt = False,
) -> int:
    """Write the previous policy version (or --to VERSION) back into the policy folder.

    The version is compile-checked first. Only bundle files (.rego, data.json) are replaced;
    *_test.rego files are left as they are. A running runtime hot-reloads the result.
    """
    from runtime.policy.versions import compile_check, short

    settings = settings_for(project)
    binary = Path(settings.opa_binary) if settings.opa_binary else None
    with audit_log(settings) as log:
        if log is None:
            raise UserError(
                f"no policy version recorded in {settings.resolved_state_dir / 'policy'}: one "
                "is recorded when a runtime first loads the policies"
            )
        history = _policy_history(log, settings)
        plan = history.plan_rollback(to)
        if not yes:
            if not sys.stdin.isatty():
                raise UserError(
                    f"rollback rewrites the policy files in {plan.policy_dir}: pass --yes "
                    "to confirm"
                )
            if not typer.confirm(
                f"Write policy version {short(plan.to_version)} over "
                f"{short(plan.from_version)} in {plan.policy_dir}?"
            ):
                err.print("nothing changed")
                return 1
        result = history.rollback(
            plan.to_version,
            check=lambda path: compile_check(
                path, engine=settings.policy_engine, opa_binary=binary
            ),
        )
    if as_json:
        print_json(result.model_dump_json(indent=2))
        return 0
    say(f"{short(result.from_version)} -> {short(result.to_version)}")
    changed = result.files_changed
    for label, names in (
        ("added", changed.added),
        ("removed", changed.removed),
        ("restored", changed.modified),
    ):
        if names:
            say(f"  {label}: {', '.join(names)}")
    if result.tests_left_alone:
        say(f"  left alone (tests are not part of a version): {', '.join(result.tests_left_alone)}")
    if result.unrecorded_kept:
        say(f"  the edits no runtime had loaded are kept in {result.unrecorded_kept}")
    return 0
