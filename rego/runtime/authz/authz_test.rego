package runtime.authz_test

import data.runtime.authz

call(agent, tool, effect, args) := {
	"schema_version": "1",
	"subject": {"agent": agent, "team": "analyst", "roles": [], "tenant": "acme"},
	"action": {"tool": tool, "effect": effect, "args": args},
	"provenance": {"args": {}, "untrusted_sources_seen": []},
	"context": {"run_id": "r1", "step": 1, "task": "t", "calls_so_far": {}},
	"risk": {"score": 0.0},
}

read_call := call("planner", "fs.read", "read", {"path": "data/sales.csv"})

# ------------------------------------------------------------------ grants

test_granted_tool_is_allowed if {
	authz.decision == {
		"allow": true,
		"require_approval": false,
		"reasons": ["tool fs.read is granted to agent planner"],
		"obligations": {},
	} with input as read_call
}

test_ungranted_tool_is_denied if {
	authz.decision == {
		"allow": false,
		"require_approval": false,
		"reasons": ["tool python.run is not granted to agent planner"],
		"alternatives": ["use a tool granted to agent planner instead: fs.list, fs.read, memory.put, memory.search"],
		"obligations": {},
	} with input as call("planner", "python.run", "exec", {"code": "print(1)"})
}

test_unknown_agent_is_denied if {
	not authz.decision.allow with input as call("mallory", "fs.read", "read", {"path": "a.txt"})
}

test_team_grant_extends_agent_grant if {
	authz.decision.allow with input as call("planner", "python.run", "exec", {"code": "1"})
		with data.runtime_data.authz.grants.teams as {"analyst": {"agents": {"planner": {"tools": ["python.run"]}}}}
}

test_team_grant_of_other_team_does_not_apply if {
	not authz.decision.allow with input as call("planner", "python.run", "exec", {"code": "1"})
		with data.runtime_data.authz.grants.teams as {"other": {"agents": {"planner": {"tools": ["python.run"]}}}}
}

test_empty_input_is_denied if {
	not authz.decision.allow with input as {}
}

test_coder_may_run_python_with_obligations if {
	authz.decision == {
		"allow": true,
		"require_approval": false,
		"reasons": ["tool python.run is granted to agent coder"],
		"obligations": {"timeout_s": 30, "max_output_bytes": 65536},
	} with input as call("coder", "python.run", "exec", {"code": "print(1)"})
}

# ------------------------------------------------------------------ fs paths

test_absolute_path_is_denied if {
	authz.decision.reasons == ["path /etc/passwd must be relative to the workspace"] with input as call("planner", "fs.read", "read", {"path": "/etc/passwd"})
}

test_dotdot_path_is_denied if {
	authz.decision.reasons == ["path a/../../x must not contain '..'"] with input as call("planner", "fs.read", "read", {"path": "a/../../x"})
}

test_dots_inside_a_name_are_allowed if {
	authz.decision.allow with input as call("planner", "fs.read", "read", {"path": "a/..b/x..y"})
}

test_backslash_path_is_denied if {
	not authz.decision.allow with input as call("planner", "fs.read", "read", {"path": "a\\b"})
}

test_drive_letter_path_is_denied if {
	not authz.decision.allow with input as call("planner", "fs.read", "read", {"path": "C:x"})
}

test_home_path_is_denied if {
	not authz.decision.allow with input as call("planner", "fs.read", "read", {"path": "~/x"})
}

test_empty_path_is_denied if {
	authz.decision.reasons == ["path  is not under an allowed path"] with input as call("planner", "fs.read", "read", {"path": ""})
}

test_missing_path_is_denied if {
	authz.decision.reasons == ["tool fs.read needs a string argument 'path'"] with input as call("planner", "fs.read", "read", {})
}

test_non_string_path_is_denied if {
	not authz.decision.allow with input as call("planner", "fs.read", "read", {"path": 3})
}

test_path_outside_allowed_globs_is_denied if {
	authz.decision.reasons == ["path secrets/key is not under an allowed path"] with input as call("planner", "fs.read", "read", {"path": "secrets/key"})
		with data.runtime_data.authz.fs.allowed_globs as ["data/**", "out/**"]
}

test_path_inside_allowed_globs_is_allowed if {
	authz.decision.allow with input as call("planner", "fs.read", "read", {"path": "data/a/b.csv"})
		with data.runtime_data.authz.fs.allowed_globs as ["data/**", "out/**"]
}

# ------------------------------------------------------------------ fs.write size

test_write_at_cap_is_allowed if {
	authz.decision.allow with input as call("coder", "fs.write", "write", {"path": "out/r.md", "content": "abcd"})
		with data.runtime_data.authz.fs.max_write_chars as 4
}

test_write_over_cap_is_denied if {
	authz.decision.reasons == ["content for fs.write is 5 characters, over the cap of 4"] with input as call("coder", "fs.write", "write", {"path": "out/r.md", "content": "abcde"})
		with data.runtime_data.authz.fs.max_write_chars as 4
}

