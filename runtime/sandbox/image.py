"""The sandbox image: its tag, its offline build, and its digest for the audit.

Owns: the image recipe (debootstrap a minimal Debian bookworm with python3, add the
`sandbox` user and the executor, `docker import` it) and the optional Dockerfile build for
hosts with a registry. The tag is derived from the executor's files and the recipe
version, so changing the executor forces a rebuild. The debootstrapped base rootfs is
cached as a tarball, so a rebuild takes seconds. The one entry point is `runtime sandbox
build` (`runtime.sandbox.admin.build_image_cli`, which calls `ensure_image`).
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from runtime.errors import EnvironmentProblem, SandboxImageMissing

RECIPE_VERSION = "1"
REPOSITORY = "agent-runtime-sandbox"
SANDBOX_UID = 10001
SANDBOX_GID = 10001
SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
# The in-box program: sandbox/<name> lands at /opt/runtime/<name> (root-owned, 0644).
EXECUTOR_FILES = ("executor.py", "hardening.py")
IMPORT_CHANGES = [
    f"USER {SANDBOX_UID}:{SANDBOX_GID}",
    "WORKDIR /workspace",
    'CMD ["python3","-u","/opt/runtime/executor.py"]',
    "ENV LANG=C.UTF-8 PYTHONDONTWRITEBYTECODE=1",
]
# Trimmed from the base rootfs: caches and docs nobody in the box needs.
STRIP_PATHS = [
    "var/cache/apt",
    "var/lib/apt/lists",
    "usr/share/doc",
    "usr/share/man",
    "usr/share/info",
    "usr/share/locale",
    "usr/share/lintian",
    "var/log",
    "var/cache/debconf",
]

Progress = Callable[[str], None]


def sandbox_dir() -> Path:
    """The folder holding what runs inside the box (executor.py, hardening.py, the
    Dockerfile): the project's `sandbox/` in a checkout, reached through the
    `runtime/sandbox/inbox` link so that a wheel ships it inside the `runtime` package
    instead of installing a top-level `sandbox` package."""
    return Path(__file__).parent / "inbox"


def executor_source() -> bytes:
    return (sandbox_dir() / "executor.py").read_bytes()


def executor_files() -> dict[str, bytes]:
    """Each in-box file by its path in the image."""
    return {f"opt/runtime/{name}": (sandbox_dir() / name).read_bytes() for name in EXECUTOR_FILES}


def image_tag() -> str:
    """`agent-runtime-sandbox:<12 hex>` for the current executor and recipe."""
    digest = hashlib.sha256()
    for path, data in executor_files().items():
        digest.update(path.encode() + b"\0" + hashlib.sha256(data).digest())
    digest.update(b"\0recipe=" + RECIPE_VERSION.encode())
    return f"{REPOSITORY}:{digest.hexdigest()[:12]}"


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "agent-runtime"


def base_tarball() -> Path:
    return cache_dir() / f"{SUITE}-python3.tar"


def _import_docker_errors() -> Any:
    try:
        import docker.errors
    except ImportError as exc:  # pragma: no cover - docker is a dependency
        raise EnvironmentProblem(
            "The docker package is not installed: run `pip install docker`"
        ) from exc
    return docker.errors


def image_present(client: Any, tag: str) -> bool:
    errors = _import_docker_errors()
    try:
        client.images.get(tag)
    except errors.ImageNotFound:
        return False
    return True


def image_digest(client: Any, tag: str) -> str:
    """The image id (`sha256:...`) of `tag`, recorded in the audit for each box."""
    errors = _import_docker_errors()
    try:
        return str(client.images.get(tag).id)
    except errors.ImageNotFound as exc:
        raise SandboxImageMissing(
            f"Sandbox image {tag} is not built: run `runtime sandbox build`"
        ) from exc


def ensure_image(
    client: Any,
    progress: Progress | None = None,
    *,
    force: bool = False,
    use_dockerfile: bool = False,
) -> str:
    """Build the sandbox image unless it is already present; return its tag."""
    say = progress or (lambda _message: None)
    tag = image_tag()
    if not force and image_present(client, tag):
        say(f"sandbox image {tag} already present")
        return tag
    if use_dockerfile:
        return build_from_dockerfile(client, tag, say)
    tarball = base_tarball()
    if not tarball.exists():
        build_base_tarball(tarball, say)
    else:
        say(f"using cached base rootfs {tarball}")
    with tempfile.TemporaryDirectory(prefix="agent-runtime-image-") as tmp:
        image_tar = Path(tmp) / "image.tar"
        say("composing image rootfs (user, workspace, executor)")
        compose_image_tar(tarball, image_tar, executor_files())
        repository, _, version = tag.partition(":")
        say(f"docker import -> {tag}")
        client.api.import_image_from_file(
            str(image_tar), repository=repository, tag=version, changes=IMPORT_CHANGES
        )
    if not image_present(client, tag):
        raise SandboxImageMissing(f"docker import did not produce {tag}")
    removed = remove_stale_images(client, keep=tag)
    if removed:
        say(f"removed {removed} older sandbox image(s)")
    return tag


def remove_stale_images(client: Any, keep: str) -> int:
    """Remove older `agent-runtime-sandbox:*` tags no container uses (never forced)."""
    errors = _import_docker_errors()
    removed = 0
    for image in client.images.list(name=REPOSITORY):
        tags = [tag for tag in image.tags if tag.startswith(f"{REPOSITORY}:") and tag != keep]
        if keep in image.tags:
            continue
        for tag in tags:
            try:
                client.images.remove(tag, noprune=False)
                removed += 1
            except errors.APIError:
                pass  # still used by a container: leave it
    return removed


# --------------------------------------------------------------------------- base rootfs


def build_base_tarball(target: Path, say: Progress) -> None:
    """debootstrap minbase + python3, strip caches and docs, tar it into the cache."""
    if shutil.which("debootstrap") is None:
        raise EnvironmentProblem(
            "debootstrap is not installed: run `apt-get install debootstrap`, or build with "
            "`runtime sandbox build --dockerfile` where a registry is reachable"
        )
    if os.geteuid() != 0:
        raise EnvironmentProblem(
            "debootstrap needs root: run `runtime sandbox build` as root once (the base "
            "rootfs is then cached)"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="agent-runtime-rootfs-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        say(f"debootstrap {SUITE} minbase + python3 (about a minute)")
        subprocess.run(
            [
                "debootstrap",
                "--variant=minbase",
                "--include=python3",
                SUITE,
                str(rootfs),
                MIRROR,
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        for relative in STRIP_PATHS:
            path = rootfs / relative
            if path.is_dir():
                for child in path.iterdir():
                    if child.is_dir() and not child.is_symlink():
                        shutil.rmtree(child)
                    else:
                        child.unlink()
        partial = target.with_suffix(".tar.partial")
        say(f"caching base rootfs at {target}")
        subprocess.run(
            ["tar", "--numeric-owner", "-C", str(rootfs), "-cf", str(partial), "."],
            check=True,
        )
        os.replace(partial, target)


# --------------------------------------------------------------------------- image rootfs


def _normal(name: str) -> str:
    name = name.removeprefix("./")
    return name.rstrip("/")


def _text_member(name: str, data: bytes, mode: int = 0o644) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    info.mtime = 0
    return info, data


def _dir_member(name: str, uid: int, gid: int, mode: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = mode
    info.uid, info.gid = uid, gid
    info.mtime = 0
    return info


def _with_sandbox_user(name: str, data: bytes) -> bytes:
    lines = {
        "etc/passwd": f"sandbox:x:{SANDBOX_UID}:{SANDBOX_GID}:sandbox:/workspace:/bin/sh\n",
        "etc/group": f"sandbox:x:{SANDBOX_GID}:\n",
        "etc/shadow": "sandbox:!:19000:0:99999:7:::\n",
        "etc/gshadow": "sandbox:!::\n",
    }
    text = data.decode()
    if not text.endswith("\n") and text:
        text += "\n"
    return (text + lines[name]).encode()


def compose_image_tar(base: Path, target: Path, executor: dict[str, bytes]) -> None:
    """Copy the base rootfs tar, adding the sandbox user, /workspace and the executor.

    setuid/setgid bits are cleared on the way: nothing in the box should ever gain
    privileges (no-new-privileges already blocks it; this removes the temptation).
    """
    account_files = {"etc/passwd", "etc/group", "etc/shadow", "etc/gshadow"}
    skip = {"workspace", "opt/runtime", *executor}
    seen: set[str] = set()
    with tarfile.open(base, "r:") as source, tarfile.open(target, "w:") as out:
        for member in source:
            name = _normal(member.name)
            if not name or name in skip:
                continue
            member.name = name
            if member.islnk():
                member.linkname = _normal(member.linkname)
            seen.add(name)
            if member.isfile():
                member.mode &= ~0o6000
                handle = source.extractfile(member)
                data = handle.read() if handle is not None else b""
                if name in account_files:
                    data = _with_sandbox_user(name, data)
                    member.size = len(data)
                out.addfile(member, io.BytesIO(data))
            else:
                out.addfile(member)
        for name in sorted(account_files - seen):
            info, data = _text_member(name, _with_sandbox_user(name, b""))
            out.addfile(info, io.BytesIO(data))
        if "opt" not in seen:
            out.addfile(_dir_member("opt", 0, 0, 0o755))
        out.addfile(_dir_member("opt/runtime", 0, 0, 0o755))
        for path, program in sorted(executor.items()):
            info, data = _text_member(path, program, 0o644)
            out.addfile(info, io.BytesIO(data))
        out.addfile(_dir_member("workspace", SANDBOX_UID, SANDBOX_GID, 0o755))


# --------------------------------------------------------------------------- Dockerfile


def build_from_dockerfile(client: Any, tag: str, say: Progress) -> str:
    """Build from sandbox/Dockerfile (needs debian:bookworm-slim from a registry)."""
    errors = _import_docker_errors()
    say(f"docker build sandbox/Dockerfile -> {tag}")
    try:
        client.images.build(path=str(sandbox_dir()), dockerfile="Dockerfile", tag=tag, rm=True)
    except (errors.BuildError, errors.APIError) as exc:
        raise SandboxImageMissing(
            f"Dockerfile build of {tag} failed ({exc}): without a registry, run "
            "`runtime sandbox build` (the offline debootstrap recipe)"
        ) from exc
    return tag
