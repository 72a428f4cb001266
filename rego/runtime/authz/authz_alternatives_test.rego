package runtime.authz_test

import data.runtime.authz

# call(agent, tool, effect, args) comes from authz_test.rego (same package).

paths_alternative := "use a relative path inside the workspace, without '..', that matches an allowed glob: *, **/*"

planner_tools := "use a tool granted to agent planner instead: fs.list, fs.read, memory.put, memory.search"

untrusted_write_unseen := object.union(
	call("coder", "fs.write", "write", {"path": "out/a.md", "content": "x"}),
	{"provenance": {"args": {"path": "trusted", "content": "untrusted"}, "untrusted_sources_seen": []}},
)

# ------------------------------------------------------------------ grants

test_ungranted_tool_names_the_granted_tools if {
	authz.decision == {
		"allow": false,
		"require_approval": false,
		"reasons": ["tool python.run is not granted to agent planner"],
		"alternatives": [planner_tools],
		"obligations": {},
	} with input as call("planner", "python.run", "exec", {"code": "print(1)"})
}

test_granted_tools_include_the_team_grant if {
	authz.decision.alternatives == ["use a tool granted to agent planner instead: fs.read, python.run"] with input as call("planner", "http.get", "external", {"url": "x"})
		with data.runtime_data.authz.grants.agents.planner.tools as ["fs.read"]
		with data.runtime_data.authz.grants.teams as {"analyst": {"agents": {"planner": {"tools": ["python.run"]}}}}
}

test_agent_without_grants_gets_no_alternative if {
	authz.decision.alternatives == [] with input as call("mallory", "fs.read", "read", {"path": "a.txt"})
}

test_granted_call_has_no_alternatives_key if {
	not "alternatives" in object.keys(authz.decision) with input as call("planner", "fs.read", "read", {"path": "a.txt"})
}

# ------------------------------------------------------------------ fs arguments

test_path_outside_the_globs_names_the_globs if {
	authz.decision == {
		"allow": false,
		"require_approval": false,
		"reasons": ["path out/a.md is not under an allowed path"],
		"alternatives": ["use a relative path inside the workspace, without '..', that matches an allowed glob: data/*"],
		"obligations": {},
	} with input as call("coder", "fs.write", "write", {"path": "out/a.md", "content": "x"})
		with data.runtime_data.authz.fs.allowed_globs as ["data/*"]
}

test_absolute_path_names_the_globs if {
	authz.decision.alternatives == [paths_alternative] with input as call("coder", "fs.read", "read", {"path": "/etc/passwd"})
}

test_dotdot_path_names_the_globs if {
	authz.decision.alternatives == [paths_alternative] with input as call("coder", "fs.read", "read", {"path": "a/../../b"})
}

test_non_string_path_names_the_globs if {
	authz.decision.alternatives == [paths_alternative] with input as call("coder", "fs.read", "read", {"path": 3})
}

test_empty_path_names_the_globs if {
	authz.decision.alternatives == [paths_alternative] with input as call("coder", "fs.list", "read", {"path": ""})
}

test_no_globs_no_path_alternative if {
	authz.decision.alternatives == [] with input as call("coder", "fs.read", "read", {"path": "a.txt"})
		with data.runtime_data.authz.fs.allowed_globs as []
}

test_allowed_path_denied_for_another_reason_gets_no_path_alternative if {
	authz.decision.alternatives == [] with input as call("coder", "fs.write", "write", {"path": "out/a.md"})
}

test_ungranted_tool_with_bad_path_gets_both if {
	authz.decision.alternatives == [paths_alternative, planner_tools] with input as call("planner", "fs.write", "write", {"path": "/x", "content": "y"})
}

# ------------------------------------------------------------------ budgets and caps

test_exhausted_budget_offers_no_alternative if {
	authz.decision == {
		"allow": false,
		"require_approval": false,
		"reasons": ["tool python.run has used its budget of 25 calls in this run"],
		"alternatives": [],
		"obligations": {},
	} with input as object.union(
		call("coder", "python.run", "exec", {"code": "1"}),
		{"context": {"run_id": "r1", "step": 1, "task": "t", "calls_so_far": {"python.run": 25}}},
	)
}

test_content_over_the_cap_offers_no_alternative if {
	authz.decision.alternatives == [] with input as call("coder", "fs.write", "write", {"path": "a.md", "content": "xxxx"})
		with data.runtime_data.authz.fs.max_write_chars as 3
}

# ------------------------------------------------------------------ provenance

test_untrusted_side_effect_denied_offers_approval_or_trusted_arguments if {
	authz.decision == {
		"allow": false,
		"require_approval": false,
		"reasons": ["a write call with untrusted arguments (content) is not allowed"],
		"alternatives": ["ask the user to approve a write call with untrusted arguments (content), or take those arguments from the user's task only"],
		"obligations": {},
	} with input as untrusted_write_unseen
		with data.runtime_data.authz.provenance.untrusted_side_effect as "deny"
}

test_untrusted_side_effect_awaiting_approval_has_no_alternatives_key if {
	authz.decision == {
		"allow": false,
		"require_approval": true,
		"reasons": ["a write call with untrusted arguments (content) needs human approval"],
		"obligations": {},
	} with input as untrusted_write_unseen
}

test_untrusted_read_is_not_a_side_effect if {
	authz.decision.allow with input as object.union(
		call("coder", "fs.read", "read", {"path": "a.md"}),
		{"provenance": {"args": {"path": "untrusted"}, "untrusted_sources_seen": []}},
	)
		with data.runtime_data.authz.provenance.untrusted_side_effect as "deny"
}
