"""The check -> stage -> commit half of the pipeline: what an executed call may change.

The safety node sees every effect a call staged (changed files, memory writes, the final
answer) as `PendingAction`s; a `redact` verdict is applied to the staged bytes and texts;
`stage` makes them durable (staging area, held store) so a pause or a crash loses nothing;
`commit` writes exactly what was checked, once (idempotency key in the audit), and a block
discards it. `Pipeline` (runtime/pipeline.py) is this plus propose, authorize and execute.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from runtime.errors import CommitRefused, SandboxError
from runtime.graph_state import MemoryWrite, PendingCall
from runtime.models import (
    ChangeSet,
    ContentItem,
    Effect,
    FileChange,
    Finding,
    MemoryProvenance,
    PendingAction,
    PendingKind,
    ToolCall,
    Trust,
    Verdict,
)
from runtime.run_context import RunContext, Staged, text_ref
from runtime.safety.items import changeset_items, safe_name
from runtime.sandbox import changeset

if TYPE_CHECKING:
    from runtime.audit.store import AuditLog
    from runtime.memory.base import MemoryStore
    from runtime.safety.base import SafetyChecker
    from runtime.sandbox.base import CommitCaps
    from runtime.telemetry import Telemetry
    from runtime.tools import Tool


# Effects whose host-side tools are checked before they run: they send content out.
OUTWARD = frozenset({Effect.EXTERNAL, Effect.EGRESS})


class CheckAndCommit:
    """The stages after execute; `Pipeline` supplies the parts declared here."""

    audit: AuditLog
    memory: MemoryStore
    checker: SafetyChecker
    commit_caps: CommitCaps
    telemetry: Telemetry

    # ------------------------------------------------------------------ 4. check

    def pending_actions(
        self, run: RunContext, call: ToolCall, staged: Staged
    ) -> list[PendingAction]:
        actions: list[PendingAction] = []
        common: dict[str, Any] = {
            "run_id": run.run_id,
            "step": call.step,
            "agent": call.agent,
            "tool": call.tool,
            "untrusted_sources_seen": list(run.untrusted_sources),
        }
        if not staged.changes.empty:
            items = changeset_items(staged.changes, staged.contents or {})
            tainted = staged.args_tainted or bool(run.untrusted_sources)
            actions.append(
                PendingAction(
                    kind=PendingKind.CHANGESET,
                    items=items,
                    trust=Trust.UNTRUSTED if tainted else Trust.TRUSTED,
                    **common,
                )
            )
        for index, (write, text) in enumerate(
            zip(staged.effects.memory_writes, staged.texts, strict=True)
        ):
            actions.append(
                PendingAction(
                    kind=PendingKind.MEMORY_WRITE,
                    items=[ContentItem(location=f"memory:{write.namespace}#{index}", text=text)],
                    trust=write.trust,
                    **common,
                )
            )
        return actions

    def check(self, run: RunContext, call: ToolCall, staged: Staged) -> Verdict:
        """One verdict for everything the call staged: the strictest of its actions.

        The changed files are read out of the box here, once, under the commit rules
        (paths, kinds, caps, hashes): the bytes checked are the bytes that commit.
        """
        with self.telemetry.span(
            "check", run.run_id, agent=call.agent, step=call.step, tool=call.tool
        ) as span:
            verdict = self._check(run, call, staged)
            self.telemetry.annotate(span, verdict=verdict.verdict, findings=len(verdict.findings))
        self._count_findings(verdict)
        return verdict

    def _count_findings(self, verdict: Verdict) -> None:
        for finding in verdict.findings:
            self.telemetry.findings.add(1, {"runtime.finding_type": finding.type})

    def _check(self, run: RunContext, call: ToolCall, staged: Staged) -> Verdict:
        if staged.contents is None:
            try:
                staged.contents = self._collect(run, staged)
            except CommitRefused as exc:
                refusal = safe_name(str(exc))  # names are the box's: a token in one is masked
                self._refused(run, call, refusal)
                verdict = Verdict(verdict="block", reasons=[refusal])
                self._audit_verdict(run, call.agent, call.tool, verdict, step=call.step)
                return verdict
        staged.actions = self.pending_actions(run, call, staged)
        verdict = Verdict.strictest([self.checker.check(action) for action in staged.actions])
        self._audit_verdict(run, call.agent, call.tool, verdict, step=call.step)
        return verdict

    def _collect(self, run: RunContext, staged: Staged) -> dict[str, bytes]:
        if staged.changes.empty:
            return {}
        if run.sandbox is None:
            raise CommitRefused(
                "Commit refused, nothing was written: the box holding the staged files is gone"
            )
        return changeset.collect(run.sandbox, staged.changes, self.commit_caps)

    def _refused(self, run: RunContext, call: ToolCall, reason: str) -> None:
        self.audit.append(
            run.run_id,
            "commit.refused",
            {"tool": call.tool, "reason": reason},
            agent=call.agent,
            step=call.step,
        )

    def _audit_verdict(
        self,
        run: RunContext,
        agent: str,
        tool: str,
        verdict: Verdict,
        *,
        step: int | None = None,
        after_step: int | None = None,
        phase: str | None = None,
    ) -> None:
        payload: dict[str, Any] = {
            "tool": tool,
            "verdict": verdict.verdict,
            "reasons": verdict.reasons,
            "alternatives": verdict.alternatives,
            "findings": [f.summary() for f in verdict.findings],
        }
        if after_step is not None:
            payload["after_step"] = after_step
        if phase is not None:
            payload["phase"] = phase
        self.audit.append(run.run_id, "verdict", payload, agent=agent, step=step)

    def stage(self, run: RunContext, call: ToolCall, staged: Staged, verdict: Verdict) -> None:
        """Make a checked call's effects final and durable before the commit (or a pause).

        A `redact` verdict is applied here, to the staged bytes and memory writes (and to
        the box, so the agent keeps working on the redacted files); then the files' bytes
        go to the run's staging area and the memory-write texts to its held store, so the
        commit survives a pause or a crash.
        """
        if verdict.verdict == "redact":
            self._apply_redactions(run, staged, verdict)
            staged.actions = self.pending_actions(run, call, staged)
        if run.staging is not None and staged.contents:
            run.staging.save(call.step, staged.contents)
        if run.held is not None:
            for text in staged.texts:
                run.held.put_text(text)

    def restore_staged(self, run: RunContext, pending: PendingCall) -> Staged | None:
        """A call's staged effects: in this process, or rebuilt after a pause or a crash
        from the checkpointed state, the staging area and the held store; None when they
        were lost (the files were in a box that is gone, the texts never reached disk)."""
        staged = run.staged.get(pending.call.step)
        if staged is not None:
            return staged
        effects = pending.effects
        if effects is None:
            return None
        saved = run.staging.load_contents(pending.call.step) if run.staging else None
        changes = effects.changes  # the checked hashes: apply verifies the staged bytes
        if saved is not None:
            contents = saved
        elif any(c.change != "deleted" and c.kind == "file" for c in changes.changes):
            return None
        else:
            contents = {}
        try:
            assert run.held is not None
            texts = [run.held.get_text(w.text_ref) for w in effects.memory_writes]
        except SandboxError:
            return None
        staged = Staged(
            effects=effects.model_copy(update={"changes": changes}),
            texts=texts,
            sandbox_id=pending.sandbox_id,
            exec_ms=0.0,
            args_tainted=Trust.UNTRUSTED in pending.provenance.values(),
            contents=contents,
        )
        run.staged[pending.call.step] = staged
        return staged

    def check_outgoing(
        self, run: RunContext, call: ToolCall, tool: Tool
    ) -> tuple[Verdict, dict[str, Any]] | None:
        """The first phase of a host-side tool that sends something out (effect `external`
        or `egress`): what it would send, its string arguments, is a MESSAGE pending action
        the safety node checks *before* the tool runs. Returns the verdict and the arguments
        to run with (redactions applied), or None for a tool this does not apply to.
        Destination sinks (a recipient, an account, ...) are where it goes, not what it
        says: the policy judges them by provenance, and redacting one would misdirect it."""
        if tool.in_sandbox or tool.effect not in OUTWARD:
            return None
        items = [
            ContentItem(location=f"message:{key}", text=value)
            for key, value in sorted(call.args.items())
            if isinstance(value, str) and not _destination(tool, key)
        ]
        tainted = run.args_untrusted(tool, call.args) or run.untrusted_sources
        action = PendingAction(
            kind=PendingKind.MESSAGE,
            run_id=run.run_id,
            step=call.step,
            agent=call.agent,
            tool=call.tool,
            items=items,
            trust=Trust.UNTRUSTED if tainted else Trust.TRUSTED,
            untrusted_sources_seen=list(run.untrusted_sources),
        )
        verdict = self.checker.check(action)
        self._count_findings(verdict)
        self._audit_verdict(run, call.agent, call.tool, verdict, step=call.step, phase="outgoing")
        args = dict(call.args)
        if verdict.verdict == "redact":
            for key, value in call.args.items():
                found = [f for f in verdict.findings if f.location == f"message:{key}"]
                if found and isinstance(value, str):
                    args[key] = self.checker.redact(value, found)
        return verdict, args

    def check_answer(
        self, run: RunContext, agent: str, step: int, answer: str
    ) -> tuple[Verdict, str]:
        action = PendingAction(
            kind=PendingKind.ANSWER,
            run_id=run.run_id,
            step=step,
            agent=agent,
            tool="answer",
            items=[ContentItem(location="answer", text=answer)],
            trust=Trust.UNTRUSTED if run.untrusted_sources else Trust.TRUSTED,
            untrusted_sources_seen=list(run.untrusted_sources),
        )
        verdict = self.checker.check(action)
        self._count_findings(verdict)
        text = (
            self.checker.redact(answer, verdict.findings) if verdict.verdict == "redact" else answer
        )
        self._audit_verdict(run, agent, "answer", verdict, after_step=step)
        return verdict, text

    # ------------------------------------------------------------------ 5. commit

    def commit(self, run: RunContext, call: ToolCall, staged: Staged) -> str:
        """Write what `stage` made final (redactions applied); returns the agent's text."""
        with self.telemetry.span(
            "commit", run.run_id, agent=call.agent, step=call.step, tool=call.tool
        ):
            return self._commit(run, call, staged)

    def _commit(self, run: RunContext, call: ToolCall, staged: Staged) -> str:
        actions = (
            staged.actions
            if staged.actions is not None
            else self.pending_actions(run, call, staged)
        )
        key = _idempotency_key(actions, call)
        if self.audit.has_commit(key):
            self._drop_staged(run, call)
            return staged.effects.result + "\n[already committed]"
        written: list[str] = []
        if not staged.changes.empty:
            try:
                written = changeset.apply(
                    staged.changes, staged.contents or {}, run.output_dir, self.commit_caps
                )
            except CommitRefused as exc:
                refused = CommitRefused(safe_name(str(exc)))  # a token in a name is masked
                self._refused(run, call, str(refused))
                self._drop_staged(run, call)
                raise refused from exc
        memory_ids = [
            self._commit_memory(run, call, write, text, record_id=_memory_id(key, index))
            for index, (write, text) in enumerate(
                zip(staged.effects.memory_writes, staged.texts, strict=True)
            )
        ]
        self.audit.append(
            run.run_id,
            "commit",
            {
                "tool": call.tool,
                "idempotency_key": key,
                "files": [safe_name(path) for path in written],
                "memory_ids": memory_ids,
                "output_dir": str(run.output_dir),
            },
            agent=call.agent,
            step=call.step,
        )
        self._drop_staged(run, call)
        return staged.effects.result

    def _drop_staged(self, run: RunContext, call: ToolCall) -> None:
        if run.staging is not None:
            run.staging.drop(call.step)

    def _commit_memory(
        self, run: RunContext, call: ToolCall, write: MemoryWrite, text: str, *, record_id: str
    ) -> str:
        record = self.memory.put(
            write.namespace,
            text,
            MemoryProvenance(
                writer_agent=call.agent, run_id=run.run_id, source=write.source, trust=write.trust
            ),
            record_id=record_id,
        )
        return record.id

    def _apply_redactions(self, run: RunContext, staged: Staged, verdict: Verdict) -> None:
        by_location: dict[str, list[Finding]] = {}
        for finding in verdict.findings:
            by_location.setdefault(finding.location, []).append(finding)
        contents = staged.contents if staged.contents is not None else {}
        changes: list[FileChange] = []
        for change in staged.changes.changes:
            findings = by_location.get(f"file:{change.path}")
            if findings and change.change != "deleted" and change.path in contents:
                text = contents[change.path].decode("utf-8", errors="replace")
                data = self.checker.redact(text, findings).encode()
                contents[change.path] = data
                change = change.model_copy(
                    update={"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
                )
                if run.sandbox is not None:
                    # The agent's box keeps the redacted file, not the secret.
                    run.sandbox.write_file(change.path, data)
            changes.append(change)
        writes: list[MemoryWrite] = []
        for index, write in enumerate(staged.effects.memory_writes):
            findings = by_location.get(f"memory:{write.namespace}#{index}")
            if findings:
                staged.texts[index] = self.checker.redact(staged.texts[index], findings)
                write = write.model_copy(update={"text_ref": text_ref(staged.texts[index])})
            writes.append(write)
        staged.effects = staged.effects.model_copy(
            update={"changes": ChangeSet(changes=changes), "memory_writes": writes}
        )

    def discard(self, run: RunContext, call: ToolCall, staged: Staged) -> None:
        """A blocked action's staged files are removed from the box; nothing commits."""
        self._drop_staged(run, call)
        if run.sandbox is not None:
            paths = [
                c.path for c in staged.changes.changes if c.change != "deleted" and c.kind == "file"
            ]
            if paths:
                run.sandbox.run_command(["rm", "-f", "--", *paths])
        self.audit.append(
            run.run_id,
            "discard",
            {"tool": call.tool, "files": [safe_name(c.path) for c in staged.changes.changes]},
            agent=call.agent,
            step=call.step,
        )


def _idempotency_key(actions: list[PendingAction], call: ToolCall) -> str:
    if not actions:
        return hashlib.sha256(f"{call.run_id}\0{call.step}\0{call.call_id}".encode()).hexdigest()
    digest = hashlib.sha256()
    for action in actions:
        digest.update(action.idempotency_key().encode())
    return digest.hexdigest()


def _memory_id(key: str, index: int) -> str:
    """A memory write's record id follows from its commit's key: a re-commit after a crash
    overwrites the same record instead of adding a second one."""
    return hashlib.sha256(f"{key}\0{index}".encode()).hexdigest()[:32]


# Sinks the outgoing check leaves to the policy: a URL (it can carry data in its query)
# and a `links` body (it is content) are still checked.
_CONTENT_SINKS = frozenset({"url", "links"})


def _destination(tool: Tool, arg: str) -> bool:
    sink = tool.sinks.get(arg)
    return sink is not None and sink.kind not in _CONTENT_SINKS
