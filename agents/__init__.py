"""Built-in example teams. Each `agents/*.py` module defines Team objects; `runtime exec
--team NAME` finds them by name. Agents only propose tool calls: policy decides."""
