"""The `runtime` command: parses, calls into the modules, prints. No logic lives here.

Exit codes: 0 completed, 1 failed, 2 bad input, 3 blocked, 4 awaiting approval,
5 a part of the machine is missing (Docker, OPA, the sandbox image).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from runtime.errors import AgentRuntimeError
from runtime.settings import Settings, load_settings

EXIT_BY_STATUS = {"completed": 0, "failed": 1, "blocked": 3, "awaiting_approval": 4}

app = typer.Typer(
    name="runtime",
    help="Run multi-agent tasks with every tool call authorized, sandboxed, checked and audited.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
policy_app = typer.Typer(
    help="Policies in rego/: test, check, eval, history, rollback.", no_args_is_help=True
)
sandbox_app = typer.Typer(help="Sandbox image and containers.", no_args_is_help=True)
runs_app = typer.Typer(help="Past runs and their timelines.", no_args_is_help=True)
audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)
app.add_typer(policy_app, name="policy")
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(runs_app, name="runs")
app.add_typer(audit_app, name="audit")

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
T = TypeVar("T")

ProjectOpt = Annotated[
    Path | None, typer.Option("--project", help="Project folder (agents/, rego/, runtime.toml).")
]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show tracebacks.")]


def _settings(project: Path | None, **overrides: Any) -> Settings:
    return load_settings(project_dir=project.resolve() if project else None, **overrides)


@contextmanager
def _audit_log(project: Path | None) -> Iterator[Any]:
    from runtime.audit.store import AuditLog

    log = AuditLog(_settings(project).resolved_state_dir / "audit.db")
    try:
        yield log
    finally:
        log.close()


def _guard(debug: bool, action: Callable[[], T]) -> T:
    """Run a command body; a known error becomes one line on stderr and its exit code."""
    try:
        return action()
    except AgentRuntimeError as exc:
        if debug:
            raise
        # One line: details (e.g. OPA's full compiler output) are for --debug.
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        err.print(f"error: {first}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        err.print("interrupted")
        raise typer.Exit(130) from None
    except Exception as exc:
        if debug:
            raise
        err.print(
            f"internal error: {type(exc).__name__}: {exc} (run again with --debug for the traceback)",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(1) from None


# ---------------------------------------------------------------------------- exec


@app.command("exec")
def exec_command(
    task: Annotated[str, typer.Argument(help="What the team should do.")],
    team: Annotated[str, typer.Option("--team", "-t", help="Team name from agents/.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    input_dir: Annotated[
        Path | None, typer.Option("--input", help="Folder copied into /workspace (untrusted).")
    ] = None,
    output_dir: Annotated[
        Path | None, typer.Option("--output", help="Where committed files go.")
    ] = None,
    engine: Annotated[
        str | None, typer.Option("--engine", help="Policy engine: opa or embedded.")
    ] = None,
    project: ProjectOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Run TASK with a team; every tool call is authorized, sandboxed, checked and audited."""
    from runtime.core import Runtime

    def body() -> int:
        settings = _settings(project, policy_engine=engine)
        live = not as_json and err.is_terminal
        with Runtime(settings) as rt:
            result = rt.exec(
                task,
                team,
                input_dir=input_dir,
                output_dir=output_dir,
                on_step=_print_progress if live else None,
            )
        if as_json:
            print(result.model_dump_json(indent=2))
        else:
            _print_run(result)
        return EXIT_BY_STATUS[result.status]

    raise typer.Exit(_guard(debug, body))


def _print_progress(step: Any) -> None:
    """Live progress on an interactive terminal; pipes get only the final result."""
    err.print(
        f"[dim]#{step.step} {step.agent} {step.tool}: {step.decision}"
        f"{' / ' + step.verdict if step.verdict else ''} ({step.duration_ms:.0f} ms)[/dim]",
        highlight=False,
    )


def _print_run(result: Any) -> None:
    table = Table(title=f"run {result.run_id}", show_lines=False)
    for column in ("#", "agent", "tool", "decision", "verdict", "sandbox", "ms"):
        table.add_column(column)
    for step in result.steps:
        table.add_row(
            str(step.step),
            step.agent,
            step.tool,
            step.decision,
            step.verdict or "-",
            (step.sandbox_id or "-")[:12],
            f"{step.duration_ms:.1f}",
        )
    out.print(table)
    if result.status == "completed":
        out.print(result.output, markup=False)
        out.print(f"[green]completed[/green]; committed files in {result.output_dir}")
    else:
        err.print(
            f"{result.status}: {result.reason}", markup=False, highlight=False, soft_wrap=True
        )
        for alternative in result.alternatives:
            err.print(
                f"safe alternative: {alternative}", markup=False, highlight=False, soft_wrap=True
            )


