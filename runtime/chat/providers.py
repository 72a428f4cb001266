"""Model names to LangChain chat models, and the preflight that runs before any tool.

    openai:MODEL                        langchain-openai, OPENAI_API_KEY (OPENAI_BASE_URL)
    anthropic:MODEL                     langchain-anthropic, ANTHROPIC_API_KEY (ANTHROPIC_BASE_URL)
    ollama:MODEL                        langchain-ollama, OLLAMA_HOST (default 127.0.0.1:11434)
    openai-compatible:MODEL@BASE_URL    langchain-openai against vLLM, llama.cpp, LM Studio, a
                                        gateway; OPENAI_COMPATIBLE_API_KEY if it wants one

Keys are read from the environment only (never from `runtime.toml`), handed to the client
and nowhere else: `ModelSpec` holds the name of the variable, not its value, and every
description of a model (version, audit record, error) is built from the spec.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from runtime.chat.errors import ModelUnavailable
from runtime.errors import ConfigError

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

PROVIDERS = ("openai", "anthropic", "ollama", "openai-compatible")

_DEFAULT_URLS = {
    "openai": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com",
    "ollama": "http://127.0.0.1:11434",
}
_KEY_VARS = {
    "openai": "OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "openai-compatible": "OPENAI_COMPATIBLE_API_KEY",
}
_URL_VARS = {
    "openai": ("OPENAI_BASE_URL",),
    "anthropic": ("ANTHROPIC_BASE_URL", "ANTHROPIC_API_URL"),
    "ollama": ("OLLAMA_HOST",),
}
_EXTRAS = {
    "openai": ("langchain_openai", "openai"),
    "openai-compatible": ("langchain_openai", "openai"),
    "anthropic": ("langchain_anthropic", "anthropic"),
    "ollama": ("langchain_ollama", "ollama"),
}
_COMPATIBLE = re.compile(r"^(?P<model>[^@\s]+)@(?P<url>https?://\S+)$")


@dataclass(frozen=True)
class ModelOptions:
    """Call parameters: what the audit records as the model's parameters.

    `max_retries` is the provider package's own retry budget (openai and anthropic back off
    on 429 and 5xx, honouring Retry-After); for a client without one (ollama, any other
    chat model) the adapter retries the same way.
    """

    timeout_s: float = 60.0
    max_retries: int = 2
    temperature: float | None = None
    max_tokens: int | None = None
    preflight_timeout_s: float = 5.0

    @classmethod
    def from_settings(cls, settings: object) -> ModelOptions:
        """From `model_timeout_s`, `model_max_retries`, `model_temperature` and
        `model_max_tokens` settings, where the settings object has them."""
        found = {
            name: getattr(settings, f"model_{name}", None)
            for name in ("timeout_s", "max_retries", "temperature", "max_tokens")
        }
        return cls(**{k: v for k, v in found.items() if v is not None})

    def params(self) -> dict[str, Any]:
        recorded: dict[str, Any] = {"timeout_s": self.timeout_s, "max_retries": self.max_retries}
        if self.temperature is not None:
            recorded["temperature"] = self.temperature
        if self.max_tokens is not None:
            recorded["max_tokens"] = self.max_tokens
        return recorded


@dataclass(frozen=True)
class ModelSpec:
    """A parsed model name: provider, model id, endpoint and the key's variable name."""

    provider: str
    model: str
    base_url: str
    key_var: str | None
    name: str = field(default="")

    @property
    def version(self) -> str:
        """How the model is described everywhere (audit, run start): never a secret."""
        if self.provider == "openai-compatible":
            return f"openai-compatible:{self.model}@{_without_userinfo(self.base_url)}"
        return f"{self.provider}:{self.model}"


def parse_spec(name: str, environ: Mapping[str, str] | None = None) -> ModelSpec:
    """`openai:gpt-4o-mini` and friends, with the endpoint from the environment."""
    env = os.environ if environ is None else environ
    provider, _, rest = name.partition(":")
    if provider not in PROVIDERS or not rest.strip():
        raise ConfigError(
            f"unknown model {name!r}: expected scripted:<file>, openai:MODEL, anthropic:MODEL, "
            "ollama:MODEL or openai-compatible:MODEL@BASE_URL"
        )
    if provider == "openai-compatible":
        match = _COMPATIBLE.match(rest)
        if match is None:
            raise ConfigError(
                f"model {name!r}: write openai-compatible:MODEL@BASE_URL, "
                "e.g. openai-compatible:llama3@http://127.0.0.1:8000/v1"
            )
        model, base_url = match["model"], match["url"].rstrip("/")
    else:
        model = rest
        base_url = _default_url(provider, env)
    return ModelSpec(provider, model, base_url, _KEY_VARS.get(provider), name)


