"""Settings: `runtime.toml` in the project < `RUNTIME_*` environment < CLI flags.

`runtime settings` prints the settings in effect; `runtime settings --markdown` prints the
reference in docs/settings.md, generated from this model (a test keeps the two equal).
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from runtime.errors import ConfigError
from runtime.provenance.schema import TrustedData

# The grammar of a memory-namespace segment (runtime/memory/namespace.py): the tenant
# names every namespace, so a tenant that does not fit would fail only mid-run.
_TENANT = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")

# Read from the environment by the parts that use them, never from runtime.toml.
ENVIRONMENT_ONLY = {
    "RUNTIME_AUDIT_KEY": "The audit log's HMAC key (at least 32 characters), for deployments "
    "that keep it outside the state folder; without it the runtime creates "
    "`<state_dir>/audit.key` (0600) once.",
}


class Settings(BaseSettings):
    """Everything an operator can set. Paths are resolved against `project_dir`."""

    model_config = SettingsConfigDict(env_prefix="RUNTIME_", extra="forbid")

    project_dir: Path = Field(
        default_factory=Path.cwd,
        description="The project folder (agents/, rego/, runtime.toml): `--project`, else "
        "`RUNTIME_PROJECT_DIR`, else the current folder. `runtime.toml` is read from it.",
    )
    state_dir: Path | None = Field(
        default=None,
        description="Where runs keep their state: audit log, audit key and head, checkpoints, "
        "staged bytes, memories. Created 0700, files 0600. Default: `<project>/.runtime`.",
    )
    tenant: str = Field(
        default="default",
        description="The tenant in policy inputs and memory namespaces: lowercase letters, "
        "digits, `_` and `-`, starting with a letter or digit, at most 63 characters.",
    )

    policy_engine: Literal["opa", "embedded"] = Field(
        default="opa",
        description="`opa` (a managed OPA server, or the one at `opa_url`) or `embedded` "
        "(regopy in the process; needs no OPA binary).",
    )
    opa_url: str | None = Field(
        default=None, description="Ask this OPA server instead of starting one."
    )
    opa_binary: str | None = Field(
        default=None,
        description="The `opa` binary to start. Default: found on PATH or in ~/go/bin.",
    )
    policy_dir: Path | None = Field(
        default=None, description="The policy folder. Default: `<project>/rego`."
    )
    policy_watch_interval_s: float = Field(
        default=1.0,
        ge=0,
        description="Seconds between polls of the policy folder for hot reload; 0 turns the "
        "watcher off.",
    )
    policy_cache_size: int = Field(
        default=10_000,
        ge=0,
        description="Decisions kept in the authorizer's LRU cache; 0 turns the cache off.",
    )

    sandbox_image: str | None = Field(
        default=None,
        description="The sandbox image tag. Default: the tag `runtime sandbox build` makes.",
    )
    sandbox_pool_size: int = Field(
        default=0, ge=0, le=32, description="Boxes kept started and ready (0 to 32)."
    )
    sandbox_memory_mb: int = Field(
        default=512, ge=32, description="Memory limit of each box, in MiB (at least 32)."
    )
    sandbox_call_timeout_s: float = Field(
        default=30.0, gt=0, description="Seconds before a tool call in the box is killed."
    )

    max_steps: int = Field(
        default=40, ge=1, description="Tool calls a run may make before it is stopped."
    )
    max_denials: int = Field(
        default=3, ge=1, description="Denied calls after which a run ends `blocked`."
    )

    safety_deadline_s: float = Field(
        default=30.0,
        gt=0,
        description="Seconds the safety check may take on one action before it stops and "
        "fails closed (`safety_on_timeout`).",
    )
    safety_on_timeout: Literal["block", "escalate"] = Field(
        default="block",
        description="The verdict when the safety check runs past `safety_deadline_s`.",
    )
    safety_on_unredactable: Literal["block", "escalate"] = Field(
        default="block",
        description="The verdict instead of `redact` when a finding is in a file name, a "
        "link target, or a binary or encoded file (redaction would corrupt it).",
    )

    serve_token: SecretStr | None = Field(
        default=None,
        description="Token the dashboard (`runtime serve`) requires; unset, a random one is "
        "made up and printed at start-up. At least 16 characters.",
    )
    budget_run_model_calls: int | None = Field(
        default=None,
        gt=0,
        description="Most model calls a run (all its agents together) may use; unset: no limit.",
    )
    budget_run_input_tokens: int | None = Field(
        default=None,
        gt=0,
        description="Most input tokens a run (all its agents together) may use; unset: no limit.",
    )
    budget_run_output_tokens: int | None = Field(
        default=None,
        gt=0,
        description="Most output tokens a run (all its agents together) may use; unset: no limit.",
    )
    budget_run_wall_time_s: float | None = Field(
        default=None,
        gt=0,
        description="Most seconds of wall time a run (all its agents together) may use; unset: no limit.",
    )
    budget_agent_model_calls: int | None = Field(
        default=None,
        gt=0,
        description="Most model calls each agent of a run may use; unset: no limit.",
    )
    budget_agent_input_tokens: int | None = Field(
        default=None,
        gt=0,
        description="Most input tokens each agent of a run may use; unset: no limit.",
    )
    budget_agent_output_tokens: int | None = Field(
        default=None,
        gt=0,
        description="Most output tokens each agent of a run may use; unset: no limit.",
    )
    budget_agent_wall_time_s: float | None = Field(
        default=None,
        gt=0,
        description="Most seconds of wall time each agent of a run may use; unset: no limit.",
    )
    model: str | None = Field(
        default=None,
        description="A model name that replaces every agent's model for a run (e.g. "
        "`openai:gpt-4o-mini`, or `RUNTIME_MODEL=...` for one command); unset: each agent's own.",
    )
    model_timeout_s: float = Field(
        default=60.0, gt=0, description="Seconds a chat model's call may take before it is retried."
    )
    model_max_retries: int = Field(
        default=2, ge=0, description="Retries of a chat model's call on 429, 5xx and timeouts."
    )
    model_temperature: float | None = Field(
        default=None,
        ge=0,
        description="Sampling temperature for chat models; unset: the provider's.",
    )
    model_max_tokens: int | None = Field(
        default=None,
        gt=0,
        description="Most output tokens per chat model call; unset: the provider's.",
    )
    otel_endpoint: str | None = Field(
        default=None,
        description="OTLP/gRPC endpoint (e.g. `http://127.0.0.1:4317`) for spans and metrics; "
        "unset, OpenTelemetry is off.",
    )
    trusted_data: TrustedData = Field(
        default_factory=TrustedData,
        description="The principal's own data, trusted in every run: `[trusted_data.identity]`, "
        "`[[trusted_data.contacts]]`, `[[trusted_data.accounts]]`, `[trusted_data.other]` "
        "(tables of any keys). A recipient, account or URL taken from here needs no approval; "
        "the same value read only from a web page or an e-mail does (docs/provenance.md).",
    )

    @field_validator("tenant")
    @classmethod
    def _tenant_is_a_namespace_segment(cls, value: str) -> str:
        if not _TENANT.fullmatch(value):
            raise ValueError(
                f"{value!r} is not a tenant name: use lowercase letters, digits, _ and -, "
                "starting with a letter or digit, at most 63 characters"
            )
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _ProjectToml(settings_cls))

    @property
    def resolved_state_dir(self) -> Path:
        return (self.state_dir or self.project_dir / ".runtime").resolve()

    @property
    def resolved_policy_dir(self) -> Path:
        return (self.policy_dir or self.project_dir / "rego").resolve()

    @property
    def agents_dir(self) -> Path:
        return (self.project_dir / "agents").resolve()


_toml_project: ContextVar[Path | None] = ContextVar("_toml_project", default=None)
_TOML_WHERE = re.compile(r"^(?P<problem>.*) \(at line (?P<row>\d+), column (?P<column>\d+)\)$")


class _ProjectToml(TomlConfigSettingsSource):
    """Reads `runtime.toml` from the project dir chosen by the flag, the env, or the cwd."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        project = _toml_project.get() or Path(os.environ.get("RUNTIME_PROJECT_DIR", Path.cwd()))
        super().__init__(settings_cls, toml_file=project / "runtime.toml")

    def _read_file(self, file_path: Any) -> dict[str, Any]:
        try:
            return super()._read_file(file_path)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(toml_problem(Path(str(file_path)), exc)) from exc


