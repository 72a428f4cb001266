"""A policy directory as one versioned unit, and the OPA command-line helpers around it.

A bundle is every `.rego` file of a directory except `*_test.rego`, plus its `data.json`
files. Its version is a content hash, so two engines loaded from the same files report the
same `policy_version`, and a decision can be traced to the exact policy text that made it.

Data files follow OPA's loader convention: `<dir>/data.json` is merged at the data root,
`<dir>/a/b/data.json` under `data.a.b`. The built-in data sits under `data.runtime_data`
so it never collides with the rule packages under `data.runtime`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runtime.errors import OpaUnavailable, PolicyCompileError

OPA_VERSION = "v1.22.2"
OPA_MISSING = f"OPA not found: run scripts/setup.sh (installs opa {OPA_VERSION})"
DATA_FILE = "data.json"
FILE_ROW = re.compile(r"\.rego:\d+: ")


@dataclass(frozen=True)
class PolicyBundle:
    """The loaded contents of a policy directory."""

    root: Path
    modules: Mapping[str, str]
    data: Mapping[str, Any] = field(default_factory=dict)
    version: str = ""


@dataclass(frozen=True)
class OpaCommandResult:
    """Exit status and output of one `opa` invocation."""

    returncode: int
    stdout: str
    stderr: str = ""

    @property
    def output(self) -> str:
        return "\n".join(part for part in (self.stdout.strip(), self.stderr.strip()) if part)

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def is_test_module(path: Path) -> bool:
    return path.name.endswith("_test.rego")


def policy_files(policy_dir: Path) -> list[Path]:
    """The files a bundle is made of, sorted: non-test `.rego` and `data.json`."""
    files = [
        path
        for path in policy_dir.rglob("*")
        if path.is_file()
        and ((path.suffix == ".rego" and not is_test_module(path)) or path.name == DATA_FILE)
    ]
    return sorted(files, key=lambda path: path.relative_to(policy_dir).as_posix())


def bundle_hash(files: Mapping[str, bytes]) -> str:
    """`sha256:<hex>` over the sorted relative paths and their contents."""
    digest = hashlib.sha256()
    for relative in sorted(files):
        digest.update(relative.encode())
        digest.update(b"\0")
        digest.update(files[relative])
        digest.update(b"\0")
    return f"sha256:{digest.hexdigest()}"


def merge_data(target: dict[str, Any], prefix: Sequence[str], document: Any) -> None:
    """Put `document` at `prefix` inside `target`, merging objects like OPA's loader."""
    if not prefix:
        if not isinstance(document, dict):
            raise PolicyCompileError("A data.json at the policy root must hold a JSON object.")
        for key, value in document.items():
            existing = target.get(key)
            if isinstance(existing, dict) and isinstance(value, dict):
                merge_data(existing, [], value)
            else:
                target[key] = value
        return
    head, *rest = prefix
    child = target.setdefault(head, {})
    if not isinstance(child, dict):
        raise PolicyCompileError(f"Data conflict at {'.'.join(prefix)}: not an object.")
    if rest:
        merge_data(child, rest, document)
    elif isinstance(document, dict):
        merge_data(child, [], document)
    else:
        target[head] = document


def load_bundle(policy_dir: str | os.PathLike[str]) -> PolicyBundle:
    """Read a policy directory; raises PolicyCompileError for unreadable data JSON."""
    root = Path(policy_dir).resolve()
    if not root.is_dir():
        raise PolicyCompileError(f"Policy directory {root} does not exist.")
    raw: dict[str, bytes] = {}
    modules: dict[str, str] = {}
    data: dict[str, Any] = {}
    for path in policy_files(root):
        relative = path.relative_to(root).as_posix()
        content = path.read_bytes()
        raw[relative] = content
        if path.suffix == ".rego":
            modules[relative] = content.decode()
            continue
        try:
            document = json.loads(content)
        except ValueError as exc:
            raise PolicyCompileError(f"{relative}: invalid JSON: {exc}") from exc
        merge_data(data, list(Path(relative).parent.parts), document)
    if not modules:
        raise PolicyCompileError(f"Policy directory {root} holds no .rego modules.")
    return PolicyBundle(root=root, modules=modules, data=data, version=bundle_hash(raw))


# --------------------------------------------------------------------------- OPA binary


def go_bin_dir() -> Path | None:
    go = shutil.which("go")
    if go is None:
        return None
    try:
        completed = subprocess.run(
            [go, "env", "GOPATH"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    gopath = completed.stdout.strip().split(os.pathsep)[0] if completed.stdout else ""
    return Path(gopath) / "bin" if gopath else None


def find_opa() -> Path:
    """`opa` on PATH, else `$(go env GOPATH)/bin/opa`, else `~/go/bin/opa`."""
    on_path = shutil.which("opa")
    if on_path is not None:
        return Path(on_path)
    candidates = [directory / "opa" for directory in (go_bin_dir(),) if directory is not None]
    candidates.append(Path.home() / "go" / "bin" / "opa")
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise OpaUnavailable(OPA_MISSING)


def run_opa(
    args: Sequence[str],
    *,
    opa: Path | None = None,
    timeout: float = 120.0,
    cwd: Path | None = None,
) -> OpaCommandResult:
    binary = opa or find_opa()
    try:
        completed = subprocess.run(
            [str(binary), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd=cwd,
        )
    except OSError as exc:
        raise OpaUnavailable(f"OPA at {binary} could not run: {exc}") from exc
    except subprocess.TimeoutExpired as exc:
        raise OpaUnavailable(f"opa {' '.join(args)} did not finish within {timeout}s") from exc
    return OpaCommandResult(completed.returncode, completed.stdout, completed.stderr)


def first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def first_error(text: str) -> str:
    """The first line naming a file and row (`x.rego:4: rego_parse_error: ...`), else the
    first line: OPA leads several errors with `2 errors occurred during loading:`."""
    lines = [line.strip() for line in text.splitlines()]
    return next((line for line in lines if FILE_ROW.search(line)), first_line(text))


def opa_check(
    paths: Sequence[str | os.PathLike[str]], *, opa: Path | None = None, cwd: Path | None = None
) -> None:
    """`opa check --strict`; raises PolicyCompileError led by OPA's first message line."""
    result = run_opa(["check", "--strict", *(str(path) for path in paths)], opa=opa, cwd=cwd)
    if not result.ok:
        raise PolicyCompileError(
            f"{first_error(result.output)} (opa check --strict failed)\n{result.output}"
        )


def opa_test(
    policy_dir: str | os.PathLike[str],
    *,
    opa: Path | None = None,
    extra_args: Sequence[str] = ("--fail-on-empty",),
) -> OpaCommandResult:
    """`opa test <dir>`: the exit status and output, for the CLI to print."""
    return run_opa(["test", *extra_args, str(policy_dir)], opa=opa)


def opa_fmt_check(
    policy_dir: str | os.PathLike[str], *, opa: Path | None = None
) -> OpaCommandResult:
    """`opa fmt --fail --list`: non-zero exit when a file is not formatted."""
    return run_opa(["fmt", "--fail", "--list", str(policy_dir)], opa=opa)


def check_bundle(bundle: PolicyBundle, *, opa: Path | None = None) -> None:
    """Strict-check only the files the bundle loads (not its tests); errors name each file
    by its module id (`runtime/authz/authz.rego:4: ...`), as the embedded engine does."""
    opa_check(sorted(bundle.modules), opa=opa, cwd=bundle.root)
