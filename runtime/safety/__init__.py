"""Safety: inspects staged actions (file changes, memory writes, answers) before commit.

Owns: detectors (secrets, PII, injected instructions), the verdict and redaction. Never
commits or executes anything; it only returns a verdict.
"""
