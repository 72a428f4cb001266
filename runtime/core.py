"""The one place where stages are wired together: a `Runtime` built from Settings.

Everything the pipeline needs (policy engine, sandbox backend, memory, safety checker,
audit, tools) is constructed here and handed down; nothing deeper reaches for globals.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runtime.agents import Team, load_team
from runtime.audit.store import AuditLog, is_system_stream
from runtime.errors import ConfigError, RunNotFound, UserError
from runtime.factories import build_policy_engine, sandbox_spec
from runtime.graph import GraphBuilder
from runtime.graph_state import checkpoint_serializer
from runtime.held import HeldStore
from runtime.lazy import LazyMemory, LazySandboxBackend
from runtime.llm import Model, resolve_model
from runtime.models import RunResult, StepReport, Usage
from runtime.paused import held_store, pause_reason, pending_request, pending_runs
from runtime.pipeline import Pipeline, RunContext
from runtime.record import final_status, outcome
from runtime.run_context import input_files, run_labels
from runtime.runs import RunLock, run_status
from runtime.settings import Settings
from runtime.staging import StagingArea
from runtime.state import ensure_state_dir, open_private_db
from runtime.telemetry import Telemetry
from runtime.tools import ToolRegistry, project_registry

# build_policy_engine is re-exported for the commands that need only the engine.
__all__ = ["Runtime", "build_policy_engine", "sandbox_spec"]

if TYPE_CHECKING:
    from runtime.policy.authorizer import Authorizer
    from runtime.policy.cache import DecisionCache
    from runtime.policy.versions import PolicyHistory
    from runtime.policy.watcher import PolicyChange, PolicyWatcher


class Runtime:
    """Owns the long-lived parts; `exec` runs one task; `close` stops what it started."""

    def __init__(self, settings: Settings, *, telemetry: Telemetry | None = None) -> None:
        self.settings = settings
        self.state_dir = settings.resolved_state_dir
        ensure_state_dir(self.state_dir)
        self.audit = AuditLog(self.state_dir / "audit.db")
        self.registry: ToolRegistry = project_registry(settings.project_dir)
        self._closers: list[Any] = []
        self._engine: Any = None
        self._backend: Any = None
        self._memory: Any = None
        self._saver: Any = None
        self._decision_cache: DecisionCache | None = None
        self._policy_history: PolicyHistory | None = None
        self.policy_watcher: PolicyWatcher | None = None
        # Runs this process is driving: a hot reload is noted in each of them.
        self._active_runs: set[str] = set()
        self._runs_lock = threading.Lock()
        self._parts_lock = threading.RLock()  # runs on threads share one of each part
        # OTLP when an endpoint is set, else spans and instruments that do nothing.
        self.telemetry = telemetry or (
            Telemetry.otlp(settings.otel_endpoint)
            if settings.otel_endpoint
            else Telemetry.disabled()
        )
        if telemetry is None:
            self._closers.append(self.telemetry.shutdown)

    # -------------------------------------------------------------- lazily built stages

    def policy_engine(self) -> Any:
        with self._parts_lock:
            if self._engine is None:
                self._engine = build_policy_engine(self.settings)
                self._closers.append(self._engine.close)
                self._watch_policies(self._engine)
        return self._engine

    def policy_history(self) -> PolicyHistory:
        if self._policy_history is None:
            from runtime.policy.versions import PolicyHistory

            self._policy_history = PolicyHistory(
                self.state_dir, self.audit, self.settings.resolved_policy_dir
            )
        return self._policy_history

    def _watch_policies(self, engine: Any) -> None:
        """Record the version the engine started with (edits between runs are changes
        too), then hot-reload the policy folder unless `policy_watch_interval_s` is 0."""
        from runtime.policy.watcher import PolicyWatcher

        history = self.policy_history()
        history.record_activation(engine.policy_version, "startup")
        if self.settings.policy_watch_interval_s > 0 and hasattr(engine, "reload"):
            self.policy_watcher = PolicyWatcher(
                engine,
                self.settings.resolved_policy_dir,
                history,
                interval_s=self.settings.policy_watch_interval_s,
                on_change=self._note_policy_change,
            )
            self.policy_watcher.start()
            # Closers run in reverse: the watcher stops before the engine closes.
            self._closers.append(self.policy_watcher.stop)

    def _note_policy_change(self, change: PolicyChange) -> None:
        """A hot reload, in the timeline of every run this process is driving."""
        with self._runs_lock:
            active = sorted(self._active_runs)
        payload = {"from": change.from_version, "to": change.to_version, "source": change.source}
        for run_id in active:
            self.audit.append(run_id, "policy.changed", payload)

    def decision_cache(self) -> DecisionCache | None:
        """One LRU per Runtime (`policy_cache_size`, 0 = none), shared by its authorizers."""
        if self._decision_cache is None and self.settings.policy_cache_size > 0:
            from runtime.policy.cache import DecisionCache

            self._decision_cache = DecisionCache(self.settings.policy_cache_size)
        return self._decision_cache

    def authorizer(self) -> Authorizer:
        from runtime.policy.authorizer import Authorizer

        return Authorizer(self.policy_engine(), cache=self.decision_cache())

    def sandbox_backend(self) -> Any:
        with self._parts_lock:
            if self._backend is None:
                from runtime.sandbox.docker import DockerBackend

                # Boxes left by a crashed runtime are reaped before this one starts any.
                self._backend = DockerBackend(
                    spec=sandbox_spec(self.settings),
                    pool_size=self.settings.sandbox_pool_size,
                    reap_orphans=True,
                )
                self._closers.append(self._backend.close)
        return self._backend

    def memory(self) -> Any:
        with self._parts_lock:
            if self._memory is None:
                from runtime.memory.chroma import ChromaMemory

                self._memory = ChromaMemory(self.state_dir / "memory")
        return self._memory

    def pipeline(self) -> Pipeline:
        from runtime.safety.checker import default_checker

        authorizer = self.authorizer()
        return Pipeline(
            authorizer=authorizer,
            # Docker and Chroma start on first use: a host-tools run needs neither.
            backend=LazySandboxBackend(self.sandbox_backend),
            memory=LazyMemory(self.memory),
            checker=default_checker(
                rules=authorizer.safety_verdict,
                deadline_s=self.settings.safety_deadline_s,
                on_timeout=self.settings.safety_on_timeout,
                on_unredactable=self.settings.safety_on_unredactable,
            ),
            audit=self.audit,
            registry=self.registry,
            call_timeout_s=self.settings.sandbox_call_timeout_s,
            telemetry=self.telemetry,
        )

    # -------------------------------------------------------------- running a task

    def load_team(self, name: str) -> tuple[Team, dict[str, Model]]:
        team = load_team(self.settings.agents_dir, name)
        base = Path(team.source).parent
        chosen = self.settings.model  # RUNTIME_MODEL replaces every agent's model
        models = {a.name: resolve_model(chosen or a.model, base) for a in team.agents}
        return team, models

    def checkpointer(self) -> Any:
        """LangGraph's SQLite saver: a paused run survives the process that paused it."""
        with self._parts_lock:
            if self._saver is None:
                from langgraph.checkpoint.sqlite import SqliteSaver

                conn = open_private_db(self.state_dir / "checkpoints.db")
                # Only the runtime's own state types load back from a checkpoint.
                self._saver = SqliteSaver(conn, serde=checkpoint_serializer())
                self._saver.setup()
                self._closers.append(conn.close)
        return self._saver

    def exec(
        self,
        task: str,
        team_name: str,
        *,
        input_dir: Path | None = None,
        output_dir: Path | None = None,
        on_step: Callable[[StepReport], None] | None = None,
    ) -> RunResult:
        if not task.strip():
            raise ConfigError("the task text is empty")
        team, models = self.load_team(team_name)
        run_id = uuid.uuid4().hex[:12]
        out = (output_dir or self.state_dir / "runs" / run_id / "output").resolve()
        out.mkdir(parents=True, exist_ok=True)
        run = RunContext(
            run_id=run_id,
            task=task,
            team=team,
            tenant=self.settings.tenant,
            output_dir=out,
            input_files=input_files(input_dir),
            inputs_dir=input_dir.resolve() if input_dir else None,
            staging=self._staging(run_id),
            held=self._held(run_id),
            labels=run_labels(task, self.settings.trusted_data.model_dump()),
        )
        pipeline = self.pipeline()
        self.audit.append(
            run_id,
            "run.start",
            {
                "task": task,
                "team": team.name,
                "team_source": team.source,
                "tenant": run.tenant,
                "models": {name: model.version for name, model in models.items()},
                "policy_version": self.policy_engine().policy_version,
                "policy_engine": self.policy_engine().name,
                "output_dir": str(out),
                "inputs_dir": str(run.inputs_dir) if run.inputs_dir else None,
                "inputs": sorted(run.input_files),
            },
        )
        first = {"run_id": run_id, "task": task, "messages": [_task_message(task)]}
        return self._drive(run, models, pipeline, first, on_step)

    def resume(
        self,
        run_id: str,
        *,
        approved: bool,
        by: str,
        reason: str = "",
        step: int | None = None,
        on_step: Callable[[StepReport], None] | None = None,
        continue_run: bool = False,
    ) -> RunResult:
        """Answer a paused run's approval request and run it on from its checkpoint.
        `continue_run` with a denial: the reason goes back to the agent as the tool's
        answer and the run goes on (`runtime deny --continue`)."""
        from langgraph.types import Command

        self.pending_request(run_id)  # a clear error before taking the lock
        # The lock first, then the request read again: of two concurrent answers, the
        # loser either cannot take the lock or finds the run no longer waiting, and
        # appends nothing.
        lock = RunLock(self.state_dir, run_id)
        lock.acquire()
        try:
            request = self.pending_request(run_id)
            if step is not None and step != request["step"]:
                raise UserError(
                    f"run {run_id} is waiting on step {request['step']}, not step {step}"
                )
            if continue_run and request.get("kind") == "answer":
                raise UserError(
                    f"run {run_id} waits on its final answer, not a tool call: deny it "
                    "without --continue, or approve it"
                )
            run, models, pipeline = self._rebuild(run_id)
        except BaseException:
            lock.release()
            raise
        answer = {"approved": approved, "by": by, "reason": reason, "step": request["step"]}
        answer["continue"] = continue_run and not approved
        self.audit.append(run_id, "run.resumed", answer)
        self.telemetry.approvals_pending.add(-1)
        return self._drive(run, models, pipeline, Command(resume=answer), on_step, lock=lock)

    def recover(
        self, run_id: str, *, on_step: Callable[[StepReport], None] | None = None
    ) -> RunResult:
        """Continue a run whose process died (kill -9, power loss) from its last checkpoint.

        Steps that had committed stay committed (their idempotency keys are in the audit);
        a step caught between its check and its commit commits from the staging area.
        """
        events = self.audit.events(run_id)
        if not events or is_system_stream(run_id):
            raise RunNotFound(f"no run {run_id!r} in the audit log; see `runtime runs list`")
        status = run_status(events, self.state_dir, run_id)
        if status == "awaiting_approval":
            raise UserError(
                f"run {run_id} is awaiting approval: answer it with `runtime approve {run_id}` "
                f"or `runtime deny {run_id} --reason ...`"
            )
        if status != "interrupted":
            raise UserError(
                f"run {run_id} is {status}; only an interrupted run (its process died) can be resumed"
            )
        run, models, pipeline = self._rebuild(run_id)
        graph = self._graph(run, models, pipeline, on_step)
        snapshot = graph.get_state(_thread(run_id))
        if not snapshot.next:
            self.audit.append(
                run_id, "run.end", {"status": "failed", "reason": "no checkpoint to resume from"}
            )
            raise UserError(f"run {run_id} stopped before its first checkpoint; start it again")
        if _box_left_behind(events):
            self.sandbox_backend()  # starting the backend reaps the dead process's box
        self.audit.append(run_id, "run.recovered", {"next": list(snapshot.next)})
        return self._drive(run, models, pipeline, None, on_step)

    def _rebuild(self, run_id: str) -> tuple[RunContext, dict[str, Model], Pipeline]:
        """A paused or interrupted run's context, from its `run.start` event and checkpoint."""
        start = self.audit.events(run_id)[0].payload
        team, models = self.load_team(start["team"])
        inputs_dir = Path(start["inputs_dir"]) if start.get("inputs_dir") else None
        run = RunContext(
            run_id=run_id,
            task=start["task"],
            team=team,
            tenant=start.get("tenant", self.settings.tenant),
            output_dir=Path(start["output_dir"]),
            input_files=frozenset(start.get("inputs", [])),
            inputs_dir=inputs_dir,
            resumed=True,
            staging=self._staging(run_id),
            held=self._held(run_id),
        )
        pipeline = self.pipeline()
        values = self.checkpointer().get_tuple(_thread(run_id))
        state = values.checkpoint["channel_values"] if values else {}
        run.restore(state, self.settings.trusted_data.model_dump())
        return run, models, pipeline

    def _staging(self, run_id: str) -> StagingArea:
        return StagingArea(self.state_dir / "runs" / run_id / "staged")

    def _held(self, run_id: str) -> HeldStore:
        return held_store(self.state_dir, run_id)

    def pending_request(self, run_id: str) -> dict[str, Any]:
        """The approval request a paused run waits on, or a clear error."""
        return pending_request(self.audit, self.state_dir, run_id)

    def pending(self) -> list[dict[str, Any]]:
        """Every run paused on an approval request, with the action and its reasons."""
        return pending_runs(self.audit, self.state_dir)

    def _graph(
        self,
        run: RunContext,
        models: dict[str, Model],
        pipeline: Pipeline,
        on_step: Callable[[StepReport], None] | None,
    ) -> Any:
        from runtime.chat import attach_run  # chat adapters: team, tools, budgets, state

        attach_run(models.values(), run, pipeline.registry, self.settings)
        return GraphBuilder(
            run.team,
            models,
            pipeline,
            run,
            max_steps=self.settings.max_steps,
            max_denials=self.settings.max_denials,
            on_step=on_step,
        ).build(checkpointer=self.checkpointer())

    def _drive(
        self,
        run: RunContext,
        models: dict[str, Model],
        pipeline: Pipeline,
        graph_input: Any,
        on_step: Callable[[StepReport], None] | None,
        *,
        lock: RunLock | None = None,
    ) -> RunResult:
        graph = self._graph(run, models, pipeline, on_step)
        config: dict[str, Any] = {
            **_thread(run.run_id),
            "recursion_limit": self.settings.max_steps * 7 + 10,
        }
        if lock is None:
            lock = RunLock(self.state_dir, run.run_id)
            lock.acquire()
        with self._runs_lock:
            self._active_runs.add(run.run_id)
        self.telemetry.start_run(run.run_id, team=run.team.name)
        try:
            # durability="sync": each step's checkpoint is on disk before the next step
            # runs, so a run killed at any point resumes from the step it was in.
            final = graph.invoke(graph_input, config, durability="sync")
        except KeyboardInterrupt:
            # Ctrl-C (or SIGTERM, which the CLI turns into the same): no run.end, so the
            # run is `interrupted` and `runs resume` continues it, as after a kill.
            self.audit.append(run.run_id, "run.interrupted", {})
            self.telemetry.end_run(run.run_id, status="interrupted")
            raise
        except BaseException as exc:
            self.audit.append(
                run.run_id, "run.end", {"status": "failed", "error": type(exc).__name__}
            )
            self.telemetry.end_run(run.run_id, status="failed")
            if run.held is not None:
                run.held.clear()
            raise
        finally:
            pipeline.discard_sandbox(run)
            with self._runs_lock:
                self._active_runs.discard(run.run_id)
            lock.release()
        status, reason = final.get("status", "failed"), final.get("reason")
        interrupts = final.get("__interrupt__") or []
        if interrupts:
            request = dict(interrupts[0].value)
            status = "awaiting_approval"
            reason = pause_reason(request)
            self.audit.append(
                run.run_id,
                "approval.requested",
                request,
                agent=request["agent"],
                step=request["step"],
            )
            self.telemetry.approvals_pending.add(1)
        steps = [StepReport.model_validate(s) for s in final.get("steps", [])]
        events = self.audit.events(run.run_id)
        marked = outcome(events)
        result = RunResult(
            run_id=run.run_id,
            status=final_status(status, marked),  # completed_with_blocks
            blocked_steps=marked["blocked_steps"],
            redacted_steps=marked["redacted_steps"],
            output=final.get("output", ""),
            steps=steps,
            output_dir=str(run.output_dir),
            reason=reason,
            alternatives=_alternatives_offered(status, final, steps),
            usage=Usage.of(e.payload for e in events if e.kind == "model.turn"),
        )
        self.audit.append(
            run.run_id,
            "run.end",
            {"status": result.status, "reason": result.reason, "steps": len(result.steps)},
        )
        self.telemetry.end_run(run.run_id, status=result.status)
        if not interrupts and run.held is not None:
            run.held.clear()  # the run is over: nothing it held is needed again
        return result

    def close(self) -> None:
        for close in reversed(self._closers):
            with contextlib.suppress(Exception):
                close()
        self._closers.clear()
        self.audit.close()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _alternatives_offered(status: str, final: dict[str, Any], steps: list[StepReport]) -> list[str]:
    """A blocked run carries the safe alternatives of the refusal that ended it."""
    if status != "blocked":
        return []
    if final.get("alternatives"):
        return list(final["alternatives"])
    return list(steps[-1].alternatives) if steps else []


def _box_left_behind(events: list[Any]) -> bool:
    """A box the run acquired and never released: its process died holding it."""
    acquired = {e.payload.get("sandbox_id") for e in events if e.kind == "sandbox.acquired"}
    released = {e.payload.get("sandbox_id") for e in events if e.kind == "sandbox.released"}
    return bool(acquired - released)


def _thread(run_id: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": run_id}}


def _task_message(task: str) -> dict[str, Any]:
    return {"role": "user", "agent": "user", "content": task, "trust": "trusted"}
