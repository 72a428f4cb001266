package runtime.safety_test

import data.runtime.safety

check(findings, kind, trust) := {
	"findings": findings,
	"action": {"kind": kind, "tool": "fs.write", "trust": trust},
}

finding(type, severity) := {"type": type, "severity": severity, "location": "out/a.md"}

test_no_findings_pass if {
	safety.verdict == {"verdict": "pass", "reasons": []} with input as check([], "changeset", "trusted")
}

test_missing_findings_pass if {
	safety.verdict.verdict == "pass" with input as {"action": {"kind": "answer", "tool": "", "trust": "trusted"}}
}

test_private_key_blocks if {
	safety.verdict == {
		"verdict": "block",
		"reasons": ["a private_key was found in out/a.md"],
	} with input as check([finding("private_key", "high")], "changeset", "trusted")
}

test_critical_secret_blocks if {
	safety.verdict.verdict == "block" with input as check([finding("api_key", "critical")], "changeset", "trusted")
}

test_high_secret_redacts if {
	safety.verdict == {
		"verdict": "redact",
		"reasons": ["a api_key was found in out/a.md and will be redacted"],
	} with input as check([finding("api_key", "high")], "changeset", "trusted")
}

test_pii_redacts if {
	safety.verdict == {
		"verdict": "redact",
		"reasons": ["personal data (email) was found in out/a.md and will be redacted"],
	} with input as check([finding("email", "medium")], "message", "trusted")
}

test_unknown_finding_type_redacts if {
	safety.verdict == {
		"verdict": "redact",
		"reasons": ["a weather finding in out/a.md will be redacted"],
	} with input as check([finding("weather", "low")], "changeset", "trusted")
}

test_injection_in_untrusted_side_effect_blocks if {
	safety.verdict == {
		"verdict": "block",
		"reasons": ["injected instructions in untrusted content (out/a.md) would reach a changeset action"],
	} with input as check([finding("injection", "high")], "changeset", "untrusted")
}

test_injection_escalates_when_configured if {
	safety.verdict.verdict == "escalate" with input as check([finding("injection", "high")], "memory_write", "untrusted")
		with data.runtime_data.safety.injection_on_side_effect as "escalate"
}

test_injection_in_trusted_content_passes if {
	safety.verdict.verdict == "pass" with input as check([finding("injection", "high")], "changeset", "trusted")
}

test_injection_in_final_answer_passes if {
	safety.verdict.verdict == "pass" with input as check([finding("injection", "high")], "answer", "untrusted")
}

test_block_wins_over_redact if {
	safety.verdict.verdict == "block" with input as check([finding("email", "low"), finding("private_key", "high")], "changeset", "trusted")
}

test_finding_without_location_names_the_action if {
	safety.verdict.reasons == ["personal data (phone) was found in the action and will be redacted"] with input as check([{"type": "phone", "severity": "low"}], "message", "trusted")
}

test_finding_classified_by_detector_redacts if {
	safety.verdict == {
		"verdict": "redact",
		"reasons": ["a github_token was found in out/a.md and will be redacted"],
	} with input as check([{"type": "github_token", "detector": "secrets", "severity": "high", "location": "out/a.md"}], "changeset", "trusted")
}

test_injection_detector_kind_blocks_untrusted_side_effect if {
	safety.verdict.verdict == "block" with input as check([{"type": "instruction_override", "detector": "injection", "severity": "high", "location": "x"}], "message", "untrusted")
}

test_critical_finding_of_any_kind_blocks if {
	safety.verdict.reasons == ["a critical payment_card was found in out/a.md"] with input as check([finding("payment_card", "critical")], "changeset", "trusted")
}
