"""agent-runtime: run multi-agent LangGraph teams whose every tool call is authorized by OPA,
executed in a hardened Docker sandbox, checked by a safety node, committed, and audited."""

__version__ = "0.1.0"
