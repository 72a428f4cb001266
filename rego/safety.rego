# METADATA
# title: Output safety rules
# description: |
#   Turns detector findings about a staged action into a verdict: block, escalate,
#   redact or pass. Type lists and the injection mode live in data.runtime_data.safety.
package runtime.safety

cfg := data.runtime_data.safety

findings := object.get(input, "findings", [])

# METADATA
# title: Safety verdict
# description: |
#   {"verdict": "pass|redact|block|escalate", "reasons": [...]}. The strongest verdict
#   wins: block over escalate over redact over pass.
# scope: document
# entrypoint: true
default verdict := {"verdict": "block", "reasons": ["block: no rule decided this action"]}

verdict := {"verdict": "block", "reasons": sort(block)} if {
	count(block) > 0
} else := {"verdict": "escalate", "reasons": sort(escalate)} if {
	count(escalate) > 0
} else := {"verdict": "redact", "reasons": sort(redact)} if {
	count(redact) > 0
} else := {"verdict": "pass", "reasons": []}

# A finding's category comes from its detector (the runtime's detectors are named
# secrets, pii, injection) or from its type, so policies work with other detectors too.
secret(f) if f.type in cfg.secret_types

secret(f) if object.get(f, "detector", "") in cfg.secret_detectors

pii(f) if f.type in cfg.pii_types

pii(f) if object.get(f, "detector", "") in cfg.pii_detectors

injection(f) if f.type == "injection"

injection(f) if object.get(f, "detector", "") in cfg.injection_detectors

block contains sprintf("a %s was found in %s", [f.type, location(f)]) if {
	some f in findings
	f.type in cfg.block_types
}

block contains sprintf("a critical %s was found in %s", [f.type, location(f)]) if {
	some f in findings
	f.severity == "critical"
	not f.type in cfg.block_types
}

redact contains sprintf("a %s was found in %s and will be redacted", [f.type, location(f)]) if {
	some f in findings
	secret(f)
}

redact contains sprintf("personal data (%s) was found in %s and will be redacted", [f.type, location(f)]) if {
	some f in findings
	pii(f)
	not secret(f)
}

redact contains sprintf("a %s finding in %s will be redacted", [f.type, location(f)]) if {
	some f in findings
	not secret(f)
	not pii(f)
	not injection(f)
}

side_effect if input.action.kind in cfg.side_effect_kinds

untrusted if input.action.trust == "untrusted"

injection_reasons contains sprintf("injected instructions in untrusted content (%s) would reach a %s action", [location(f), input.action.kind]) if {
	some f in findings
	injection(f)
	untrusted
	side_effect
}

block contains r if {
	cfg.injection_on_side_effect == "block"
	some r in injection_reasons
}

escalate contains r if {
	cfg.injection_on_side_effect != "block"
	some r in injection_reasons
}

location(f) := object.get(f, "location", "the action") if is_string(object.get(f, "location", null))

location(f) := "the action" if not is_string(object.get(f, "location", null))
