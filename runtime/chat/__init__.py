"""LangChain chat models as the runtime's `Model`: by name or as an object.

Owns: parsing model names (`openai:`, `anthropic:`, `ollama:`, `openai-compatible:`), the
preflight that fails before a run when an extra, a key or the endpoint is missing, the
adapter that turns a chat model's messages into turns (tool calls in order, handoffs as
`transfer_to_<agent>` tools, errors back to the model), guarded prompts (spotlighting),
budgets and retries. Never runs a tool, decides policy or writes the audit: it proposes
turns and leaves records the graph audits. Never reads a key from anywhere but the
environment, and never writes one anywhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from runtime.chat.adapter import ChatModelAdapter
from runtime.chat.budget import BudgetExceeded, Budgets, Ledger, Limits
from runtime.chat.errors import ModelCallFailed, ModelUnavailable
from runtime.chat.prompt import Spotlight
from runtime.chat.providers import ModelOptions, ModelSpec, build_chat_model, parse_spec, preflight
from runtime.chat.store import ChatStore

__all__ = [
    "BudgetExceeded",
    "Budgets",
    "ChatModelAdapter",
    "Ledger",
    "Limits",
    "ModelCallFailed",
    "ModelOptions",
    "ModelSpec",
    "ModelUnavailable",
    "attach",
    "attach_run",
    "chat_model_adapter",
    "is_chat_model_name",
]


def is_chat_model_name(name: str) -> bool:
    return name.partition(":")[0] in ("openai", "anthropic", "ollama", "openai-compatible")


def chat_model_adapter(
    model: str | Any,
    *,
    options: ModelOptions | None = None,
    check_endpoint: bool = True,
    environ: Mapping[str, str] | None = None,
) -> ChatModelAdapter:
    """An adapter for a model name or a `BaseChatModel` instance.

    For a name: the extra and the key are checked, then (unless `check_endpoint` is False)
    the endpoint is asked for its model list, all before any tool runs.
    """
    from langchain_core.language_models import BaseChatModel

    opts = options or ModelOptions()
    if isinstance(model, BaseChatModel):
        return ChatModelAdapter(model, options=opts)
    if not isinstance(model, str):
        raise TypeError(f"a model is a name or a LangChain BaseChatModel, not {type(model)}")
    spec = parse_spec(model, environ)
    chat = build_chat_model(spec, opts, environ)
    if check_endpoint:
        preflight(spec, opts, environ)
    return ChatModelAdapter(chat, spec=spec, options=opts)


def attach(
    models: Iterable[Any],
    *,
    team: Any = None,
    registry: Any = None,
    budgets: Budgets | None = None,
    state_dir: Path | None = None,
    options: ModelOptions | None = None,
) -> Ledger:
    """Bind a run's chat adapters to the team and the tool registry, with one shared
    ledger (run budgets count every agent) and one spotlight token; other models are left
    alone. With `state_dir` (the run's folder) the chat state is kept in `chat/` there and
    read back when the run resumes. `options` (timeout, retries, ...) replace those the
    named models were built with. Returns the ledger."""
    ledger = Ledger(budgets)
    spot = Spotlight()
    store = ChatStore(state_dir / "chat") if state_dir is not None else None
    saved = store.load("run") if store is not None else None
    if saved is not None:
        spot = Spotlight(str(saved["token"]))
        ledger.restore(saved["ledger"])
    for model in models:
        if isinstance(model, ChatModelAdapter):
            if options is not None and model.spec is not None and options != model.options:
                model.use_options(options)
            model.bind(team=team, registry=registry, ledger=ledger, spotlight=spot, store=store)
    return ledger


def attach_run(models: Iterable[Any], run: Any, registry: Any, settings: Any) -> Ledger:
    """`attach` for one run of the runtime: budgets and options from the settings, the
    chat state in the run's folder (`<state dir>/runs/<run id>/chat`)."""
    return attach(
        models,
        team=run.team,
        registry=registry,
        budgets=Budgets.from_settings(settings),
        state_dir=Path(settings.resolved_state_dir) / "runs" / run.run_id,
        options=ModelOptions.from_settings(settings),
    )