# ---------------------------------------------------------------------------- approvals


def _answer(
    run_id: str,
    *,
    approved: bool,
    by: str | None,
    reason: str,
    step: int | None,
    as_json: bool,
    project: Path | None,
    debug: bool,
) -> None:
    import getpass

    from runtime.core import Runtime

    def body() -> int:
        with Runtime(_settings(project)) as rt:
            result = rt.resume(
                run_id,
                approved=approved,
                by=by or getpass.getuser(),
                reason=reason,
                step=step,
                on_step=_print_progress if not as_json and err.is_terminal else None,
            )
        if as_json:
            print(result.model_dump_json(indent=2))
        else:
            _print_run(result)
        return EXIT_BY_STATUS[result.status]

    raise typer.Exit(_guard(debug, body))


@app.command("approve")
def approve_command(
    run_id: str,
    step: Annotated[int | None, typer.Option("--step", help="The step you are approving.")] = None,
    by: Annotated[
        str | None, typer.Option("--by", help="Who answers (default: your user).")
    ] = None,
    reason: Annotated[str, typer.Option("--reason")] = "",
    as_json: Annotated[bool, typer.Option("--json")] = False,
    project: ProjectOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Approve the call a paused run waits on, and resume the run."""
    _answer(
        run_id,
        approved=True,
        by=by,
        reason=reason,
        step=step,
        as_json=as_json,
        project=project,
        debug=debug,
    )


@app.command("deny")
def deny_command(
    run_id: str,
    reason: Annotated[str, typer.Option("--reason", help="Why; recorded in the audit.")],
    step: Annotated[int | None, typer.Option("--step")] = None,
    by: Annotated[
        str | None, typer.Option("--by", help="Who answers (default: your user).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    project: ProjectOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Deny the call a paused run waits on; the run stops cleanly as blocked."""
    _answer(
        run_id,
        approved=False,
        by=by,
        reason=reason,
        step=step,
        as_json=as_json,
        project=project,
        debug=debug,
    )


@runs_app.command("resume")
def runs_resume(
    run_id: str,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    project: ProjectOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Continue an interrupted run (its process died) from its last checkpoint."""
    from runtime.core import Runtime

    def body() -> int:
        with Runtime(_settings(project)) as rt:
            result = rt.recover(
                run_id, on_step=_print_progress if not as_json and err.is_terminal else None
            )
        if as_json:
            print(result.model_dump_json(indent=2))
        else:
            _print_run(result)
        return EXIT_BY_STATUS[result.status]

    raise typer.Exit(_guard(debug, body))


@runs_app.command("pending")
def runs_pending(
    as_json: Annotated[bool, typer.Option("--json")] = False,
    project: ProjectOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Runs paused on an approval: the action, its provenance and the reasons."""

    def body() -> int:
        from runtime.core import Runtime

        with Runtime(_settings(project)) as rt:
            waiting = rt.pending()
        if as_json:
            print(json.dumps(waiting, indent=2))
            return 0
        if not waiting:
            out.print("no run is waiting for approval")
        for item in waiting:
            kind = item.get("kind", "approval")
            what = {
                "escalation": f"{item['agent']}'s {item['tool']} was escalated by the safety check",
                "answer": f"{item['agent']}'s final answer was escalated by the safety check",
            }.get(kind, f"{item['agent']} wants {item['tool']}")
            staged = ", ".join(item.get("files", []) + item.get("memory_writes", []))
            findings = ", ".join(
                f"{f['type']} at {f['location']} ({f['severity']})"
                for f in item.get("findings", [])
            )
            out.print(
                f"{item['run_id']} step {item['step']}: {what}\n"
                f"  args: {json.dumps(item['args'])[:400]}\n"
                + (f"  staged: {staged}\n" if staged else "")
                + (f"  findings: {findings}\n" if findings else "")
                + f"  reasons: {'; '.join(item['reasons'])}\n"
                f"  argument provenance: {item['provenance']}\n"
                f"  untrusted sources seen: {', '.join(item['untrusted_sources_seen']) or 'none'}",
                markup=False,
                highlight=False,
            )
        return 0

    raise typer.Exit(_guard(debug, body))


# ---------------------------------------------------------------------------- doctor


@app.command("doctor")
def doctor_command(project: ProjectOpt = None, debug: DebugOpt = False) -> None:
    """List each part the runtime needs as present or missing, with the fix."""
    from runtime.doctor import run_checks

    def body() -> int:
        checks = run_checks(_settings(project))
        missing = 0
        for check in checks:
            mark = "[green]present[/green]" if check.ok else "[red]missing[/red]"
            out.print(f"{mark}  {check.name}: {check.detail}", highlight=False)
            if not check.ok:
                missing += 1
                out.print(f"         fix: {check.fix}", markup=False, highlight=False)
        return 5 if missing else 0

    raise typer.Exit(_guard(debug, body))


# ---------------------------------------------------------------------------- init


@app.command("init")
def init_command(
    directory: Annotated[Path, typer.Argument(help="Folder for the new project.")],
    debug: DebugOpt = False,
) -> None:
    """Write a working project: a team, a custom tool, policies with tests, a pytest file."""
    from runtime.scaffold import init_project

    def body() -> int:
        written = init_project(directory)
        print(
            f"wrote {len(written)} files into {directory}; try: cd {directory} && runtime exec "
            "'Suggest a file name for: Quarterly Report' --team hello"
        )
        return 0

    raise typer.Exit(_guard(debug, body))


# ---------------------------------------------------------------------------- policy


@policy_app.command("test")
def policy_test(project: ProjectOpt = None, debug: DebugOpt = False) -> None:
    """Run `opa test` on the policy folder; exits with its status."""
    from runtime.policy.bundle import opa_test

    def body() -> int:
        settings = _settings(project)
        result = opa_test(settings.resolved_policy_dir)
        sys.stdout.write(result.stdout)
        sys.stderr.write(result.stderr)
        return result.returncode

    raise typer.Exit(_guard(debug, body))


@policy_app.command("check")
def policy_check(project: ProjectOpt = None, debug: DebugOpt = False) -> None:
    """Compile the policies strictly (`opa check --strict`)."""
    from runtime.policy.bundle import check_bundle, load_bundle

    def body() -> int:
        settings = _settings(project)
        bundle = load_bundle(settings.resolved_policy_dir)
        check_bundle(bundle)
        out.print(f"policies compile; bundle {bundle.version}", highlight=False)
        return 0

    raise typer.Exit(_guard(debug, body))


@policy_app.command("eval")
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
) -> None:
    """Evaluate one input against the policies; print the decision and the rules that produced it."""
    from runtime.core import build_policy_engine
    from runtime.errors import UserError
    from runtime.policy.explain import ENTRYPOINTS, explain_decision

    def body() -> int:
        if entrypoint not in ENTRYPOINTS:
            raise UserError(
                f"unknown entrypoint {entrypoint!r}: use one of {', '.join(ENTRYPOINTS)}"
            )
        try:
            document = json.loads(input_file.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise UserError(f"cannot read {input_file} as JSON: {exc}") from exc
        if not isinstance(document, dict):
            raise UserError(f"{input_file} holds JSON but not an object")
        policy_engine = build_policy_engine(_settings(project, policy_engine=engine))
        try:
            explained = explain_decision(policy_engine, entrypoint, document)
        finally:
            policy_engine.close()
        if as_json:
            print(json.dumps(explained.document(), indent=2, ensure_ascii=False))
        else:
            _print_explained(explained)
        return 0 if explained.outcome in ("allow", "pass", "redact") else 3

    raise typer.Exit(_guard(debug, body))


def _print_explained(explained: Any) -> None:
    """The decision, then the rules that produced it with their locations and values."""
    decision = explained.decision
    where = f" ({decision['engine']}, {decision['policy_version']})" if "engine" in decision else ""
    out.print(f"{explained.outcome}{where}", markup=False, highlight=False)
    for reason in decision.get("reasons", []):
        out.print(f"  - {reason}", markup=False, highlight=False)
    for alternative in decision.get("alternatives", []):
        out.print(f"  safe alternative: {alternative}", markup=False, highlight=False)
    if decision.get("obligations"):
        out.print(f"  obligations: {json.dumps(decision['obligations'])}", markup=False)
    if not explained.rules:
        out.print(f"produced by: unknown ({explained.note or 'no rule found'})", markup=False)
        return
    out.print("produced by:")
    entry, *read = explained.rules
    out.print(f"  {entry.rule}  {entry.location or '?'}", markup=False, highlight=False)
    for hit in read:
        value = json.dumps(hit.value, ensure_ascii=False)
        value = value if len(value) <= 200 else value[:199] + "…"
        out.print(f"  {hit.rule}  {hit.location or '?'}  {value}", markup=False, highlight=False)


def _policy_history(log: Any, settings: Settings) -> Any:
    from runtime.policy.versions import PolicyHistory

    return PolicyHistory(settings.resolved_state_dir, log, settings.resolved_policy_dir)


def _print_policy_events(rows: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    for row in reversed(rows):
        detail = {k: v for k, v in row.items() if k not in ("seq", "ts", "kind")}
        out.print(
            f"{row['ts'][:19]}  {row['kind']:<21} {json.dumps(detail)}",
            markup=False,
            highlight=False,
        )


@policy_app.command("history")
def policy_history(
    events: Annotated[
        bool, typer.Option("--events", help="Every policy event, refused reloads included.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    project: ProjectOpt = None,
    debug: DebugOpt = False,
) -> None:
    """The policy versions this project has run with, newest first; `*` marks the current one."""
    from runtime.policy.versions import read_bundle_files, short

    def body() -> int:
        settings = _settings(project)
        with _audit_log(project) as log:
            history = _policy_history(log, settings)
            if events:
                _print_policy_events(history.events(), as_json)
                return 0
            entries = history.entries()
        on_disk = read_bundle_files(settings.resolved_policy_dir).version
        current = entries[-1].version if entries else None
        if as_json:
            print(
                json.dumps(
                    {
                        "current": current,
                        "policy_dir": str(settings.resolved_policy_dir),
                        "on_disk": on_disk,
                        "versions": [e.model_dump() for e in reversed(entries)],
                    },
                    indent=2,
                )
            )
            return 0
        if not entries:
            out.print(
                "no policy version recorded yet: one is recorded when a runtime first loads "
                "the policies",
                markup=False,
                highlight=False,
            )
            return 0
        for index, entry in enumerate(reversed(entries)):
            mark = "*" if index == 0 else " "
            changed = entry.files_changed or {}
            files = ", ".join(
                f"{sign}{name}"
                for sign, key in (("+", "added"), ("-", "removed"), ("~", "modified"))
                for name in changed.get(key, [])
            )
            out.print(
                f"{mark} {short(entry.version)}  {entry.ts[:19]}  {entry.source:<8}  "
                f"from {short(entry.from_version):<19}  {files}".rstrip(),
                markup=False,
                highlight=False,
            )
        if on_disk != current:
            out.print(
                f"  {settings.resolved_policy_dir} now holds {short(on_disk)}, which no runtime "
                "has loaded yet",
                markup=False,
                highlight=False,
            )
        return 0

    raise typer.Exit(_guard(debug, body))


@policy_app.command("rollback")
def policy_rollback(
    to: Annotated[
        str | None,
        typer.Option(
            "--to", help="A version from `runtime policy history` (a hash prefix will do)."
        ),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    project: ProjectOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Write the previous policy version (or --to VERSION) back into the policy folder.

    The version is compile-checked first. Only bundle files (.rego, data.json) are replaced;
    *_test.rego files are left as they are. A running runtime hot-reloads the result.
    """
    from runtime.errors import UserError
    from runtime.policy.versions import compile_check, short

    def body() -> int:
        settings = _settings(project)
        binary = Path(settings.opa_binary) if settings.opa_binary else None
        with _audit_log(project) as log:
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
            print(result.model_dump_json(indent=2))
            return 0
        out.print(f"{short(result.from_version)} -> {short(result.to_version)}", highlight=False)
        changed = result.files_changed
        for label, names in (
            ("added", changed.added),
            ("removed", changed.removed),
            ("restored", changed.modified),
        ):
            if names:
                out.print(f"  {label}: {', '.join(names)}", markup=False, highlight=False)
        if result.tests_left_alone:
            out.print(
                f"  left alone (tests are not part of a version): {', '.join(result.tests_left_alone)}",
                markup=False,
                highlight=False,
            )
        if result.unrecorded_kept:
            out.print(
                f"  the edits no runtime had loaded are kept in {result.unrecorded_kept}",
                markup=False,
                highlight=False,
            )
        return 0

    raise typer.Exit(_guard(debug, body))


# ---------------------------------------------------------------------------- sandbox


@sandbox_app.command("build")
def sandbox_build(
    dockerfile: Annotated[
        bool, typer.Option("--dockerfile", help="Build from sandbox/Dockerfile (needs a registry).")
    ] = False,
    debug: DebugOpt = False,
) -> None:
    """Build the sandbox image (offline debootstrap by default); skipped when present."""
    from runtime.sandbox.operator import build_image_cli

    raise typer.Exit(_guard(debug, lambda: build_image_cli(dockerfile=dockerfile, say=err.print)))


@sandbox_app.command("ls")
def sandbox_ls(debug: DebugOpt = False) -> None:
    """List the runtime's sandbox containers."""
    from runtime.sandbox.operator import list_sandboxes

    def body() -> int:
        rows = list_sandboxes()
        table = Table()
        for column in ("id", "run", "status", "owner pid", "image"):
            table.add_column(column)
        for row in rows:
            table.add_row(
                *[str(row.get(k, "")) for k in ("id", "run", "status", "owner_pid", "image")]
            )
        out.print(table)
        return 0

    raise typer.Exit(_guard(debug, body))


@sandbox_app.command("prune")
def sandbox_prune(
    everything: Annotated[
        bool, typer.Option("--all", help="Also remove boxes of live runtimes.")
    ] = False,
    debug: DebugOpt = False,
) -> None:
    """Remove sandbox containers left behind by runtimes that are gone."""
    from runtime.sandbox.operator import prune_sandboxes

    def body() -> int:
        removed = prune_sandboxes(everything=everything)
        out.print(f"removed {removed} sandbox container(s)")
        return 0

    raise typer.Exit(_guard(debug, body))


@sandbox_app.command(
    "run", context_settings={"allow_extra_args": True, "ignore_unknown_options": True}
)
def sandbox_run(
    ctx: typer.Context,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds before the work is killed.")
    ] = 30.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    debug: DebugOpt = False,
) -> None:
    """Run `-- CMD ...` in a throwaway sandbox with the default settings."""
    from runtime.sandbox.operator import run_once

    def body() -> int:
        argv = list(ctx.args)
        if not argv:
            from runtime.errors import UserError

            raise UserError("give a command after --, e.g. runtime sandbox run -- id -u")
        result = run_once(argv, timeout_s=timeout)
        if as_json:
            doc = result.model_dump(mode="json")
            doc["truncated"] = result.truncated
            print(json.dumps(doc, indent=2))
        else:
            sys.stdout.write(result.stdout)
            sys.stderr.write(result.stderr)
        return result.exit_code if 0 <= result.exit_code < 256 else 1

    raise typer.Exit(_guard(debug, body))


# ---------------------------------------------------------------------------- runs, audit


@runs_app.command("list")
def runs_list(project: ProjectOpt = None, debug: DebugOpt = False) -> None:
    """List runs recorded in the audit log."""
    from runtime.runs import run_status

    def body() -> int:
        with _audit_log(project) as log:
            for run_id in log.run_ids():
                events = log.events(run_id)
                start = events[0].payload if events else {}
                status = run_status(events, log.path.parent, run_id)
                out.print(
                    f"{run_id}  {start.get('team', '?'):<10} {status:<18} "
                    f"{str(start.get('task', ''))[:60]}",
                    markup=False,
                    highlight=False,
                )
        return 0

    raise typer.Exit(_guard(debug, body))


@runs_app.command("show")
def runs_show(
    run_id: str,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    project: ProjectOpt = None,
    debug: DebugOpt = False,
) -> None:
    """The timeline of one run: every proposal, decision, execution, verdict and commit."""
    from runtime.audit.store import is_system_stream
    from runtime.errors import RunNotFound

    def body() -> int:
        if is_system_stream(run_id):
            raise RunNotFound(
                f"{run_id!r} is not a run; policy changes: `runtime policy history --events`"
            )
        with _audit_log(project) as log:
            events = log.events(run_id)
        if not events:
            raise RunNotFound(f"no run {run_id!r} in the audit log; see `runtime runs list`")
        if as_json:
            print(json.dumps([e.model_dump(mode="json") for e in events], indent=2))
            return 0
        for event in events:
            where = (
                f"{event.agent or '':<8} #{event.step}"
                if event.step
                else f"{event.agent or '':<8}   "
            )
            summary = {k: v for k, v in event.payload.items() if k not in ("args", "provenance")}
            out.print(
                f"{event.seq:>5} {event.ts[11:23]} {event.kind:<16} {where} {json.dumps(summary)[:140]}",
                markup=False,
                highlight=False,
            )
        return 0

    raise typer.Exit(_guard(debug, body))


@audit_app.command("verify")
def audit_verify(project: ProjectOpt = None, debug: DebugOpt = False) -> None:
    """Recompute the hash chain; exit 1 and name the first bad event if it was tampered with."""

    def body() -> int:
        with _audit_log(project) as log:
            report = log.verify()
        if report.ok:
            out.print(f"audit log intact: {report.events} events")
            return 0
        err.print(f"audit log tampered: {report.problem}", markup=False)
        return 1

    raise typer.Exit(_guard(debug, body))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
