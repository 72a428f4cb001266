# Safe alternatives for refused tool calls (package runtime.authz; the package annotation
# lives in authz.rego). Beside each deny rule of authz.rego, a safe way to reach the goal
# of the refused call, where one exists. The decision carries them as "alternatives" on a
# deny: plain sentences that go back to the model and the user. Budgets, the fs.write size
# cap and missing arguments have none on purpose: the way around a budget or a cap is what
# the rule forbids, and a missing argument's reason already says what to pass.
package runtime.authz

# ------------------------------------------------------------------ grants

# A tool that is not granted: the tools this agent may use (none named when it has none).

# METADATA
# title: Safe alternatives
# description: |
#   Safe ways to reach the goal of a denied call (e.g. the tools the agent may use, the
#   path globs it may touch), carried by the decision as "alternatives" on a deny.
# scope: document
alternatives contains concat("", ["use a tool granted to agent ", agent, " instead: ", concat(", ", sort(granted_tools))]) if {
	not tool in granted_tools
	count(granted_tools) > 0
}

# ------------------------------------------------------------------ fs arguments

# A path that is refused for any reason: the shape of a path that is allowed. The globs
# stay in data order: regopy sorts non-ASCII strings from data differently from OPA.
alternatives contains concat("", ["use a relative path inside the workspace, without '..', that matches an allowed glob: ", concat(", ", cfg.fs.allowed_globs)]) if {
	path_refused
	count(cfg.fs.allowed_globs) > 0
}

path_refused if {
	fs_call
	not is_string(fs_path)
}

path_refused if {
	fs_call
	is_string(fs_path)
	absolute_path(fs_path)
}

path_refused if {
	fs_call
	is_string(fs_path)
	".." in split(fs_path, "/")
}

path_refused if {
	fs_call
	is_string(fs_path)
	not path_allowed(fs_path)
}

# ------------------------------------------------------------------ provenance

# An untrusted side effect the policy refuses outright: a human may still approve it, or
# the agent may rebuild the arguments from the user's own task.
alternatives contains concat("", ["ask the user to approve ", untrusted_phrase, ", or take those arguments from the user's task only"]) if {
	schema_1
	side_effect
	count(untrusted_args) > 0
	cfg.provenance.untrusted_side_effect == "deny"
}

# A sink filled from untrusted content, refused outright: take the value from the user's
# task or trusted data (contacts, accounts), or ask the user to approve the call.
alternatives contains concat("", ["take ", concat(", ", sort(untrusted_sinks)), " from the user's task or trusted data, or ask the user to approve the call"]) if {
	count(untrusted_sinks) > 0
	cfg.provenance.untrusted_sink == "deny"
}
