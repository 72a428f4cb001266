# METADATA
# title: Sink arguments and their provenance
# description: |
#   The sink rule over policy input schema 2 (input.provenance.args[name] = {trust,
#   sources, via, sink, origin, task}). A sink argument (recipient, account, url, password,
#   share_target, amount, path, target, links) whose value comes from untrusted content and
#   not from trusted content, or whose trust is unknown (the label store overflowed), is an
#   untrusted sink; so is a sink declared origin "task" whose value the task does not name.
#   An egress URL followed verbatim (via == ["value"]) carries nothing out and is allowed.
#   Untrusted content in any other argument is no reason to refuse. Proposed for rego/ (the
#   authz package would turn untrusted_sinks into approval or deny by configuration); kept
#   here, beside the injection suite that measures it, until it is wired.
package runtime.sinks

args := object.get(object.get(input, "provenance", {}), "args", {})

# METADATA
# title: Untrusted sinks
# description: The names of the sink arguments the call may not fill without a human.
untrusted_sinks contains name if {
	some name, arg in args
	tainted_sink(arg)
}

untrusted_sinks contains name if {
	some name, arg in args
	untasked_target(arg)
}

tainted_sink(arg) if {
	is_object(arg)
	is_string(arg.sink)
	arg.trust in {"untrusted", "unknown"}
	not replayed_link(arg)
}

untasked_target(arg) if {
	is_object(arg)
	is_string(arg.sink)
	object.get(arg, "origin", "any") == "task"
	not object.get(arg, "task", false)
}

replayed_link(arg) if {
	input.action.effect == "egress"
	arg.sink == "url"
	arg.trust == "untrusted"
	arg.via == ["value"]
}

# METADATA
# title: Sink decision
# description: allow, or untrusted_sink with the arguments named, sorted.
# entrypoint: true
default decision := {"outcome": "allow", "args": []}

decision := {"outcome": "untrusted_sink", "args": sort([n | some n in untrusted_sinks])} if {
	count(untrusted_sinks) > 0
}
