# METADATA
# title: Memory access authorization
# description: |
#   Decides whether an agent may read or write a memory namespace. An agent owns
#   <tenant>/<agent>; a shared space <tenant>/shared/<name> needs a grant in
#   data.runtime_data.memory.shared.
package runtime.memory

cfg := data.runtime_data.memory

tenant := input.subject.tenant

agent := input.subject.agent

operation := input.operation

namespace := input.namespace

# METADATA
# title: Memory access decision
# description: |
#   Same document shape as the tool-call decision: allow, require_approval, reasons,
#   obligations. Deny unless the namespace is the agent's own or a granted shared space.
# scope: document
# entrypoint: true
default decision := {
	"allow": false,
	"require_approval": false,
	"reasons": ["deny: no rule decided this memory access"],
	"obligations": {},
}

decision := {
	"allow": true,
	"require_approval": false,
	"reasons": [reason],
	"obligations": {},
} if {
	some reason in allow_reasons
} else := {
	"allow": false,
	"require_approval": false,
	"reasons": [sprintf("agent %s may not %s memory namespace %s", [agent, operation, namespace])],
	"obligations": {},
}

own_namespace := sprintf("%s/%s", [tenant, agent])

valid_operation if operation in {"read", "write"}

allow_reasons contains sprintf("namespace %s belongs to agent %s", [namespace, agent]) if {
	valid_operation
	namespace == own_namespace
}

allow_reasons contains sprintf("agent %s is granted %s on shared space %s", [agent, operation, name]) if {
	valid_operation
	parts := split(namespace, "/")
	count(parts) == 3
	parts[0] == tenant
	parts[1] == "shared"
	name := parts[2]
	agent in cfg.shared[name][operation]
}
