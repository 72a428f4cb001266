"""`words`: one agent using the project's own tools (tools/text.py): a host tool that needs
no Docker engine, and a sandboxed tool whose code runs inside the box."""

from runtime.agents import Agent, Team

counter = Agent(
    name="counter",
    instruction="Count words in the text the user gives, and in the files they name.",
    tools=["word_count", "text_stats"],
    model="scripted:scripts/words.json",
)

words = Team(name="words", agents=[counter], entry="counter")
