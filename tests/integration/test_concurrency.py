"""Ten runs at once on one project folder: four in threads and three on asyncio sharing one
Runtime, three as separate `runtime exec` processes. Each run has its own box, memory
namespace and output folder; nothing of one run lands in another's; the one audit chain
they all appended to still verifies; no box is left behind."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runtime import Runtime
from runtime.memory.chroma import ChromaMemory
from runtime.models import RunResult
from runtime.settings import load_settings
from tests.integration.test_cli_errors import run_cli
from tests.integration.test_exec import add_team

pytestmark = [
    pytest.mark.docker,
    pytest.mark.opa,
    pytest.mark.slow,
    pytest.mark.usefixtures("no_leftover_containers"),
]

TENANT = "acme"
THREADS = range(0, 4)
ASYNC = range(4, 7)
PROCESSES = range(7, 10)
SLOTS = range(10)
WRITER_TOOLS = ["python.run", "fs.write", "memory.put"]
KEEPER_TOOLS = ["memory.put", "memory.search"]


def slot_files(slot: int) -> dict[str, str]:
    """What run `slot` commits to its output folder, and nothing else."""
    return {f"slot{slot}/computed.txt": f"{slot * 7}", f"slot{slot}.txt": f"slot {slot} says hi"}


def add_slot_team(project: Path, slot: int) -> None:
    """Team `conc<slot>`: writer w<slot> computes a file in the box, writes another and
    remembers a fact; keeper k<slot> remembers its own and searches it back."""
    writer, keeper = f"w{slot}", f"k{slot}"
    code = (
        "import os\n"
        f"os.makedirs('slot{slot}', exist_ok=True)\n"
        f"open('slot{slot}/computed.txt', 'w').write(str({slot} * 7))\n"
    )
    add_team(
        project,
        f"conc{slot}",
        {writer: "computes and writes", keeper: "keeps notes"},
        {
            writer: [
                {"tool": "python.run", "args": {"code": code}},
                {
                    "tool": "fs.write",
                    "args": {"path": f"slot{slot}.txt", "content": f"slot {slot} says hi"},
                },
                {"tool": "memory.put", "args": {"text": f"slot {slot} remembers {slot * 7}"}},
                {"handoff": keeper, "message": "written"},
            ],
            keeper: [
                {"tool": "memory.put", "args": {"text": f"keeper of slot {slot}"}},
                {"tool": "memory.search", "args": {"query": "keeper", "k": 10}},
                {"answer": f"slot {slot} done"},
            ],
        },
        tools={writer: WRITER_TOOLS, keeper: KEEPER_TOOLS},
    )


@pytest.fixture
def slot_project(project: Path, opa_path: Path, sandbox_image: str) -> Path:
    data_path = project / "rego" / "data.json"
    data = json.loads(data_path.read_text())
    grants = data["runtime_data"]["authz"]["grants"]["agents"]
    for slot in SLOTS:
        add_slot_team(project, slot)
        grants[f"w{slot}"] = {"tools": WRITER_TOOLS}
        grants[f"k{slot}"] = {"tools": KEEPER_TOOLS}
    data_path.write_text(json.dumps(data))
    return project


@pytest.fixture
def shared_runtime(slot_project: Path, opa_path: Path) -> Iterator[Runtime]:
    settings = load_settings(
        project_dir=slot_project,
        state_dir=slot_project / ".state",
        tenant=TENANT,
        opa_binary=str(opa_path),
    )
    with Runtime(settings) as rt:
        yield rt


def start_process(project: Path, opa_path: Path, slot: int) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "RUNTIME_STATE_DIR": str(project / ".state"),
        "RUNTIME_OPA_BINARY": str(opa_path),
        "RUNTIME_TENANT": TENANT,
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "runtime.cli",
            "exec",
            f"slot {slot}",
            "-t",
            f"conc{slot}",
            "--json",
        ],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_all(rt: Runtime, project: Path, opa_path: Path) -> dict[int, dict[str, Any]]:
    """Start all ten at once; each slot's result as the `--json` document."""
    processes = {slot: start_process(project, opa_path, slot) for slot in PROCESSES}
    results: dict[int, dict[str, Any]] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(len(THREADS) + 1)

    def threaded(slot: int) -> None:
        try:
            start.wait()
            results[slot] = rt.exec(f"slot {slot}", f"conc{slot}").model_dump(mode="json")
        except BaseException as exc:  # reported below, with the slot
            errors.append(exc)

    async def on_the_loop() -> list[RunResult]:
        return list(
            await asyncio.gather(*(rt.aexec(f"slot {slot}", f"conc{slot}") for slot in ASYNC))
        )

    threads = [threading.Thread(target=threaded, args=(slot,)) for slot in THREADS]
    for thread in threads:
        thread.start()
    start.wait()
    try:
        for slot, result in zip(ASYNC, asyncio.run(on_the_loop()), strict=True):
            results[slot] = result.model_dump(mode="json")
    finally:
        for thread in threads:
            thread.join(timeout=240)
        finished = {slot: p.communicate(timeout=240) for slot, p in processes.items()}
    assert not errors, errors
    for slot, (stdout, stderr) in finished.items():
        assert processes[slot].returncode == 0, (slot, stderr, stdout)
        assert "Traceback" not in stderr, stderr
        results[slot] = json.loads(stdout)
    return results


