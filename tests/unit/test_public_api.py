"""The public API: `runtime.__all__` names exactly the public objects, and each imports."""

from __future__ import annotations

import inspect
import subprocess
import sys

import runtime
from runtime import errors

PUBLIC = {
    "Agent",
    "Effect",
    "RunResult",
    "Runtime",
    "Settings",
    "StepReport",
    "Team",
    "Tool",
    "ToolContext",
    "ToolOutcome",
    "Trust",
    "__version__",
    "tool",
}


def error_tree() -> set[str]:
    return {
        name
        for name, value in vars(errors).items()
        if inspect.isclass(value)
        and issubclass(value, errors.AgentRuntimeError)
        and value.__module__ == errors.__name__
    }


def test_all_names_exactly_the_public_objects_and_the_whole_error_tree() -> None:
    assert sorted(runtime.__all__) == sorted(PUBLIC | error_tree())
    assert len(runtime.__all__) == len(set(runtime.__all__))


def test_every_public_name_imports() -> None:
    for name in runtime.__all__:
        assert getattr(runtime, name) is not None, name
    assert runtime.Runtime.__module__ == "runtime.api"
    assert runtime.ConfigError is errors.ConfigError
    assert issubclass(runtime.ConfigError, runtime.AgentRuntimeError)


def test_star_import_gives_the_public_api() -> None:
    namespace: dict[str, object] = {}
    exec("from runtime import *", namespace)
    assert {n for n in namespace if n != "__builtins__"} == set(runtime.__all__)


def test_defining_a_tool_does_not_load_langgraph() -> None:
    code = (
        "import sys\n"
        "from runtime import tool\n"
        "@tool(effect='read')\n"
        "def f(x: int) -> int:\n"
        "    return x\n"
        "print('langgraph' in sys.modules, 'docker' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "False"]
