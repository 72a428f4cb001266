package runtime.sinks_test

import data.runtime.sinks

arg(trust, sink) := {"trust": trust, "sources": [], "via": ["value"], "sink": sink, "origin": "any", "task": false}

call(effect, provenance_args) := {"action": {"tool": "t", "effect": effect, "args": {}}, "provenance": {"args": provenance_args}}

test_untrusted_recipient_is_an_untrusted_sink if {
	sinks.decision == {"outcome": "untrusted_sink", "args": ["to"]} with input as call("external", {"to": arg("untrusted", "recipient")})
}

test_unknown_counts_as_untrusted if {
	sinks.decision.outcome == "untrusted_sink" with input as call("external", {"to": arg("unknown", "recipient")})
}

test_trusted_and_model_recipients_are_allowed if {
	sinks.decision == {"outcome": "allow", "args": []} with input as call("external", {"to": arg("trusted", "recipient"), "cc": arg("model", "recipient")})
}

test_untrusted_body_is_not_a_sink if {
	sinks.decision.outcome == "allow" with input as call("external", {"body": arg("untrusted", null)})
}

test_egress_link_followed_verbatim_is_allowed if {
	sinks.decision.outcome == "allow" with input as call("egress", {"url": arg("untrusted", "url")})
}

test_egress_url_built_on_untrusted_domain_is_refused if {
	built := object.union(arg("untrusted", "url"), {"via": ["domain"]})
	sinks.decision.outcome == "untrusted_sink" with input as call("egress", {"url": built})
}

test_same_url_as_a_destination_is_refused if {
	sinks.decision.outcome == "untrusted_sink" with input as call("write", {"url": arg("untrusted", "url")})
}

test_task_origin_target_needs_the_task if {
	target := object.union(arg("trusted", "target"), {"origin": "task"})
	sinks.decision.outcome == "untrusted_sink" with input as call("write", {"id": target})
	named := object.union(target, {"task": true})
	sinks.decision.outcome == "allow" with input as call("write", {"id": named})
}

test_schema_1_labels_are_not_sinks if {
	sinks.decision.outcome == "allow" with input as call("external", {"to": "untrusted"})
}
