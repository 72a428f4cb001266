package runtime.memory_test

import data.runtime.memory

access(agent, operation, namespace) := {
	"schema_version": "1",
	"subject": {"agent": agent, "team": "analyst", "roles": [], "tenant": "acme"},
	"operation": operation,
	"namespace": namespace,
	"run_id": "r1",
}

test_agent_reads_own_namespace if {
	memory.decision == {
		"allow": true,
		"require_approval": false,
		"reasons": ["namespace acme/coder belongs to agent coder"],
		"obligations": {},
	} with input as access("coder", "read", "acme/coder")
}

test_agent_writes_own_namespace if {
	memory.decision.allow with input as access("coder", "write", "acme/coder")
}

test_agent_may_not_read_another_agents_namespace if {
	memory.decision == {
		"allow": false,
		"require_approval": false,
		"reasons": ["agent coder may not read memory namespace acme/planner"],
		"obligations": {},
	} with input as access("coder", "read", "acme/planner")
}

test_agent_may_not_cross_tenants if {
	not memory.decision.allow with input as access("coder", "read", "other/coder")
}

test_granted_shared_read_is_allowed if {
	memory.decision.reasons == ["agent reviewer is granted read on shared space team"] with input as access("reviewer", "read", "acme/shared/team")
}

test_shared_write_without_grant_is_denied if {
	not memory.decision.allow with input as access("reviewer", "write", "acme/shared/team")
}

test_unknown_shared_space_is_denied if {
	not memory.decision.allow with input as access("coder", "read", "acme/shared/secret")
}

test_shared_space_of_other_tenant_is_denied if {
	not memory.decision.allow with input as access("coder", "read", "other/shared/team")
}

test_nested_namespace_is_denied if {
	not memory.decision.allow with input as access("coder", "read", "acme/coder/sub")
}

test_unknown_operation_is_denied if {
	not memory.decision.allow with input as access("coder", "delete", "acme/coder")
}

test_empty_input_is_denied if {
	not memory.decision.allow with input as {}
}
