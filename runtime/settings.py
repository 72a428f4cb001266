"""Settings: `runtime.toml` in the project < `RUNTIME_*` environment < CLI flags."""

from __future__ import annotations

import os
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from runtime.errors import ConfigError


class Settings(BaseSettings):
    """Everything an operator can set. Paths are resolved against `project_dir`."""

    model_config = SettingsConfigDict(env_prefix="RUNTIME_", extra="forbid")

    project_dir: Path = Field(default_factory=Path.cwd)
    state_dir: Path | None = None
    tenant: str = "default"

    policy_engine: Literal["opa", "embedded"] = "opa"
    opa_url: str | None = None
    opa_binary: str | None = None
    policy_dir: Path | None = None
    # Seconds between polls of the policy folder for hot reload; 0 turns the watcher off.
    policy_watch_interval_s: float = Field(default=1.0, ge=0)
    # Decisions kept in the authorizer's LRU cache; 0 turns the cache off.
    policy_cache_size: int = Field(default=10_000, ge=0)

    sandbox_image: str | None = None
    sandbox_pool_size: int = Field(default=0, ge=0, le=32)
    sandbox_memory_mb: int = Field(default=512, ge=32)
    sandbox_call_timeout_s: float = Field(default=30.0, gt=0)

    max_steps: int = Field(default=40, ge=1)
    max_denials: int = Field(default=3, ge=1)

    # The dashboard's token (`runtime serve`); unset: a random one is made up and printed.
    serve_token: SecretStr | None = None

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


class _ProjectToml(TomlConfigSettingsSource):
    """Reads `runtime.toml` from the project dir chosen by the flag, the env, or the cwd."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        project = _toml_project.get() or Path(os.environ.get("RUNTIME_PROJECT_DIR", Path.cwd()))
        super().__init__(settings_cls, toml_file=project / "runtime.toml")


def load_settings(**overrides: Any) -> Settings:
    """Build settings with CLI overrides on top, turning validation errors into one line."""
    clean = {key: value for key, value in overrides.items() if value is not None}
    token = _toml_project.set(Path(clean["project_dir"]) if "project_dir" in clean else None)
    try:
        return Settings(**clean)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ConfigError(f"invalid setting {where}: {first['msg']}") from exc
    finally:
        _toml_project.reset(token)
