"""Text tools: an example of a project's own tools, discovered from tools/*.py.

`word_count` runs on the host (it reads nothing but its argument, and its answer is
computed, so it is trusted); `text_stats` runs inside the sandbox, where its code reads a
file of the run's workspace: its module is shipped into the box and called there.
"""

from runtime import tool


@tool(effect="read", trust="trusted")
def word_count(text: str) -> int:
    """Count the words in a text."""
    return len(text.split())


@tool(effect="read", where="sandbox", trust="untrusted")
def text_stats(path: str) -> dict[str, int]:
    """Lines, words and characters of a file in the workspace."""
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    return {"lines": len(text.splitlines()), "words": len(text.split()), "chars": len(text)}
