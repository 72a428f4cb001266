"""One exception tree for the whole runtime.

    AgentRuntimeError                 root; never shadows the builtin RuntimeError
    ├── UserError                     the developer's or operator's mistake (exit 2)
    │   ├── ConfigError               bad settings, unknown team / agent / tool / model
    │   ├── PolicyCompileError        a Rego file that does not compile
    │   └── NamespaceError            an invalid memory namespace
    ├── EnvironmentProblem            a part of the machine is missing or down (exit 5)
    │   ├── DockerUnavailable         the Docker engine does not answer
    │   ├── SandboxImageMissing       the sandbox image is not built
    │   └── OpaUnavailable            no OPA binary, or the server does not answer
    ├── SandboxError                  a sandbox failed during a run (exit 1)
    │   ├── ExecutorCrashed           the in-box executor died or stopped answering
    │   └── CommitRefused             a staged change set broke a commit rule
    ├── PolicyUnavailable             the policy engine could not decide (fail closed)
    ├── PolicyDenied                  a denial ended the run (exit 3); carries the Decision
    ├── SafetyBlocked                 the safety check ended the run (exit 3)
    ├── RunFailed                     the run ended failed (a limit, an agent that stopped)
    ├── RunNotFound                   no such run in the state directory
    └── AuditTampered                 the audit log no longer matches its key or head

Exceptions never log; the CLI (the edge) prints one line and picks the exit code from
`exit_code`. Messages are plain sentences that name the fix where there is one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from runtime.models import Decision


class AgentRuntimeError(Exception):
    """Root of every error the runtime raises on purpose."""

    exit_code: ClassVar[int] = 1


class UserError(AgentRuntimeError):
    """The caller asked for something that cannot be: fix the input."""

    exit_code = 2


class ConfigError(UserError):
    """Bad settings or an unknown team, agent, tool or model."""


class PolicyCompileError(UserError):
    """A policy file does not compile or a policy test failed to load."""


class NamespaceError(UserError):
    """A memory namespace is malformed."""


class EnvironmentProblem(AgentRuntimeError):
    """A part of the machine the runtime needs is missing or down."""

    exit_code = 5


class DockerUnavailable(EnvironmentProblem):
    """The Docker engine does not answer."""


class SandboxImageMissing(EnvironmentProblem):
    """The sandbox image has not been built on this engine."""


class OpaUnavailable(EnvironmentProblem):
    """No OPA binary was found, or the OPA server does not answer."""


class SandboxError(AgentRuntimeError):
    """A sandbox failed while serving a run."""


class ExecutorCrashed(SandboxError):
    """The executor inside the box died or stopped answering; the box is discarded."""


class CommitRefused(SandboxError):
    """A staged change set broke a commit rule (path escape, link, size or count cap)."""


class PolicyUnavailable(AgentRuntimeError):
    """The policy engine could not produce a decision; callers must deny."""


class PolicyDenied(AgentRuntimeError):
    """A policy denial ended a run (`RunResult.raise_for_status`); carries the Decision.

    Inside a run a denial is not an exception: it goes back to the agent as the tool's
    answer, and only ends the run when the agent stops or `max_denials` is reached."""

    exit_code = 3

    def __init__(self, message: str, decision: Decision) -> None:
        super().__init__(message)
        self.decision = decision


class SafetyBlocked(AgentRuntimeError):
    """The safety check ended a run (`RunResult.raise_for_status`): a blocked action or
    a blocked final answer."""

    exit_code = 3


class RunFailed(AgentRuntimeError):
    """A run ended `failed`: a step limit, an agent that stopped without an answer."""


class RunNotFound(UserError):
    """No run with that id exists in the state directory."""


class AuditTampered(AgentRuntimeError):
    """The audit log does not match its key or signed head; nothing more is appended."""
