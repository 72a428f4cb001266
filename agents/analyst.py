"""`analyst`: a planner that keeps notes and delegates, and a coder that computes and writes.

Both agents run on a scripted model (agents/scripts/analyst.json), so the example is
deterministic and offline; swap `model` for a real one when one is wired.
"""

from runtime.agents import Agent, Team

planner = Agent(
    name="planner",
    instruction="Break the task into steps, keep notes in memory, delegate the work to the coder.",
    tools=["memory.put", "memory.search", "fs.read"],
    model="scripted:scripts/analyst.json",
    roles=["analyst"],
)

coder = Agent(
    name="coder",
    instruction="Write and run Python in the sandbox; write the deliverables to /workspace.",
    tools=["python.run", "fs.read", "fs.write", "memory.put", "memory.search"],
    model="scripted:scripts/analyst.json",
    roles=["analyst"],
)

analyst = Team(
    name="analyst",
    agents=[planner, coder],
    entry="planner",
    handoffs={"planner": ["coder"], "coder": ["planner"]},
)