test_write_without_content_is_denied if {
	authz.decision.reasons == ["tool fs.write needs a string argument 'content'"] with input as call("coder", "fs.write", "write", {"path": "out/r.md"})
}

# ------------------------------------------------------------------ budgets

test_call_under_budget_is_allowed if {
	authz.decision.allow with input as object.union(
		call("coder", "python.run", "exec", {"code": "1"}),
		{"context": {"run_id": "r1", "step": 1, "task": "t", "calls_so_far": {"python.run": 24}}},
	)
}

test_call_at_budget_is_denied if {
	authz.decision.reasons == ["tool python.run has used its budget of 25 calls in this run"] with input as object.union(
		call("coder", "python.run", "exec", {"code": "1"}),
		{"context": {"run_id": "r1", "step": 1, "task": "t", "calls_so_far": {"python.run": 25}}},
	)
}

test_default_budget_applies_to_unlisted_tools if {
	authz.decision.reasons == ["tool fs.read has used its budget of 50 calls in this run"] with input as object.union(
		read_call,
		{"context": {"run_id": "r1", "step": 1, "task": "t", "calls_so_far": {"fs.read": 50}}},
	)
}

test_missing_calls_so_far_counts_as_zero if {
	authz.decision.allow with input as object.union(read_call, {"context": {"run_id": "r1", "step": 1, "task": "t"}})
}

# ------------------------------------------------------------------ approval

# No effect needs approval by default: a send is judged by where its sinks came from.
test_effect_listed_for_approval_needs_approval if {
	authz.decision == {
		"allow": false,
		"require_approval": true,
		"reasons": ["effect external needs human approval"],
		"obligations": {"label_output": "untrusted"},
	} with input as call("researcher", "http.get", "external", {"url": "https://example.org"})
		with data.runtime_data.authz.approval.effects as ["external"]
}

test_external_effect_with_trusted_arguments_is_allowed if {
	authz.decision.allow with input as call("researcher", "http.get", "external", {"url": "https://example.org"})
}

test_tool_listed_for_approval_needs_approval if {
	authz.decision.require_approval with input as call("coder", "python.run", "exec", {"code": "1"})
		with data.runtime_data.authz.approval.tools as ["python.run"]
}

test_high_risk_needs_approval if {
	authz.decision.reasons == ["the risk score of this call is at or above the approval threshold"] with input as object.union(read_call, {"risk": {"score": 0.8}})
}

test_risk_below_threshold_is_allowed if {
	authz.decision.allow with input as object.union(read_call, {"risk": {"score": 0.79}})
}

test_deny_wins_over_approval if {
	d := authz.decision with input as call("planner", "http.get", "external", {"url": "x"})
	d.allow == false
	d.require_approval == false
	d.reasons == ["tool http.get is not granted to agent planner"]
}

# ------------------------------------------------------------------ provenance

untrusted_write := object.union(
	call("coder", "fs.write", "write", {"path": "out/a.md", "content": "x"}),
	{"provenance": {"args": {"path": "trusted", "content": "untrusted"}, "untrusted_sources_seen": ["web:example.org"]}},
)

test_untrusted_argument_on_side_effect_needs_approval if {
	authz.decision == {
		"allow": false,
		"require_approval": true,
		"reasons": ["a write call with untrusted arguments (content) needs human approval"],
		"obligations": {},
	} with input as untrusted_write
}

test_untrusted_argument_on_side_effect_denied_when_configured if {
	authz.decision == {
		"allow": false,
		"require_approval": false,
		"reasons": ["a write call with untrusted arguments (content) is not allowed"],
		"alternatives": ["ask the user to approve a write call with untrusted arguments (content), or take those arguments from the user's task only"],
		"obligations": {},
	} with input as untrusted_write
		with data.runtime_data.authz.provenance.untrusted_side_effect as "deny"
}

# An egress is a read that sends data out (e.g. a URL with a query): untrusted arguments
# there could carry what the run has read to someone else.
test_untrusted_argument_on_egress_needs_approval if {
	authz.decision == {
		"allow": false,
		"require_approval": true,
		"reasons": ["a egress call with untrusted arguments (url) needs human approval"],
		"obligations": {"label_output": "untrusted"},
	} with input as object.union(
		call("researcher", "http.get", "egress", {"url": "https://example.org/?q=x"}),
		{"provenance": {"args": {"url": "untrusted"}, "untrusted_sources_seen": []}},
	)
}

test_untrusted_argument_on_read_is_allowed if {
	authz.decision.allow with input as object.union(read_call, {"provenance": {"args": {"path": "untrusted"}}})
}

test_trusted_arguments_on_side_effect_are_allowed if {
	authz.decision.allow with input as object.union(untrusted_write, {"provenance": {"args": {"content": "trusted"}}})
}
