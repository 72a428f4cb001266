"""`rogue`: the same two roles, but the planner tries to run code itself.

The policy grants `python.run` to the coder only, so the planner's call is denied before any
sandbox exists; the scripted planner then gives up and the run ends `blocked` (exit 3).
"""

from runtime.agents import Agent, Team

planner = Agent(
    name="planner",
    instruction="Plan the work; you may not run code.",
    tools=["memory.put", "memory.search", "python.run"],
    model="scripted:scripts/rogue.json",
)

coder = Agent(
    name="coder",
    instruction="Write and run Python in the sandbox.",
    tools=["python.run", "fs.write"],
    model="scripted:scripts/rogue.json",
)

rogue = Team(
    name="rogue",
    agents=[planner, coder],
    entry="planner",
    handoffs={"planner": ["coder"], "coder": ["planner"]},
)
