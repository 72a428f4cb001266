"""Attacks on the Docker sandbox. Each asserts the host and the runtime are unharmed; the
`box` fixture then checks that a fresh box still works (see conftest.py)."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import time
import uuid
import zipfile
from pathlib import Path

import pytest

from runtime.errors import CommitRefused, ExecutorCrashed
from runtime.models import ChangeSet, FileChange
from runtime.sandbox.base import CommitCaps
from runtime.sandbox.changeset import diff
from runtime.sandbox.docker import DockerBackend, DockerSandbox
from tests.fixtures_sandbox import commit_from_box
from tests.hostile.conftest import HOST_CANARY_NAME, HOST_CANARY_VALUE

pytestmark = pytest.mark.docker

LIST_PROCESSES = (
    "import os\n"
    "me = os.getpid()\n"
    "pids = sorted(int(p) for p in os.listdir('/proc') if p.isdigit())\n"
    "others = [p for p in pids if p not in (1, os.getppid(), me)]\n"
    "print(others)\n"
)


def alive(box: DockerSandbox) -> bool:
    return box.run_python("print('ok')", timeout_s=10).stdout == "ok\n"


# --------------------------------------------------------------------------- resources


def test_fork_bomb_is_contained(box: DockerSandbox) -> None:
    code = (
        "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    )
    start = time.monotonic()
    result = box.run_python(code, timeout_s=2)
    assert result.timed_out or result.exit_code != 0
    assert time.monotonic() - start < 10
    assert box.run_python(LIST_PROCESSES).stdout == "[]\n"


def test_memory_bomb_is_killed_and_the_box_survives(box: DockerSandbox) -> None:
    code = "chunks = []\nwhile True:\n    chunks.append(bytearray(16 * 1024 * 1024))\n"
    result = box.run_python(code, timeout_s=10)
    assert result.exit_code != 0
    assert not result.timed_out
    assert alive(box)


@pytest.mark.parametrize(("folder", "cap_mb"), [("/workspace", 16), ("/tmp", 8)])
def test_disk_fill_stops_at_the_tmpfs_cap(box: DockerSandbox, folder: str, cap_mb: int) -> None:
    code = (
        "import os\n"
        "written = 0\n"
        "try:\n"
        "    for i in range(1000):\n"
        f"        with open(os.path.join({folder!r}, f'fill{{i}}'), 'wb') as f:\n"
        "            for _ in range(4):\n"
        "                f.write(b'x' * (1024 * 1024)); written += 1024 * 1024\n"
        "except OSError as e:\n"
        "    print('stopped', e.errno)\n"
        f"st = os.statvfs({folder!r}); print(st.f_blocks * st.f_frsize // (1024 * 1024))\n"
    )
    result = box.run_python(code, timeout_s=20)
    assert result.stdout.startswith("stopped 28\n")  # ENOSPC
    assert int(result.stdout.split()[-1]) == cap_mb
    assert alive(box)


def test_file_size_limit_stops_one_huge_file(box: DockerSandbox) -> None:
    code = (
        "import signal\nsignal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "try:\n"
        "    with open('big', 'wb') as f:\n"
        "        for _ in range(12): f.write(b'x' * (1024 * 1024))\n"
        "except OSError as e:\n"
        "    print('stopped', e.errno)\n"
        "import os; print(os.path.getsize('big'))\n"
    )
    result = box.run_python(code, timeout_s=20)
    assert result.stdout == f"stopped 27\n{8 * 1024 * 1024}\n"  # EFBIG at the 8 MiB fsize


def test_cpu_spin_past_the_timeout_is_killed(box: DockerSandbox) -> None:
    start = time.monotonic()
    result = box.run_command(["sh", "-c", "while :; do :; done"], timeout_s=1)
    assert (result.timed_out, result.exit_code) == (True, 137)
    assert time.monotonic() - start < 5


def test_spinning_processes_in_parallel_are_all_killed(box: DockerSandbox) -> None:
    code = (
        "import multiprocessing, os\n"
        "def spin():\n    while True: pass\n"
        "procs = [multiprocessing.Process(target=spin) for _ in range(4)]\n"
        "[p.start() for p in procs]\n"
        "spin()\n"
    )
    result = box.run_python(code, timeout_s=1)
    assert result.timed_out
    assert box.run_python(LIST_PROCESSES).stdout == "[]\n"


def test_endless_output_is_truncated_and_stopped(box: DockerSandbox) -> None:
    result = box.run_python(
        "import sys\nwhile True:\n    sys.stdout.write('z' * 1000); sys.stderr.write('e' * 1000)",
        timeout_s=1.5,
    )
    assert (result.timed_out, result.stdout_truncated, result.stderr_truncated) == (
        True,
        True,
        True,
    )
    assert (len(result.stdout), len(result.stderr)) == (4096, 4096)


def test_too_many_open_files_fails_inside_the_box(box: DockerSandbox) -> None:
    code = (
        "fds = []\n"
        "try:\n"
        "    while True: fds.append(open('/dev/null'))\n"
        "except OSError as e:\n"
        "    print(e.errno, len(fds) < 128)\n"
    )
    assert box.run_python(code).stdout == "24 True\n"  # EMFILE under nofile=128


# --------------------------------------------------------------------------- network


def test_tcp_egress_fails(box: DockerSandbox) -> None:
    code = (
        "import socket\n"
        "for host, port in [('1.1.1.1', 443), ('127.0.0.1', 2375)]:\n"
        "    s = socket.socket(); s.settimeout(2)\n"
        "    try: s.connect((host, port)); print('connected')\n"
        "    except OSError as e: print(e.errno)\n"
    )
    assert box.run_python(code).stdout == "101\n111\n"  # unreachable, refused


def test_udp_egress_fails(box: DockerSandbox) -> None:
    code = (
        "import socket\n"
        "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        "try: s.sendto(b'x', ('1.1.1.1', 53)); print('sent')\n"
        "except OSError as e: print(e.errno)\n"
    )
    assert box.run_python(code).stdout == "101\n"


def test_dns_resolution_fails(box: DockerSandbox) -> None:
    code = (
        "import socket\n"
        "try: print(socket.getaddrinfo('example.com', 443))\n"
        "except socket.gaierror as e: print('no dns')\n"
    )
    assert box.run_python(code, timeout_s=15).stdout == "no dns\n"


def test_only_loopback_interface_exists(box: DockerSandbox) -> None:
    assert box.run_python("import os; print(sorted(os.listdir('/sys/class/net')))").stdout == (
        "['lo']\n"
    )


# --------------------------------------------------------------------------- host visibility


def test_host_files_are_not_visible(box: DockerSandbox) -> None:
    marker = Path("/tmp") / f"agent-runtime-hostile-{uuid.uuid4().hex}"
    marker.write_text("host only")
    try:
        code = (
            "import os\n"
            f"print(os.path.exists({str(marker)!r}))\n"
            "print(os.path.exists('/work'), os.path.exists('/root/.cache'))\n"
        )
        assert box.run_python(code).stdout == "False\nFalse False\n"
    finally:
        marker.unlink()


def test_box_proc_shows_only_its_own_processes(box: DockerSandbox) -> None:
    code = (
        "import os\n"
        "print(open('/proc/1/cmdline','rb').read().split(b'\\0')[0].decode())\n"
        "print(len([p for p in os.listdir('/proc') if p.isdigit()]) <= 4)\n"
    )
    # The executor itself is PID 1 (no docker-init: see test_commit_holes, the channel).
    assert box.run_python(code).stdout == "python3\nTrue\n"


def test_host_environment_never_reaches_the_box(box: DockerSandbox) -> None:
    assert os.environ[HOST_CANARY_NAME] == HOST_CANARY_VALUE
    code = (
        "import os\n"
        f"print({HOST_CANARY_NAME!r} in os.environ)\n"
        "try:\n"
        "    init_env = open('/proc/1/environ', 'rb').read()\n"
        f"    print({HOST_CANARY_VALUE.encode()!r} in init_env)\n"
        "except PermissionError:\n"
        "    print('refused')\n"  # the executor (PID 1) is not dumpable
        "print(sorted(os.environ))\n"
    )
    lines = box.run_python(code).stdout.splitlines()
    assert lines[:2] == ["False", "refused"]
    assert HOST_CANARY_VALUE not in lines[2]


def test_docker_socket_is_absent(box: DockerSandbox) -> None:
    code = (
        "import os\n"
        "print([p for p in ['/var/run/docker.sock', '/run/docker.sock', "
        "'/run/containerd/containerd.sock'] if os.path.exists(p)])\n"
    )
    assert box.run_python(code).stdout == "[]\n"


# --------------------------------------------------------------------------- privileges


def test_setuid_to_root_fails(box: DockerSandbox) -> None:
    code = (
        "import os\n"
        "for call in (lambda: os.setuid(0), lambda: os.setgid(0), lambda: os.seteuid(0)):\n"
        "    try: call(); print('escalated')\n"
        "    except PermissionError: print('denied')\n"
    )
    assert box.run_python(code).stdout == "denied\ndenied\ndenied\n"


def test_no_capabilities_and_no_new_privileges(box: DockerSandbox) -> None:
    code = (
        "fields = dict(l.split(':\\t') for l in open('/proc/self/status').read().splitlines() "
        "if ':\\t' in l)\n"
        "print([fields[k].strip() for k in ('CapEff', 'CapPrm', 'CapBnd', 'CapAmb', 'NoNewPrivs')])\n"
        "import os; print(os.getuid())\n"
    )
    assert box.run_python(code).stdout == (
        "['0000000000000000', '0000000000000000', '0000000000000000', "
        "'0000000000000000', '1']\n10001\n"
    )


def test_no_setuid_binaries_in_the_image(box: DockerSandbox) -> None:
    code = (
        "import os, stat\n"
        "found = []\n"
        "for top in ('/usr', '/bin', '/sbin'):\n"
        "    for d, _, files in os.walk(top):\n"
        "        for f in files:\n"
        "            p = os.path.join(d, f)\n"
        "            try: m = os.lstat(p).st_mode\n"
        "            except OSError: continue\n"
        "            if stat.S_ISREG(m) and m & 0o6000: found.append(p)\n"
        "print(found)\n"
    )
    assert box.run_python(code, timeout_s=20).stdout == "[]\n"


def test_mount_fails(box: DockerSandbox) -> None:
    code = (
        "import ctypes, os\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "rc = libc.mount(b'none', b'/workspace', b'tmpfs', 0, None)\n"
        "print(rc, ctypes.get_errno())\n"
    )
    assert box.run_python(code).stdout == "-1 1\n"  # EPERM


def test_ptrace_of_the_executor_fails(box: DockerSandbox) -> None:
    code = (
        "import ctypes, os\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "PTRACE_ATTACH = 16\n"
        "for pid in (os.getppid(), 1):\n"
        "    rc = libc.ptrace(PTRACE_ATTACH, pid, None, None)\n"
        "    print(rc, ctypes.get_errno())\n"
    )
    assert box.run_python(code).stdout == "-1 1\n-1 1\n"


def test_executor_streams_cannot_be_hijacked(box: DockerSandbox) -> None:
    code = (
        "import os\n"
        "for fd in (0, 1):\n"
        "    try:\n"
        "        open(f'/proc/{os.getppid()}/fd/{fd}', 'rb' if fd == 0 else 'wb'); print('opened')\n"
        "    except OSError as e: print(e.errno)\n"
    )
    assert box.run_python(code).stdout == "13\n13\n"  # EACCES: the executor is undumpable
    assert alive(box)


def test_root_filesystem_is_read_only(box: DockerSandbox) -> None:
    code = (
        "import hashlib\n"
        "for path in ('/etc/evil', '/opt/runtime/executor.py', '/usr/bin/python3'):\n"
        "    try: open(path, 'ab').write(b'x'); print('wrote')\n"
        "    except OSError as e: print(e.errno)\n"
    )
    errnos = box.run_python(code).stdout.split()
    # EROFS everywhere; root-owned files may answer EACCES first.
    assert errnos[0] == "30"
    assert set(errnos[1:]) <= {"13", "30"}
    assert len(errnos) == 3


def test_tmp_is_noexec(box: DockerSandbox) -> None:
    code = (
        "import os, shutil, subprocess\n"
        "shutil.copy('/bin/true', '/tmp/t'); os.chmod('/tmp/t', 0o755)\n"
        "try: subprocess.run(['/tmp/t']); print('ran')\n"
        "except PermissionError as e: print(e.errno)\n"
    )
    assert box.run_python(code).stdout == "13\n"


# --------------------------------------------------------------------------- the executor


def test_the_box_cannot_kill_or_freeze_its_executor(box: DockerSandbox) -> None:
    """The executor is PID 1 of the box's PID namespace: SIGKILL and SIGSTOP sent from
    inside it are dropped, so the box cannot take down or stall its own channel."""
    result = box.run_python(
        "import os, signal\n"
        "os.kill(os.getppid(), signal.SIGSTOP)\n"
        "os.kill(os.getppid(), signal.SIGKILL)\n"
        "print(os.getppid())\n"
    )
    assert (result.stdout, result.exit_code) == ("1\n", 0)
    assert alive(box)


def test_a_dead_executor_is_detected(
    hostile_backend: DockerBackend, box: DockerSandbox, docker_client: object
) -> None:
    docker_client.api.kill(box.id, signal="SIGKILL")  # type: ignore[attr-defined]
    with pytest.raises(ExecutorCrashed):
        box.run_python("print('unreachable')")
    assert not box.alive
    with pytest.raises(ExecutorCrashed):
        box.run_command(["true"])


def test_a_frozen_executor_trips_the_host_timeout(
    box: DockerSandbox, docker_client: object
) -> None:
    docker_client.api.pause(box.id)  # type: ignore[attr-defined]
    start = time.monotonic()
    with pytest.raises(ExecutorCrashed):
        box.run_python("print('unreachable')", timeout_s=0.5)
    assert time.monotonic() - start < 10
    assert not box.alive


def test_sleeping_child_does_not_outlive_its_call(box: DockerSandbox) -> None:
    code = (
        "import os, subprocess\n"
        "subprocess.Popen(['sleep', '300'])\n"
        "subprocess.Popen(['sleep', '301'], start_new_session=True)\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        "        os.execvp('sleep', ['sleep', '302'])\n"
        "    os._exit(0)\n"
        "print('spawned')\n"
    )
    assert box.run_python(code).stdout == "spawned\n"
    assert box.run_python(LIST_PROCESSES).stdout == "[]\n"


def test_protocol_injection_in_a_file_name_is_harmless(box: DockerSandbox) -> None:
    name = 'a"\n{"id":"x","ok":true}\n.txt'
    box.write_file(name, b"data")
    assert box.read_file(name) == b"data"
    assert alive(box)


# --------------------------------------------------------------------------- commit


def test_symlink_to_a_host_path_is_refused_at_commit(box: DockerSandbox, tmp_path: Path) -> None:
    before = box.snapshot()
    box.run_python("import os; os.symlink('/etc/passwd', 'passwd'); os.symlink('/', 'root')")
    with pytest.raises(CommitRefused) as refused:
        commit_from_box(box, diff(before, box.snapshot()), tmp_path, CommitCaps())
    assert str(refused.value) == (
        "Commit refused, nothing was written: 'passwd': symlink (to '/etc/passwd'); "
        "'root': symlink (to '/')"
    )
    assert os.listdir(tmp_path) == []


def test_hard_link_is_refused_at_commit(box: DockerSandbox, tmp_path: Path) -> None:
    before = box.snapshot()
    box.run_python("import os; open('a', 'w').write('x'); os.link('a', 'b')")
    with pytest.raises(CommitRefused) as refused:
        commit_from_box(box, diff(before, box.snapshot()), tmp_path, CommitCaps())
    assert str(refused.value) == (
        "Commit refused, nothing was written: 'a': hard link (nlink=2); 'b': hard link (nlink=2)"
    )
    assert os.listdir(tmp_path) == []


def test_hard_link_to_a_file_outside_the_workspace_fails(box: DockerSandbox) -> None:
    code = (
        "import os\n"
        "try: os.link('/etc/passwd', 'passwd'); print('linked')\n"
        "except OSError as e: print(e.errno)\n"
    )
    assert box.run_python(code).stdout == "18\n"  # EXDEV: /workspace is its own tmpfs


def test_path_traversal_in_a_change_set_is_refused(box: DockerSandbox, tmp_path: Path) -> None:
    box.write_file("x", b"payload")
    digest = hashlib.sha256(b"payload").hexdigest()
    forged = ChangeSet(
        changes=[
            FileChange(path="ok.txt", change="added", kind="file", size=7, sha256=digest),
            FileChange(
                path="../../etc/cron.d/x", change="added", kind="file", size=7, sha256=digest
            ),
        ]
    )
    out = tmp_path / "out"
    with pytest.raises(CommitRefused) as refused:
        commit_from_box(box, forged, out, CommitCaps())
    assert str(refused.value) == (
        "Commit refused, nothing was written: '../../etc/cron.d/x': path contains '..'"
    )
    assert not out.exists() or os.listdir(out) == []
    assert not (tmp_path / "etc").exists()


def test_change_set_over_the_size_cap_is_refused(box: DockerSandbox, tmp_path: Path) -> None:
    before = box.snapshot()
    box.run_python("open('big.bin', 'wb').write(b'x' * (2 * 1024 * 1024))")
    with pytest.raises(CommitRefused) as refused:
        commit_from_box(
            box, diff(before, box.snapshot()), tmp_path, CommitCaps(max_bytes=1024 * 1024)
        )
    assert str(refused.value) == (
        "Commit refused, nothing was written: 2097152 bytes exceed the cap of 1048576"
    )
    assert os.listdir(tmp_path) == []


def _zip_bomb() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for index in range(4):
            with archive.open(f"zeros{index}.bin", "w") as member:
                for _ in range(64):
                    member.write(b"\0" * (1024 * 1024))
    return buffer.getvalue()


def _tar_bomb() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo("zeros.bin")
        info.size = 64 * 1024 * 1024
        archive.addfile(info, io.BytesIO(b"\0" * info.size))
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "bomb", "unpack"),
    [
        (
            "bomb.zip",
            _zip_bomb,
            "import zipfile; zipfile.ZipFile('bomb.zip').extractall('unpacked')",
        ),
        (
            "bomb.tar.gz",
            _tar_bomb,
            "import tarfile; tarfile.open('bomb.tar.gz').extractall('unpacked')",
        ),
    ],
)
def test_archive_bomb_is_capped(box: DockerSandbox, name: str, bomb: object, unpack: str) -> None:
    payload = bomb()  # type: ignore[operator]
    assert len(payload) < 1024 * 1024
    box.write_file(name, payload)
    code = (
        "import signal; signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        f"try:\n    {unpack}\nexcept OSError as e:\n    print('stopped', e.errno)\n"
        "import os; st = os.statvfs('/workspace')\n"
        "print((st.f_blocks - st.f_bfree) * st.f_frsize <= 16 * 1024 * 1024)\n"
    )
    result = box.run_python(code, timeout_s=30)
    assert result.stdout.splitlines()[0] in ("stopped 27", "stopped 28")  # EFBIG / ENOSPC
    assert result.stdout.splitlines()[-1] == "True"
    assert alive(box)
