"""agent-runtime: run multi-agent LangGraph teams whose every tool call is authorized by OPA,
executed in a hardened Docker sandbox, checked by a safety node, committed, and audited.

The public API (everything else is internal and may change):

    from runtime import Agent, Runtime, Team, tool

`Runtime` is imported on first use, so `from runtime import tool` in a project's
`tools/*.py` does not load LangGraph.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runtime.agents import Agent, Team
from runtime.errors import (
    AgentRuntimeError,
    AuditTampered,
    CommitRefused,
    ConfigError,
    DockerUnavailable,
    EnvironmentProblem,
    ExecutorCrashed,
    NamespaceError,
    OpaUnavailable,
    PolicyCompileError,
    PolicyDenied,
    PolicyUnavailable,
    RunFailed,
    RunNotFound,
    SafetyBlocked,
    SandboxError,
    SandboxImageMissing,
    UserError,
)
from runtime.models import Effect, RunResult, StepReport, Trust
from runtime.toolkit import Tool, ToolContext, ToolOutcome, tool

if TYPE_CHECKING:
    from runtime.api import Runtime
    from runtime.settings import Settings

__version__ = "0.1.0"

__all__ = [
    "Agent",
    "AgentRuntimeError",
    "AuditTampered",
    "CommitRefused",
    "ConfigError",
    "DockerUnavailable",
    "Effect",
    "EnvironmentProblem",
    "ExecutorCrashed",
    "NamespaceError",
    "OpaUnavailable",
    "PolicyCompileError",
    "PolicyDenied",
    "PolicyUnavailable",
    "RunFailed",
    "RunNotFound",
    "RunResult",
    "Runtime",
    "SafetyBlocked",
    "SandboxError",
    "SandboxImageMissing",
    "Settings",
    "StepReport",
    "Team",
    "Tool",
    "ToolContext",
    "ToolOutcome",
    "Trust",
    "UserError",
    "__version__",
    "tool",
]


def __getattr__(name: str) -> Any:
    if name == "Runtime":
        from runtime.api import Runtime

        return Runtime
    if name == "Settings":
        from runtime.settings import Settings

        return Settings
    raise AttributeError(f"module 'runtime' has no attribute {name!r}")
