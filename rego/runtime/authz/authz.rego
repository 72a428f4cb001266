# METADATA
# title: Tool-call authorization
# description: |
#   Decides whether one proposed tool call may run. Deny unless the agent is granted the
#   tool and every argument, budget and provenance rule holds. Data lives in
#   data.runtime_data.authz (rego/data.json).
package runtime.authz

cfg := data.runtime_data.authz

tool := input.action.tool

agent := input.subject.agent

# METADATA
# title: Tool-call decision
# description: |
#   The decision document for one tool call: allow, require_approval, reasons (plain
#   sentences that go back to the model) and obligations (e.g. a shorter timeout).
#   A call that needs approval is not allowed until a human approves it.
# scope: document
# entrypoint: true
default decision := {
	"allow": false,
	"require_approval": false,
	"reasons": ["deny: no rule decided this call"],
	"obligations": {},
}

decision := {
	"allow": false,
	"require_approval": false,
	"reasons": sort(deny),
	"alternatives": sort([a | some a in data.runtime.authz.alternatives]),
	"obligations": {},
} if {
	count(deny) > 0
} else := {
	"allow": false,
	"require_approval": true,
	"reasons": sort(approval),
	"obligations": obligations,
} if {
	count(approval) > 0
} else := {
	"allow": true,
	"require_approval": false,
	"reasons": [sprintf("tool %s is granted to agent %s", [tool, agent])],
	"obligations": obligations,
}

# ------------------------------------------------------------------ grants

granted_tools contains t if {
	some t in cfg.grants.agents[agent].tools
}

granted_tools contains t if {
	some t in cfg.grants.teams[input.subject.team].agents[agent].tools
}

deny contains sprintf("tool %s is not granted to agent %s", [tool, agent]) if {
	not tool_granted
}

# The same test as `tool in granted_tools`, without building the set: about 0.015 ms less
# per decision in the embedded engine (bench/bench_policy.py).
tool_granted if tool in cfg.grants.agents[agent].tools

tool_granted if tool in cfg.grants.teams[input.subject.team].agents[agent].tools

# ------------------------------------------------------------------ fs arguments

fs_call if tool in cfg.fs.tools

args := object.get(input.action, "args", {})

fs_path := object.get(args, "path", null)

deny contains sprintf("tool %s needs a string argument 'path'", [tool]) if {
	fs_call
	not is_string(fs_path)
}

deny contains sprintf("path %s must be relative to the workspace", [fs_path]) if {
	fs_call
	is_string(fs_path)
	absolute_path(fs_path)
}

deny contains sprintf("path %s must not contain '..'", [fs_path]) if {
	fs_call
	is_string(fs_path)
	".." in split(fs_path, "/")
}

deny contains sprintf("path %s is not under an allowed path", [fs_path]) if {
	fs_call
	is_string(fs_path)
	not path_allowed(fs_path)
}

absolute_path(p) if startswith(p, "/")

absolute_path(p) if startswith(p, "~")

# regex, not contains(p, "\\"): regopy 1.5.2 does not unescape "\\" in string literals.
absolute_path(p) if regex.match(`\\`, p)

absolute_path(p) if regex.match(`^[A-Za-z]:`, p)

path_allowed(p) if {
	p != ""
	some pattern in cfg.fs.allowed_globs
	glob.match(pattern, ["/"], p)
}

deny contains sprintf("content for %s is %d characters, over the cap of %d", [tool, count(content), cfg.fs.max_write_chars]) if {
	tool == "fs.write"
	content := object.get(args, "content", null)
	is_string(content)
	count(content) > cfg.fs.max_write_chars
}

deny contains sprintf("tool %s needs a string argument 'content'", [tool]) if {
	tool == "fs.write"
	not is_string(object.get(args, "content", null))
}

# ------------------------------------------------------------------ budgets

budget := object.get(cfg.budgets.tools, tool, cfg.budgets.default)

calls_so_far := object.get(object.get(input.context, "calls_so_far", {}), tool, 0)

deny contains sprintf("tool %s has used its budget of %d calls in this run", [tool, budget]) if {
	calls_so_far >= budget
}

