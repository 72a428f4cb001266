"""`ChatModelAdapter`: any LangChain chat model as the runtime's `Model`.

Each agent turn is at most one tool call, a handoff, the answer or a stop (the `Model`
protocol of `runtime/llm.py`). A model message with several tool calls is therefore
handed out over several turns, in order, each answered by the graph's result before the
next goes; the model is asked again only once all of them have their `ToolMessage`.
Unknown tools and malformed arguments never reach the graph: they go straight back to
the model as a tool error, and it is asked again (at most `max_repairs` times in a row).

Every model call leaves a record (provider, model, parameters, the system prompt's sha256,
tokens in and out, latency) that the graph drains into the audit; none carries a key.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, SystemMessage

from runtime.agents import Agent, Team
from runtime.chat.budget import BudgetExceeded, Ledger
from runtime.chat.conversation import Conversation, PendingCall
from runtime.chat.errors import ModelCallFailed
from runtime.chat.prompt import (
    HANDOFF_PREFIX,
    RegistryLike,
    Spotlight,
    Toolbox,
    prompt_digest,
    system_prompt,
)
from runtime.chat.providers import ModelOptions, ModelSpec
from runtime.chat.resilience import call_with_retries
from runtime.chat.store import ChatStore
from runtime.llm import AnswerTurn, HandoffTurn, StopTurn, ToolTurn, Turn


class ChatModelAdapter:
    """Drives one run's agents on a LangChain chat model (one adapter per agent or shared)."""

    def __init__(
        self,
        chat_model: BaseChatModel,
        *,
        spec: ModelSpec | None = None,
        options: ModelOptions | None = None,
        own_retries: int | None = None,
        backoff_s: float = 0.5,
        max_repairs: int = 3,
        on_record: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.chat_model = chat_model
        self.spec = spec
        self.options = options or ModelOptions()
        # openai and anthropic clients retry 429/5xx themselves; others get ours.
        self._client_retries = spec is not None and spec.provider != "ollama"
        self._explicit_retries = own_retries
        self.backoff_s = backoff_s
        self.max_repairs = max_repairs
        self.on_record = on_record
        self.ledger = Ledger()
        self.spot = Spotlight()
        self._store: ChatStore | None = None
        self._team: Team | None = None
        self._registry: RegistryLike | None = None
        self._conversations: dict[str, Conversation] = {}
        self._toolboxes: dict[str, Toolbox] = {}
        self._records: list[dict[str, Any]] = []

    # ------------------------------------------------------------------ wiring

    def bind(
        self,
        *,
        team: Team | None = None,
        registry: RegistryLike | None = None,
        ledger: Ledger | None = None,
        spotlight: Spotlight | None = None,
        store: ChatStore | None = None,
    ) -> ChatModelAdapter:
        """Tell the adapter the team (teammates), the tools it may offer, the run's shared
        ledger and spotlight markers, and where the run's chat state is kept."""
        if team is not None:
            self._team = team
        if registry is not None:
            self._registry = registry
        if ledger is not None:
            self.ledger = ledger
        if spotlight is not None:
            self.spot = spotlight
        if store is not None:
            self._store = store
        self._toolboxes.clear()
        self._conversations.clear()
        return self

    def use_options(self, options: ModelOptions) -> None:
        """Rebuild a named model's client with other call parameters (no network)."""
        from runtime.chat.providers import build_chat_model

        if self.spec is None:
            raise TypeError("only a model built from a name can take new options")
        self.chat_model = build_chat_model(self.spec, options)
        self.options = options

    @property
    def own_retries(self) -> int:
        """Retries the adapter makes itself (none where the client retries)."""
        if self._explicit_retries is not None:
            return self._explicit_retries
        return 0 if self._client_retries else self.options.max_retries

    @property
    def version(self) -> str:
        if self.spec is not None:
            return self.spec.version
        provider, model = self._identity()
        return f"{provider}:{model}"

    def drain_records(self) -> list[dict[str, Any]]:
        """The model-turn records since the last drain (for the audit)."""
        records, self._records = self._records, []
        return records

    # ------------------------------------------------------------------ the Model protocol

    def next_turn(self, agent: Agent, messages: list[dict[str, Any]], turn_index: int) -> Turn:
        conversation = self._conversation(agent.name)
        if conversation.last_turn is not None and len(messages) == conversation.last_seen:
            # The graph replayed this agent's node (a crash before its checkpoint): the
            # turn was already decided and paid for.
            return _turn_from_document(conversation.last_turn)
        turn = self._decide(agent, conversation, messages)
        conversation.last_turn = {"kind": type(turn).__name__, **turn.model_dump(mode="json")}
        conversation.last_seen = len(messages)
        self._save(agent.name, conversation)
        return turn

    def _decide(
        self, agent: Agent, conversation: Conversation, messages: list[dict[str, Any]]
    ) -> Turn:
        conversation.absorb(messages)
        if conversation.awaiting is None and conversation.queue:
            return self._hand_out(conversation, conversation.queue.pop(0))
        conversation.settle()
        for _ in range(self.max_repairs + 1):
            spent = self.ledger.exceeded(agent.name, before_call=True)
            if spent is not None:
                return spent
            reply = self._ask(agent, conversation)
            conversation.history.append(reply)
            spent = self.ledger.exceeded(agent.name, before_call=False)
            if spent is not None:
                return spent
            turn = self._interpret(agent, conversation, reply)
            if turn is not None:
                return turn
        return StopTurn(
            why=f"{agent.name}'s model sent only unknown or malformed tool calls "
            f"{self.max_repairs + 1} times in a row"
        )

    # ------------------------------------------------------------------ internals

    def _conversation(self, agent: str) -> Conversation:
        if agent not in self._conversations:
            saved = self._store.load(f"agent-{agent}") if self._store is not None else None
            self._conversations[agent] = (
                Conversation.from_document(agent, self.spot, saved)
                if saved is not None
                else Conversation(agent, self.spot)
            )
        return self._conversations[agent]

    def _save(self, agent: str, conversation: Conversation) -> None:
        if self._store is None:
            return
        self._store.save(f"agent-{agent}", conversation.to_document())
        self._store.save("run", {"token": self.spot.token, "ledger": self.ledger.to_document()})

    def _toolbox(self, agent: Agent) -> Toolbox:
        if agent.name not in self._toolboxes:
            registry = self._registry
            if registry is None:
                from runtime.tools import builtin_registry

                registry = self._registry = builtin_registry()
            self._toolboxes[agent.name] = Toolbox.for_agent(agent, self._team, registry)
        return self._toolboxes[agent.name]

    def _ask(self, agent: Agent, conversation: Conversation) -> AIMessage:
        box = self._toolbox(agent)
        prompt = system_prompt(agent, self._team, box, self.spot)
        messages: list[BaseMessage] = [SystemMessage(prompt), *conversation.history]
        schemas = box.schemas()
        runnable: Any = self.chat_model.bind_tools(schemas) if schemas else self.chat_model
        self.ledger.start_clock()
        started = time.perf_counter()
        reply = call_with_retries(
            lambda: runnable.invoke(messages),
            what=self.version,
            retries=self.own_retries,
            builtin_tries=self.options.max_retries + 1 if self.own_retries == 0 else 1,
            backoff_s=self.backoff_s,
        )
        seconds = time.perf_counter() - started
        if not isinstance(reply, AIMessage):
            raise ModelCallFailed(
                f"model {self.version} answered with {type(reply).__name__}, not a message"
            )
        usage: dict[str, Any] = dict(reply.usage_metadata or {})
        tokens_in, tokens_out = (
            int(usage.get("input_tokens", 0)),
            int(usage.get("output_tokens", 0)),
        )
        self.ledger.record(agent.name, tokens_in, tokens_out, seconds)
        provider, model = self._identity()
        record = {
            "agent": agent.name,
            "provider": provider,
            "model": model,
            "params": self.options.params(),
            "system_prompt_sha256": prompt_digest(prompt, self.spot),
            "tokens_in": tokens_in,
            "tokens_out": tokens_out,
            "latency_ms": round(seconds * 1000, 3),
            "tool_calls": [c["name"] for c in reply.tool_calls]
            + [str(c.get("name")) for c in reply.invalid_tool_calls],
        }
        self._records.append(record)
        if self.on_record is not None:
            self.on_record(record)
        return reply

    def _interpret(self, agent: Agent, conversation: Conversation, reply: AIMessage) -> Turn | None:
        """The turn a reply makes, or None when every call it made was refused."""
        if not reply.tool_calls and not reply.invalid_tool_calls:
            text = reply.text.strip()
            if text:
                return AnswerTurn(answer=text)
            return StopTurn(why=f"{agent.name}'s model returned an empty message")
        box = self._toolbox(agent)
        for bad in reply.invalid_tool_calls:
            call = PendingCall(str(bad.get("id")), str(bad.get("name")), "tool", "", {})
            conversation.answer(
                call,
                f"error: the arguments of {bad.get('name')} are not a valid JSON object; "
                "send them again as JSON that matches the tool's schema",
                error=True,
            )
        for raw in reply.tool_calls:
            call_id, wire, args = str(raw.get("id")), raw["name"], dict(raw["args"])
            if wire.startswith(HANDOFF_PREFIX) and wire[len(HANDOFF_PREFIX) :] in box.teammates:
                mate = wire[len(HANDOFF_PREFIX) :]
                conversation.queue.append(PendingCall(call_id, wire, "handoff", mate, args))
                continue
            error = self._check_call(box, wire, args)
            if error is not None:
                conversation.answer(PendingCall(call_id, wire, "tool", "", args), error, error=True)
                continue
            target = box.tools[wire].name
            conversation.queue.append(PendingCall(call_id, wire, "tool", target, args))
        if conversation.queue:
            return self._hand_out(conversation, conversation.queue.pop(0))
        return None

    @staticmethod
    def _check_call(box: Toolbox, wire: str, args: dict[str, Any]) -> str | None:
        if wire not in box.tools:
            known = ", ".join([*box.tools, *(HANDOFF_PREFIX + m for m in box.teammates)])
            return f"error: there is no tool {wire!r}; your tools are: {known or 'none'}"
        try:
            box.tools[wire].parse_args(args)
        except Exception as exc:
            return f"error: {exc}; fix the arguments and call the tool again"
        return None

    def _hand_out(self, conversation: Conversation, call: PendingCall) -> Turn:
        conversation.awaiting = call
        if call.kind == "tool":
            return ToolTurn(tool=call.target, args=call.args)
        # The team moves on to the teammate: calls made after the handoff are not run.
        for rest in conversation.queue:
            conversation.answer(rest, f"not run: you handed off to {call.target} first", error=True)
        conversation.queue.clear()
        return HandoffTurn(handoff=call.target, message=str(call.args.get("message", "")))

    def _identity(self) -> tuple[str, str]:
        if self.spec is not None:
            return self.spec.provider, self.spec.model
        params: dict[str, Any] = {}
        try:
            params = dict(self.chat_model._get_ls_params())
        except Exception:
            params = {}
        provider = str(params.get("ls_provider") or type(self.chat_model).__name__)
        model = str(
            params.get("ls_model_name")
            or getattr(self.chat_model, "model_name", None)
            or getattr(self.chat_model, "model", None)
            or "unknown"
        )
        return provider, model


_TURN_KINDS: dict[str, type[Turn]] = {
    kind.__name__: kind  # type: ignore[misc]
    for kind in (ToolTurn, HandoffTurn, AnswerTurn, StopTurn, BudgetExceeded)
}


def _turn_from_document(document: dict[str, Any]) -> Turn:
    fields = dict(document)
    kind = _TURN_KINDS[fields.pop("kind")]
    return kind.model_validate(fields)  # type: ignore[attr-defined, no-any-return]
