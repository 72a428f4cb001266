"""The graph state's checkpoint form: typed, strict on load, and free of raw content."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

import pytest
from pydantic import BaseModel

from runtime.graph_state import PendingCall, StagedEffects, checkpoint_serializer, digest_args
from runtime.held import HeldContentMissing, HeldStore
from runtime.models import ChangeSet, Decision, FileChange, ToolCall, Trust, Verdict


class Stranger(BaseModel):
    """A type no checkpoint of the runtime ever holds."""

    value: str = "x"


def pending_call() -> PendingCall:
    call = ToolCall(
        run_id="r1",
        step=2,
        agent="coder",
        tool="fs.write",
        args=digest_args({"path": "a.txt", "content": "secret text", "mode": 1}),
        call_id="c1",
    )
    changes = ChangeSet(changes=[FileChange(path="a.txt", change="added", kind="file", size=3)])
    return PendingCall(
        call=call,
        args_ref="0" * 64,
        provenance={"path": Trust.TRUSTED, "content": Trust.UNTRUSTED},
        decision=Decision(allow=True, reasons=["granted"], policy_version="sha256:v"),
        verdict=Verdict(verdict="pass"),
        effects=StagedEffects(result="ok", trust=Trust.UNTRUSTED, changes=changes),
        elapsed_ms=12.5,
    )


def test_a_pending_call_survives_the_strict_serializer() -> None:
    serde = checkpoint_serializer()
    pending = pending_call()
    assert serde.loads_typed(serde.dumps_typed({"pending": pending})) == {"pending": pending}


def test_the_serializer_refuses_a_type_it_was_not_told_about() -> None:
    serde = checkpoint_serializer()
    loaded = serde.loads_typed(serde.dumps_typed({"x": Stranger()}))
    assert not isinstance(loaded["x"], Stranger)


def test_arguments_in_state_are_digests_never_raw() -> None:
    args = pending_call().call.args
    assert args["mode"] == 1
    assert args["content"] == {"sha256": hashlib.sha256(b"secret text").hexdigest(), "len": 11}
    assert "secret text" not in repr(args)


def test_held_content_is_private_verified_and_dropped(tmp_path: Path) -> None:
    held = HeldStore(tmp_path / "runs" / "r1" / "held")
    ref = held.put_json({"content": "secret text"})
    assert held.get_json(ref) == {"content": "secret text"}
    assert stat.S_IMODE((held.root / ref).stat().st_mode) == 0o600
    assert stat.S_IMODE(held.root.stat().st_mode) == 0o700

    (held.root / ref).write_text('{"content": "swapped"}')
    with pytest.raises(HeldContentMissing, match=r"was changed on disk; refused$"):
        held.get_json(ref)
    held.drop(ref)
    with pytest.raises(HeldContentMissing, match="is gone from"):
        held.get(ref)
