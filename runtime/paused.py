"""Runs paused for a human: the request each waits on, and the raw arguments behind it.

A paused run's request is in the audit (`approval.requested`, arguments as digests); the
raw arguments a reviewer needs to see are in the run's held store (`runtime/held.py`),
never in the audit or a checkpoint. `runtime runs pending`, `approve`, `deny` and the
dashboard read them through here.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from runtime.errors import AgentRuntimeError, RunNotFound, UserError
from runtime.held import HeldStore
from runtime.runs import run_status

if TYPE_CHECKING:
    from runtime.audit.store import AuditLog


def held_store(state_dir: Path, run_id: str) -> HeldStore:
    return HeldStore(state_dir / "runs" / run_id / "held")


def pending_request(audit: AuditLog, state_dir: Path, run_id: str) -> dict[str, Any]:
    """The approval request a paused run waits on, or a clear error."""
    from runtime.audit.store import is_system_stream

    events = audit.events(run_id)
    if not events or is_system_stream(run_id):
        raise RunNotFound(f"no run {run_id!r} in the audit log; see `runtime runs list`")
    status = run_status(events, state_dir, run_id)
    if status != "awaiting_approval":
        hint = f"; resume it with `runtime runs resume {run_id}`" if status == "interrupted" else ""
        raise UserError(f"run {run_id} is not awaiting approval (status: {status}){hint}")
    requests = [e for e in events if e.kind == "approval.requested"]
    if not requests:
        raise UserError(f"run {run_id} was stopped for review and cannot be resumed")
    return requests[-1].payload


def pending_runs(audit: AuditLog, state_dir: Path) -> list[dict[str, Any]]:
    """Every run paused on an approval request, with the action, its reasons and its raw
    arguments."""
    waiting = []
    for run_id in audit.run_ids():
        try:
            request = pending_request(audit, state_dir, run_id)
        except UserError:
            continue
        args = requested_args(state_dir, run_id, request)
        waiting.append({"run_id": run_id, **request, "args": args})
    return waiting


def requested_args(state_dir: Path, run_id: str, request: dict[str, Any]) -> dict[str, Any]:
    """The raw arguments of the paused call (or the held answer), for the reviewer."""
    held = held_store(state_dir, run_id)
    ref = request.get("args_ref") or request.get("answer_ref")
    if not ref:
        return {}
    try:
        if request.get("kind") == "answer":
            return {"answer": held.get_text(ref)}
        value = held.get_json(ref)
    except AgentRuntimeError as exc:
        return {"error": str(exc)}
    return dict(value) if isinstance(value, dict) else {}


def pause_reason(request: dict[str, Any]) -> str:
    """The run's reason while it waits: what is held, why, and how to answer."""
    kind = request.get("kind", "approval")
    if kind == "escalation":
        what = f"{request['agent']}'s call to {request['tool']} was escalated for review: "
    elif kind == "answer":
        what = "the final answer was escalated for review: "
    else:
        what = f"{request['agent']}'s call to {request['tool']} needs approval: "
    run_id = request["run_id"]
    return (
        what
        + "; ".join(request["reasons"])
        + f" (runtime approve {run_id} | runtime deny {run_id} --reason ...)"
    )