def build_chat_model(
    spec: ModelSpec, options: ModelOptions, environ: Mapping[str, str] | None = None
) -> BaseChatModel:
    """The LangChain chat model for a spec; a missing extra or key is a ModelUnavailable."""
    env = os.environ if environ is None else environ
    _require_extra(spec)
    key = _key(spec, env)
    if spec.provider in ("openai", "openai-compatible"):
        from langchain_openai import ChatOpenAI

        openai_kwargs: dict[str, Any] = {
            "model": spec.model,
            "api_key": key or "not-needed",
            "base_url": spec.base_url,
            "timeout": options.timeout_s,
            "max_retries": options.max_retries,
        }
        if options.temperature is not None:
            openai_kwargs["temperature"] = options.temperature
        if options.max_tokens is not None:
            openai_kwargs["max_completion_tokens"] = options.max_tokens
        return ChatOpenAI(**openai_kwargs)
    if spec.provider == "anthropic":
        from langchain_anthropic import ChatAnthropic

        anthropic_kwargs: dict[str, Any] = {
            "model": spec.model,
            "api_key": key,
            "base_url": spec.base_url,
            "default_request_timeout": options.timeout_s,
            "max_retries": options.max_retries,
        }
        if options.temperature is not None:
            anthropic_kwargs["temperature"] = options.temperature
        if options.max_tokens is not None:
            anthropic_kwargs["max_tokens"] = options.max_tokens
        return ChatAnthropic(**anthropic_kwargs)
    from langchain_ollama import ChatOllama

    ollama_kwargs: dict[str, Any] = {
        "model": spec.model,
        "base_url": spec.base_url,
        "client_kwargs": {"timeout": options.timeout_s},
    }
    if options.temperature is not None:
        ollama_kwargs["temperature"] = options.temperature
    if options.max_tokens is not None:
        ollama_kwargs["num_predict"] = options.max_tokens
    return ChatOllama(**ollama_kwargs)


def preflight(
    spec: ModelSpec, options: ModelOptions, environ: Mapping[str, str] | None = None
) -> None:
    """Fail before the run starts when the endpoint is down or refuses the key.

    Asks the provider's model list (a GET that costs no tokens): any answer but 401/403
    means the endpoint is up; a refused connection or a timeout is a ModelUnavailable.
    """
    import httpx

    env = os.environ if environ is None else environ
    key = _key(spec, env)
    headers: dict[str, str] = {}
    if spec.provider == "anthropic":
        url = spec.base_url.rstrip("/") + "/v1/models"
        headers = {"x-api-key": key or "", "anthropic-version": "2023-06-01"}
    elif spec.provider == "ollama":
        url = spec.base_url.rstrip("/") + "/api/tags"
    else:
        url = spec.base_url.rstrip("/") + "/models"
        if key:
            headers = {"authorization": f"Bearer {key}"}
    where = _without_userinfo(spec.base_url)
    try:
        response = httpx.get(url, headers=headers, timeout=options.preflight_timeout_s)
    except httpx.TimeoutException as exc:
        raise ModelUnavailable(
            f"model {spec.version}: {where} did not answer within "
            f"{options.preflight_timeout_s:g}s: {_endpoint_fix(spec)}"
        ) from exc
    except httpx.HTTPError as exc:
        raise ModelUnavailable(
            f"model {spec.version}: cannot reach {where} ({type(exc).__name__}): "
            f"{_endpoint_fix(spec)}"
        ) from exc
    if response.status_code in (401, 403) and spec.key_var:
        raise ModelUnavailable(
            f"model {spec.version}: {where} refused the key in {spec.key_var} "
            f"(HTTP {response.status_code}): set a valid key in the environment"
        )


def _default_url(provider: str, env: Mapping[str, str]) -> str:
    for var in _URL_VARS.get(provider, ()):
        value = env.get(var, "").strip()
        if value:
            if provider == "ollama" and "://" not in value:
                value = "http://" + value
            return value.rstrip("/")
    return _DEFAULT_URLS[provider]


def _require_extra(spec: ModelSpec) -> None:
    import importlib

    extra = "openai" if spec.provider == "openai-compatible" else spec.provider
    for module in _EXTRAS[spec.provider]:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise ModelUnavailable(
                f"model {spec.version} needs the {extra} extra: "
                f"pip install 'agent-runtime[{extra}]'"
            ) from exc


def _key(spec: ModelSpec, env: Mapping[str, str]) -> str | None:
    if spec.key_var is None:
        return None
    key = env.get(spec.key_var, "").strip()
    if not key and spec.provider != "openai-compatible":
        raise ModelUnavailable(
            f"model {spec.version} needs {spec.key_var} in the environment "
            "(keys are never read from runtime.toml): export it and run again"
        )
    return key or None


def _endpoint_fix(spec: ModelSpec) -> str:
    if spec.provider == "ollama":
        return "start it with `ollama serve` or set OLLAMA_HOST"
    if spec.provider == "openai-compatible":
        return "start the server or fix the URL after '@' in the model name"
    return f"check the network or set {_URL_VARS[spec.provider][0]}"


def _without_userinfo(url: str) -> str:
    """A URL as it may be shown: credentials embedded in it are dropped."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
