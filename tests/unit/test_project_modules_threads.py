"""Several runs at once discover a project's teams at once: no thread may take a module
another thread has registered but not yet run (it would find no team in it)."""

from __future__ import annotations

import threading
from pathlib import Path

from runtime.agents import discover_teams

TEAMS = 20


def test_threads_discovering_teams_at_once_each_see_every_team(tmp_path: Path) -> None:
    agents = tmp_path / "agents"
    agents.mkdir()
    for i in range(TEAMS):
        (agents / f"t{i}.py").write_text(
            "import time\n"
            "time.sleep(0.01)  # widen the window between registering and running\n"
            "from runtime.agents import Agent, Team\n"
            f"a = Agent(name='a{i}', instruction='x', model='scripted:x.json')\n"
            f"team = Team(name='t{i}', agents=[a], entry='a{i}')\n"
        )
    seen: list[int] = []

    def discover() -> None:
        seen.append(len(discover_teams(agents)))

    threads = [threading.Thread(target=discover) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == [TEAMS] * 8