# ------------------------------------------------------------------ approval

approval contains sprintf("effect %s needs human approval", [input.action.effect]) if {
	input.action.effect in cfg.approval.effects
}

approval contains sprintf("tool %s needs human approval", [tool]) if {
	tool in cfg.approval.tools
}

approval contains "the risk score of this call is at or above the approval threshold" if {
	input.risk.score >= cfg.approval.risk_threshold
}

# ------------------------------------------------------------------ provenance

# Policy input schema 2 labels each argument with an object ({trust, sources, via, sink,
# origin, task}); schema 1, accepted for one more release, with a string.
schema_1 if not input.schema_version == "2"

arg_labels := object.get(object.get(input, "provenance", {}), "args", {})

label_trust(label) := label if is_string(label)

label_trust(label) := label.trust if is_object(label)

side_effect if input.action.effect in cfg.provenance.side_effects

untrusted_args contains name if {
	some name, label in arg_labels
	label_trust(label) in {"untrusted", "unknown"}
}

# Built with concat, not sprintf: regopy 1.5.2 quotes a concat() result passed to sprintf's %s.
untrusted_phrase := concat("", ["a ", input.action.effect, " call with untrusted arguments (", concat(", ", sort(untrusted_args)), ")"])

# Schema 1 only: a side effect with any untrusted argument. Schema 2 judges the sinks.
approval contains concat(" ", [untrusted_phrase, "needs human approval"]) if {
	schema_1
	side_effect
	count(untrusted_args) > 0
	cfg.provenance.untrusted_side_effect == "require_approval"
}

deny contains concat(" ", [untrusted_phrase, "is not allowed"]) if {
	schema_1
	side_effect
	count(untrusted_args) > 0
	cfg.provenance.untrusted_side_effect == "deny"
}

# ------------------------------------------------------------------ sinks (schema 2)

# A sink (recipient, account, url, password, share_target, amount, path, target, links)
# filled from untrusted content and not from trusted content, or of unknown trust (the
# run's label store overflowed); or a sink declared origin "task" (a destructive target)
# whose value the task does not name. An egress URL followed verbatim (via == ["value"])
# carries nothing out. Untrusted content in any other argument is no reason to refuse:
# the safety node checks what leaves.
untrusted_sinks contains name if {
	not schema_1
	some name, label in arg_labels
	tainted_sink(label)
}

untrusted_sinks contains name if {
	not schema_1
	some name, label in arg_labels
	untasked_target(label)
}

tainted_sink(label) if {
	is_object(label)
	is_string(label.sink)
	label.trust in {"untrusted", "unknown"}
	not replayed_link(label)
}

untasked_target(label) if {
	is_object(label)
	is_string(label.sink)
	object.get(label, "origin", "any") == "task"
	not object.get(label, "task", false)
}

replayed_link(label) if {
	input.action.effect == "egress"
	label.sink == "url"
	label.trust == "untrusted"
	label.via == ["value"]
}

sink_problems contains concat("", [label.sink, " argument ", name, " comes from untrusted content (", label_sources(label), "), not from the task or trusted data"]) if {
	not schema_1
	some name, label in arg_labels
	tainted_sink(label)
}

sink_problems contains concat("", [label.sink, " argument ", name, " must be named in the task: the user did not ask for it"]) if {
	not schema_1
	some name, label in arg_labels
	untasked_target(label)
	not tainted_sink(label)
}

label_sources(label) := concat(", ", sort(label.sources)) if count(object.get(label, "sources", [])) > 0

label_sources(label) := "content the run can no longer tell apart" if count(object.get(label, "sources", [])) == 0

approval contains concat("", [problem, ": needs human approval"]) if {
	some problem in sink_problems
	cfg.provenance.untrusted_sink == "require_approval"
}

deny contains concat("", [problem, ": not allowed"]) if {
	some problem in sink_problems
	cfg.provenance.untrusted_sink == "deny"
}

# ------------------------------------------------------------------ obligations

obligations := object.get(cfg.obligations, tool, {})