def toml_problem(path: Path, exc: tomllib.TOMLDecodeError) -> str:
    """`<file> row R, column C: <problem>`: one line an editor can jump to."""
    text = str(exc)
    where = _TOML_WHERE.match(text)
    if where is None:
        return f"{path}: {text[:1].lower()}{text[1:]}; fix the TOML syntax"
    problem = where["problem"]
    return (
        f"{path} row {where['row']}, column {where['column']}: "
        f"{problem[:1].lower()}{problem[1:]}; fix the TOML syntax there"
    )


def load_settings(**overrides: Any) -> Settings:
    """Build settings with CLI overrides on top, turning validation errors into one line."""
    clean = {key: value for key, value in overrides.items() if value is not None}
    token = _toml_project.set(Path(clean["project_dir"]) if "project_dir" in clean else None)
    try:
        return Settings(**clean)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        message = str(first["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"invalid setting {where}: {message}") from exc
    finally:
        _toml_project.reset(token)


def _type_name(annotation: Any) -> str:
    """`path`, `int`, `"opa" or "embedded"`: the type as a reader writes the value."""
    args = [a for a in get_args(annotation) if a is not type(None)]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "table"
    if get_origin(annotation) is Literal:
        return " or ".join(f'"{a}"' for a in args)
    if args:
        return " or ".join(_type_name(a) for a in args)
    return {Path: "path", str: "string", int: "integer", float: "number", bool: "boolean"}.get(
        annotation, str(annotation)
    )


def settings_markdown() -> str:
    """docs/settings.md: every setting with its type, default and meaning, from the model."""
    lines = [
        "# Settings",
        "",
        "<!-- Generated by `runtime settings --markdown` from `runtime/settings.py`; "
        "tests/integration/test_cli_settings.py checks that it matches. -->",
        "",
        "Each setting comes from, lowest precedence first: `runtime.toml` in the project "
        "folder, the environment (`RUNTIME_<NAME>`), then the command-line flag where there "
        "is one (`--project`, `--engine`). `runtime settings` prints the values in effect.",
        "",
        "| setting (`runtime.toml`) | environment | type | default | meaning |",
        "|---|---|---|---|---|",
    ]
    for name, field in Settings.model_fields.items():
        if field.default_factory is not None:
            default = "see meaning"
        elif field.default is None:
            default = "unset"
        else:
            default = f"`{json.dumps(field.default)}`"
        kind = _type_name(field.annotation)
        lines.append(
            f"| `{name}` | `RUNTIME_{name.upper()}` | {kind} | {default} | "
            f"{field.description or ''} |"
        )
    lines += ["", "## Environment only", "", "| variable | meaning |", "|---|---|"]
    lines += [f"| `{name}` | {meaning} |" for name, meaning in ENVIRONMENT_ONLY.items()]
    lines += [
        "",
        "A malformed `runtime.toml` or an invalid value stops every command with one line "
        "naming the file, the row or setting, and the problem (exit 2).",
        "",
    ]
    return "\n".join(lines)