def test_ten_runs_at_once_keep_their_boxes_memories_and_outputs_apart(
    shared_runtime: Runtime, slot_project: Path, opa_path: Path
) -> None:
    results = run_all(shared_runtime, slot_project, opa_path)

    assert sorted(results) == list(SLOTS)
    for slot, doc in results.items():
        assert doc["status"] == "completed", (slot, doc["reason"])
        assert doc["output"] == f"slot {slot} done"
    run_ids = {slot: str(doc["run_id"]) for slot, doc in results.items()}
    assert len(set(run_ids.values())) == len(SLOTS)

    # Outputs: each folder holds exactly its own run's files.
    for slot, doc in results.items():
        out = Path(doc["output_dir"])
        found = {
            p.relative_to(out).as_posix(): p.read_text() for p in out.rglob("*") if p.is_file()
        }
        assert found == slot_files(slot), slot

    # Audit: every event of a run is its own agents'; each run had its own box.
    audit = shared_runtime.audit
    boxes: dict[str, str] = {}
    for slot, run_id in run_ids.items():
        events = audit.events(run_id)
        assert events[0].kind == "run.start" and events[0].payload["team"] == f"conc{slot}"
        assert {e.agent for e in events if e.agent} == {f"w{slot}", f"k{slot}"}
        acquired = [e.payload["sandbox_id"] for e in events if e.kind == "sandbox.acquired"]
        released = [e.payload["sandbox_id"] for e in events if e.kind == "sandbox.released"]
        assert len(acquired) == 1 and released == acquired, slot
        assert acquired[0] not in boxes, f"slot {slot} shares box with {boxes.get(acquired[0])}"
        boxes[acquired[0]] = run_id
        committed = sorted(f for e in events if e.kind == "commit" for f in e.payload["files"])
        assert committed == sorted(slot_files(slot)), slot
    report = audit.verify()
    assert report.ok, report.problem
    verify = run_cli(slot_project, "audit", "verify")
    assert verify.returncode == 0, verify.stderr
    assert verify.stdout.strip() == f"audit log intact: {report.events} events"

    # Memory: one namespace per agent per run, each record naming the run that wrote it.
    memory = ChromaMemory(slot_project / ".state" / "memory")
    expected = sorted(f"{TENANT}/{agent}{slot}" for slot in SLOTS for agent in ("w", "k"))
    assert memory.namespaces() == expected
    for slot, run_id in run_ids.items():
        for agent, text in (
            (f"w{slot}", f"slot {slot} remembers {slot * 7}"),
            (f"k{slot}", f"keeper of slot {slot}"),
        ):
            records = memory.search(f"{TENANT}/{agent}", "slot", k=50)
            assert [r.text for r in records] == [text], (slot, agent)
            assert records[0].provenance.run_id == run_id
            assert records[0].provenance.writer_agent == agent


def test_an_opa_server_started_from_a_worker_thread_outlives_the_thread(
    shared_runtime: Runtime,
) -> None:
    """PR_SET_PDEATHSIG follows the thread that forked: a server a run's worker thread
    started must not die when that thread ends (the next run would find no engine)."""
    engines: list[Any] = []
    worker = threading.Thread(target=lambda: engines.append(shared_runtime.policy_engine()))
    worker.start()
    worker.join()
    process = engines[0]._link.process.process
    assert process.poll() is None
    time.sleep(1.0)  # the kernel delivers the parent-death signal right after the thread exits
    assert process.poll() is None, f"OPA exited with {process.returncode} when its thread ended"
    assert shared_runtime.policy_engine() is engines[0]


def open_state_from_process(state_dir: str, barriers: Any, writer: int) -> None:
    """One process: open the audit log of a new state folder at the same moment as the
    others and append 20 events; then, again all at once, its checkpoint database."""
    from runtime.audit.store import AuditLog

    state = Path(state_dir)
    barriers[0].wait()
    log = AuditLog(state / "audit.db")
    try:
        for n in range(20):
            log.append(f"writer{writer}", "note", {"n": n})
    finally:
        log.close()
    with Runtime(load_settings(project_dir=state.parent, state_dir=state)) as rt:
        barriers[1].wait()
        rt.checkpointer()


def test_processes_opening_a_new_state_folder_at_once_all_append_to_one_chain(
    tmp_path: Path,
) -> None:
    """Eight processes open a fresh state folder at the same moment (both databases are
    switched to WAL and get their tables, the audit key is made once) and append; none
    fails and the one chain verifies."""
    from runtime.audit.store import AuditLog

    context = multiprocessing.get_context("fork")
    for trial in range(20):
        state = tmp_path / f"project{trial}" / ".state"
        state.parent.mkdir()
        barriers = (context.Barrier(8, timeout=60), context.Barrier(8, timeout=60))
        workers = [
            context.Process(target=open_state_from_process, args=(str(state), barriers, writer))
            for writer in range(8)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=120)
        assert [w.exitcode for w in workers] == [0] * 8, trial
        log = AuditLog(state / "audit.db")
        try:
            report = log.verify()
            assert report.ok and report.events == 160, (trial, report)
            assert sorted(log.run_ids()) == [f"writer{w}" for w in range(8)]
        finally:
            log.close()
