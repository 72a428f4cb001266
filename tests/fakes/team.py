"""A two-agent team and the messages the graph appends, for driving an adapter by hand."""

from __future__ import annotations

from typing import Any

from runtime.agents import Agent, Team

PLANNER = Agent(
    name="planner",
    instruction="Plan the work and hand it to the coder.",
    tools=["fs.read", "memory.search"],
    model="openai:fake-model",
)
CODER = Agent(
    name="coder",
    instruction="Write and run Python in the sandbox.",
    tools=["python.run", "fs.read", "fs.write"],
    model="openai:fake-model",
)
TEAM = Team(
    name="pair",
    agents=[PLANNER, CODER],
    entry="planner",
    handoffs={"planner": ["coder"], "coder": ["planner"]},
)


def task(text: str) -> dict[str, Any]:
    return {"role": "user", "agent": "user", "content": text, "trust": "trusted"}


def result(agent: str, tool: str, text: str, *, trust: str = "trusted") -> dict[str, Any]:
    """A tool's answer as the graph appends it (a result, a denial or a verdict)."""
    return {"role": "tool", "agent": agent, "content": text, "trust": trust, "tool": tool}


def said(agent: str, text: str) -> dict[str, Any]:
    """An agent's handoff message as the graph appends it."""
    return {"role": "assistant", "agent": agent, "content": text, "trust": "trusted"}


def note(agent: str, text: str) -> dict[str, Any]:
    """A runtime note to an agent (e.g. a refused handoff)."""
    return {"role": "system", "agent": agent, "content": text, "trust": "trusted"}
