"""Prometheus metrics derived from the audit log at scrape time.

Runs are driven by other processes (`runtime exec`, `runtime approve`), so counters kept in
the dashboard's memory would miss them; the audit log is the one record they all append to.
A scrape reads it once and renders the text exposition format (version 0.0.4).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from runtime.audit.store import AuditLog
from runtime.serve.records import latency_points

BUCKETS_S = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _histogram(name: str, help_text: str, seconds: Sequence[float]) -> list[str]:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} histogram"]
    for bound in BUCKETS_S:
        count = sum(1 for value in seconds if value <= bound)
        lines.append(f'{name}_bucket{{le="{bound}"}} {count}')
    lines.append(f'{name}_bucket{{le="+Inf"}} {len(seconds)}')
    lines.append(f"{name}_sum {sum(seconds):.6f}")
    lines.append(f"{name}_count {len(seconds)}")
    return lines


def render(audit: AuditLog, pending_approvals: int, run_statuses: Sequence[str]) -> str:
    decisions: Counter[str] = Counter()
    findings: Counter[str] = Counter()
    for event in audit.events():
        if event.kind == "decision":
            decisions[str(event.payload.get("decision", "unknown"))] += 1
        elif event.kind == "verdict":
            for finding in event.payload.get("findings", []):
                findings[str(finding.get("type", "unknown"))] += 1
    series = latency_points(audit)
    lines = [
        "# HELP runtime_decisions_total Policy decisions by outcome.",
        "# TYPE runtime_decisions_total counter",
    ]
    lines += [
        f'runtime_decisions_total{{decision="{_label(k)}"}} {v}'
        for k, v in sorted(decisions.items())
    ]
    lines += [
        "# HELP runtime_denials_total Tool calls the policy denied.",
        "# TYPE runtime_denials_total counter",
        f"runtime_denials_total {decisions.get('deny', 0)}",
        "# HELP runtime_findings_total Safety findings by type.",
        "# TYPE runtime_findings_total counter",
    ]
    lines += [
        f'runtime_findings_total{{type="{_label(k)}"}} {v}' for k, v in sorted(findings.items())
    ]
    lines += [
        "# HELP runtime_approvals_pending Runs waiting for a human answer.",
        "# TYPE runtime_approvals_pending gauge",
        f"runtime_approvals_pending {pending_approvals}",
        "# HELP runtime_runs Runs by status.",
        "# TYPE runtime_runs gauge",
    ]
    lines += [
        f'runtime_runs{{status="{_label(k)}"}} {v}'
        for k, v in sorted(Counter(run_statuses).items())
    ]
    lines += _histogram(
        "runtime_decision_latency_seconds",
        "From a proposal's audit event to its decision's.",
        [ms / 1000 for _, ms in series["decision_ms"]],
    )
    lines += _histogram(
        "runtime_tool_latency_seconds",
        "A tool call's execution time (sandbox or host).",
        [ms / 1000 for _, ms in series["tool_ms"]],
    )
    return "\n".join(lines) + "\n"
