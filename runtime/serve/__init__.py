"""The operator's view: `runtime serve`, a token-protected dashboard over the audit log.

Owns the read models a person needs to judge a run (runs, timelines, pending approvals,
policy versions, charts, Prometheus metrics), the dashboard's authentication (a bearer
token or the session cookie it buys, CSRF tokens and an origin check on every write) and
its HTML. Reads the audit log; writes nothing itself: an approval or a denial from the page
goes through `Runtime.resume`, exactly as `runtime approve` does. Never decides policy or
safety, and never shows an argument's raw value (arguments are redacted by the safety
detectors before they are rendered).
"""
