"""Real HTTP servers on loopback that speak model providers' APIs, for tests.

`FakeProvider` serves scripted replies over a real socket (stdlib `http.server` in a
thread), so the real provider packages (langchain-openai, langchain-anthropic,
langchain-ollama and the SDKs under them) talk to it exactly as they talk to the provider:
nothing is patched. Every request is recorded (path, headers, JSON body) for assertions.

    with FakeProvider("openai") as fake:
        fake.script(reply.tool_calls("openai", [("fs__read", {"path": "a.txt"})]))
        ...  # point a model at fake.base_url

`tests.fakes.reply` builds the replies in each provider's wire format.
"""

from tests.fakes.server import FakeProvider, Reply, Request

__all__ = ["FakeProvider", "Reply", "Request"]
