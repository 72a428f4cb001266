"""Which rules produced a decision: the branch of the entrypoint that fired, and the rules
it reads whose conditions held, each with its `file:row` and the value it contributed.

    runtime policy eval --input call.json
    deny (opa-server, sha256:...)
      - tool python.run is not granted to agent planner
    produced by:
      data.runtime.authz.decision  runtime/authz/authz.rego:30
      data.runtime.authz.deny  runtime/authz/authz.rego:61  ["tool python.run is not ..."]

What is listed, on every engine, for any policy (the built-in library or a user's):

1. the entrypoint, located at the definition or `else` branch that gave its value (the
   `default` when none did);
2. every rule that branch reads directly (by name in its package, through `data.<pkg>.<rule>`
   or an import), one entry per definition whose condition held: a definition with an `if`
   body, or a `contains` / `p[k]` rule, that is defined, not `false` and not empty. Constant
   and alias rules (`tool := input.action.tool`) and functions are not listed: they decide
   nothing. For a multi-value rule the value is what that definition added (`deny: [...]`);
   for a single-value rule only the first definition that holds is listed, as OPA stops there.

One job per module:

- source.py: the policy sources, read with a small Rego lexer (`PolicySource`);
- hits.py: from what an engine observed to the rules listed (the same for every engine);
- trace.py: what the OPA server observed, from its traces;
- shadows.py: what the embedded engine observed, from private copies of the rules;
- results.py: the result types and the optional `ExplainingEngine` capability;
- command.py: `runtime policy eval` (the decision through the Authorizer, then the rules).

Where neither observation works (a copy does not compile, a trace does not line up, the
sources are not known) the rules read by the entrypoint are evaluated whole, without
locations.
"""

from runtime.policy.explain.command import ENTRYPOINTS, INPUT_MODELS, explain_decision
from runtime.policy.explain.hits import (
    Observed,
    hits_from,
    read_by_entrypoint,
    whole_rule_hits,
)
from runtime.policy.explain.results import (
    ExplainedDecision,
    ExplainingEngine,
    Explanation,
    RuleHit,
)
from runtime.policy.explain.shadows import Shadow, observed_from_shadows, shadow_copies
from runtime.policy.explain.source import Definition, PolicySource, tokenize
from runtime.policy.explain.trace import (
    TraceMismatch,
    attribute_whole_rules,
    observed_from_trace,
)

__all__ = [
    "ENTRYPOINTS",
    "INPUT_MODELS",
    "Definition",
    "ExplainedDecision",
    "ExplainingEngine",
    "Explanation",
    "Observed",
    "PolicySource",
    "RuleHit",
    "Shadow",
    "TraceMismatch",
    "attribute_whole_rules",
    "explain_decision",
    "hits_from",
    "observed_from_shadows",
    "observed_from_trace",
    "read_by_entrypoint",
    "shadow_copies",
    "tokenize",
    "whole_rule_hits",
]
