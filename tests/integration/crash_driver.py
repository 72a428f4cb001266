"""`python -m runtime.cli ...` that SIGKILLs its own process at one point of a commit.

Used by test_crash_recovery.py to prove that a run killed mid-commit resumes without
committing anything twice. `CRASH_AT` picks the point, `CRASH_STEP` the step:
  after-files          the change set is in the output folder, its commit event is not
  after-commit-event   the commit event (and its idempotency key) is recorded
  after-memory-put     the memory record is in Chroma, its commit event is not
The kill is a real SIGKILL: no finally blocks, no atexit, no flush.
"""

from __future__ import annotations

import os
import signal
from typing import Any

from runtime.audit.store import AuditEvent, AuditLog
from runtime.cli import main
from runtime.memory.chroma import ChromaMemory
from runtime.sandbox import changeset

POINT = os.environ["CRASH_AT"]
STEP = int(os.environ["CRASH_STEP"])
steps_committing: list[int] = []


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


real_append = AuditLog.append


def append(
    self: AuditLog, run_id: str, kind: str, payload: dict[str, Any] | None = None, **kw: Any
) -> AuditEvent:
    if kind == "verdict" and kw.get("step") is not None:
        steps_committing.append(int(kw["step"]))
    event = real_append(self, run_id, kind, payload, **kw)
    if POINT == "after-commit-event" and kind == "commit" and event.step == STEP:
        die()
    return event


AuditLog.append = append  # type: ignore[method-assign]

if POINT == "after-files":
    real_apply = changeset.apply

    def apply(*args: Any, **kwargs: Any) -> list[str]:
        done = real_apply(*args, **kwargs)
        if steps_committing and steps_committing[-1] == STEP:
            die()
        return done

    changeset.apply = apply

if POINT == "after-memory-put":
    real_put = ChromaMemory.put

    def put(self: ChromaMemory, *args: Any, **kwargs: Any) -> Any:
        record = real_put(self, *args, **kwargs)
        if steps_committing and steps_committing[-1] == STEP:
            die()
        return record

    ChromaMemory.put = put  # type: ignore[method-assign]

if __name__ == "__main__":
    main()
