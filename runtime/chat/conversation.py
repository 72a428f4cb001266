"""One agent's side of the run's conversation, as LangChain messages.

The graph keeps one list of plain message dicts for the whole run (`role`, `agent`,
`content`, `trust`, `tool`); it grows only by appending. `Conversation` reads the part it
has not seen yet and turns it into the agent's view:

    user task                      -> HumanMessage (spotlighted when labelled untrusted)
    result of this agent's call    -> ToolMessage answering the call that was handed out
    runtime note to this agent     -> ToolMessage (when a call awaits one) or HumanMessage
    this agent's handoff, echoed   -> ToolMessage answering its transfer_to_<agent> call
    a teammate's handoff message   -> HumanMessage "[from <agent>] ..."
    other agents' tool traffic     -> not shown

Calls the model made in one message wait in `queue` and go to the graph one at a time, in
order; the one handed out is `awaiting` until the graph's answer arrives. A tool result
with no call in hand (the run was resumed in a new process, whose adapter never saw the
model's message) gets a stand-in call so the provider still sees a well-formed exchange.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    ToolMessage,
    messages_from_dict,
    messages_to_dict,
)

from runtime.chat.prompt import Spotlight, wire_name


@dataclass(frozen=True)
class PendingCall:
    id: str
    wire: str
    kind: Literal["tool", "handoff"]
    target: str  # the runtime's tool name, or the teammate for a handoff
    args: dict[str, Any]


@dataclass
class Conversation:
    agent: str
    spot: Spotlight
    seen: int = 0
    history: list[BaseMessage] = field(default_factory=list)
    queue: list[PendingCall] = field(default_factory=list)
    awaiting: PendingCall | None = None
    # The last turn given out (as a document) and how many messages the run had then: a
    # graph node replayed from its checkpoint asks again with the same count.
    last_turn: dict[str, Any] | None = None
    last_seen: int = -1
    _restored: int = 0

    def to_document(self) -> dict[str, Any]:
        return {
            "seen": self.seen,
            "history": messages_to_dict(self.history),
            "queue": [asdict(c) for c in self.queue],
            "awaiting": asdict(self.awaiting) if self.awaiting else None,
            "last_turn": self.last_turn,
            "last_seen": self.last_seen,
            "restored": self._restored,
        }

    @classmethod
    def from_document(cls, agent: str, spot: Spotlight, doc: dict[str, Any]) -> Conversation:
        awaiting = doc.get("awaiting")
        return cls(
            agent,
            spot,
            seen=int(doc["seen"]),
            history=list(messages_from_dict(doc["history"])),
            queue=[PendingCall(**c) for c in doc["queue"]],
            awaiting=PendingCall(**awaiting) if awaiting else None,
            last_turn=doc.get("last_turn"),
            last_seen=int(doc.get("last_seen", -1)),
            _restored=int(doc.get("restored", 0)),
        )

    def absorb(self, messages: list[dict[str, Any]]) -> None:
        for message in messages[self.seen :]:
            self._absorb(message)
        self.seen = len(messages)

    def answer(self, call: PendingCall, content: str, *, error: bool = False) -> None:
        self.history.append(
            ToolMessage(
                content=content,
                tool_call_id=call.id,
                name=call.wire,
                status="error" if error else "success",
            )
        )

    def settle(self) -> None:
        """Before the model is asked again, every call it made must have an answer."""
        if self.awaiting is not None:
            self.answer(self.awaiting, "no result came back for this call", error=True)
            self.awaiting = None
        for call in self.queue:
            self.answer(call, "not run", error=True)
        self.queue.clear()

    def _absorb(self, message: dict[str, Any]) -> None:
        role = message.get("role")
        author = message.get("agent")
        content = str(message.get("content", ""))
        mine = author == self.agent
        if role == "user":
            self.history.append(HumanMessage(self._guarded(message, "the user's input")))
        elif role == "tool" and mine:
            tool = str(message.get("tool", "tool"))
            text = self._guarded(message, f"the tool {tool}")
            call = self._take("tool") or self._stand_in(tool)
            self.answer(call, text)
        elif role == "system" and mine:
            awaited = self._take(None)
            if awaited is not None:
                self.answer(awaited, content, error=True)
            else:
                self.history.append(HumanMessage(f"[runtime] {content}"))
        elif role == "assistant" and mine:
            handoff = self._take("handoff")
            if handoff is not None:
                self.answer(handoff, f"transferred to {handoff.target}")
            else:
                self.history.append(AIMessage(content))
        elif role == "assistant":
            self.history.append(HumanMessage(f"[from {author}] {content}"))

    def _take(self, kind: str | None) -> PendingCall | None:
        call = self.awaiting
        if call is None or (kind is not None and call.kind != kind):
            return None
        self.awaiting = None
        return call

    def _stand_in(self, tool: str) -> PendingCall:
        self._restored += 1
        call = PendingCall(f"restored_{self._restored}", wire_name(tool), "tool", tool, {})
        self.history.append(
            AIMessage("", tool_calls=[{"name": call.wire, "args": {}, "id": call.id}])
        )
        return call

    def _guarded(self, message: dict[str, Any], source: str) -> str:
        content = str(message.get("content", ""))
        if message.get("trust") == "untrusted":
            return self.spot.wrap(content, source)
        return content
