"""The sandbox image: its tag, the composed rootfs, and the built image's settings."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Any

import pytest

from runtime.sandbox.image import (
    base_tarball,
    compose_image_tar,
    executor_source,
    image_digest,
    image_tag,
)


def test_tag_is_derived_from_the_executor() -> None:
    tag = image_tag()
    repository, _, version = tag.partition(":")
    assert repository == "agent-runtime-sandbox"
    assert len(version) == 12
    assert int(version, 16) >= 0


def _tiny_base(path: Path) -> None:
    with tarfile.open(path, "w") as out:
        for name, data, mode in [
            ("./etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n", 0o644),
            ("./etc/group", b"root:x:0:\n", 0o644),
            ("./usr/bin/su", b"\x7fELF", 0o4755),
        ]:
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            out.addfile(info, io.BytesIO(data))


def test_composed_rootfs_adds_user_workspace_executor_and_drops_setuid(tmp_path: Path) -> None:
    base, image = tmp_path / "base.tar", tmp_path / "image.tar"
    _tiny_base(base)
    compose_image_tar(
        base,
        image,
        {
            "opt/runtime/executor.py": b"print('executor')\n",
            "opt/runtime/hardening.py": b"# hardening\n",
        },
    )
    with tarfile.open(image) as tar:
        members = {m.name: m for m in tar.getmembers()}
        passwd = tar.extractfile("etc/passwd").read().decode()  # type: ignore[union-attr]
        shadow = tar.extractfile("etc/shadow").read().decode()  # type: ignore[union-attr]
        executor = tar.extractfile("opt/runtime/executor.py").read()  # type: ignore[union-attr]
    assert passwd.splitlines()[-1] == "sandbox:x:10001:10001:sandbox:/workspace:/bin/sh"
    assert shadow == "sandbox:!:19000:0:99999:7:::\n"
    assert executor == b"print('executor')\n"
    for name in ("opt/runtime/executor.py", "opt/runtime/hardening.py"):
        exe = members[name]
        assert (exe.uid, exe.gid, exe.mode) == (0, 0, 0o644)
    workspace = members["workspace"]
    assert (workspace.isdir(), workspace.uid, workspace.gid) == (True, 10001, 10001)
    assert members["usr/bin/su"].mode == 0o755


@pytest.mark.docker
def test_built_image_runs_the_executor_as_the_sandbox_user(
    docker_client: Any, sandbox_image: str
) -> None:
    assert sandbox_image == image_tag()
    assert image_digest(docker_client, sandbox_image).startswith("sha256:")
    config = docker_client.images.get(sandbox_image).attrs["Config"]
    assert (config["User"], config["WorkingDir"], config["Cmd"]) == (
        "10001:10001",
        "/workspace",
        ["python3", "-u", "/opt/runtime/executor.py"],
    )
    if base_tarball().exists():
        assert executor_source()  # the cached base is what rebuilds start from
