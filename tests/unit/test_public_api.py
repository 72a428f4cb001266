"""The public API: `runtime.__all__` names exactly the public objects, and each imports."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import pytest

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


def test_runtime_opens_a_project_folder_without_starting_anything(tmp_path: Path) -> None:
    from runtime import ConfigError, Runtime, Settings

    (tmp_path / "tools").mkdir()
    (tmp_path / "tools" / "mine.py").write_text(
        "from runtime import tool\n\n@tool(effect='read')\ndef mine() -> str:\n    return 'x'\n"
    )
    with Runtime.open(tmp_path, state_dir=tmp_path / "state") as rt:
        assert rt.settings.project_dir == tmp_path.resolve()
        assert "mine" in rt.registry and "fs.read" in rt.registry
        # Nothing heavy was started by opening: no engine, no box, no store.
        assert (rt._engine, rt._backend, rt._memory) == (None, None, None)
    settings = Settings(project_dir=tmp_path, state_dir=tmp_path / "state")
    with Runtime(settings) as rt:
        assert rt.settings is settings
    with pytest.raises(ConfigError, match="either settings= or project_dir="):
        Runtime(settings, project_dir=tmp_path)


def test_runtime_refuses_a_tool_name_given_twice(tmp_path: Path) -> None:
    from runtime import ConfigError, Runtime, tool

    @tool(name="fs.read", effect="read")
    def shadow(path: str) -> str:
        return path

    with pytest.raises(ConfigError, match=r"tool 'fs\.read' is defined twice"):
        Runtime(project_dir=tmp_path, state_dir=tmp_path / "state", tools=[shadow])
