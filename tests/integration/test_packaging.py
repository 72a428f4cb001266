"""The wheel installs one top-level package, `runtime`: a user's own `tools/`, `agents/` or
`sandbox/` folder can shadow nothing, and the executor, its image recipe and the built-in
policy library travel inside `runtime`."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow


def test_the_wheel_installs_only_the_runtime_package(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(REPO)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    (wheel,) = tmp_path.glob("agent_runtime-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    dist_info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
    assert {name.split("/")[0] for name in names} == {"runtime", dist_info}
    for shipped in (
        "runtime/sandbox/inbox/executor.py",
        "runtime/sandbox/inbox/hardening.py",
        "runtime/sandbox/inbox/Dockerfile",
        "runtime/policy/library/data.json",
        "runtime/policy/library/runtime/authz/authz.rego",
        "runtime/serve/templates/run.html",
    ):
        assert shipped in names
    in_box = {n.removeprefix("runtime/sandbox/inbox/") for n in names if "/inbox/" in n}
    assert (REPO / "sandbox" / "executor.py").read_bytes() == zipfile.ZipFile(wheel).read(
        "runtime/sandbox/inbox/executor.py"
    )
    assert "executor.py" in in_box
