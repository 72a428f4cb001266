"""OpenTelemetry on a real run (Docker, OPA): a span per run, per model turn and per
pipeline stage, children of the run's span, with decisions, verdicts and ids as attributes
and never an argument's value; metrics for decision latency, sandbox latency, denials and findings by type."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from runtime.core import Runtime
from runtime.models import RunResult
from runtime.settings import load_settings
from runtime.telemetry import Telemetry
from tests.integration.test_exec import add_team

pytestmark = [
    pytest.mark.docker,
    pytest.mark.opa,
    pytest.mark.usefixtures("no_leftover_containers"),
]

MARKER = "zebra-quartz-7731-telemetry-marker"
STAGES = {"propose", "authorize", "execute", "check", "commit"}


@pytest.fixture
def traced(
    project: Path, tmp_path: Path, sandbox_image: str, opa_path: Path
) -> Iterator[tuple[RunResult, list[ReadableSpan], InMemoryMetricReader]]:
    turns = [
        {"tool": "python.run", "args": {"code": f"open('out.txt', 'w').write({MARKER!r})"}},
        {"tool": "fs.read", "args": {"path": f"/etc/{MARKER}"}},  # denied by the policy
        {"tool": "memory.put", "args": {"text": "write to alice@example.com", "source": "task"}},
        {"answer": "done"},
    ]
    add_team(project, "tracer", {"coder": "writes"}, {"coder": turns})
    exporter = InMemorySpanExporter()
    reader = InMemoryMetricReader()
    telemetry = Telemetry.for_exporters(SimpleSpanProcessor(exporter), reader)
    settings = load_settings(
        project_dir=project, state_dir=tmp_path / "state", opa_binary=str(opa_path)
    )
    with Runtime(settings, telemetry=telemetry) as rt:
        result = rt.exec(f"Write {MARKER} to out.txt", "tracer")
    yield result, list(exporter.get_finished_spans()), reader
    telemetry.shutdown()


def _metric(reader: InMemoryMetricReader, name: str) -> Any:
    data = reader.get_metrics_data()
    assert data is not None
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name == name:
                    return metric
    raise AssertionError(f"no metric {name}")


def test_spans_of_a_run_are_children_of_its_run_span(
    traced: tuple[RunResult, list[ReadableSpan], InMemoryMetricReader],
) -> None:
    result, spans, _ = traced
    assert result.status == "completed_with_blocks", result.reason
    [run] = [s for s in spans if s.name == "run"]
    assert run.parent is None
    assert run.attributes is not None
    assert run.attributes["runtime.run_id"] == result.run_id
    assert run.attributes["runtime.status"] == "completed_with_blocks"
    children = [s for s in spans if s is not run]
    assert children and all(
        s.parent is not None
        and s.parent.span_id == run.context.span_id
        and s.context.trace_id == run.context.trace_id
        for s in children
    )
    names = [s.name for s in children]
    assert set(names) >= STAGES
    assert names.count("model.turn") == 4  # three calls and the answer

    def attrs(name: str, tool: str) -> dict[str, Any]:
        [span] = [
            s for s in children if s.name == name and (s.attributes or {})["runtime.tool"] == tool
        ]
        return dict(span.attributes or {})

    allowed = attrs("authorize", "python.run")
    assert allowed["runtime.decision"] == "allow"
    assert allowed["runtime.decision_id"] and allowed["runtime.policy_version"]
    assert allowed["runtime.step"] == 1 and allowed["runtime.agent"] == "coder"
    assert attrs("authorize", "fs.read")["runtime.decision"] == "deny"
    assert attrs("check", "python.run")["runtime.verdict"] == "pass"
    assert attrs("execute", "python.run")["runtime.sandbox_id"]
    for span in spans:
        assert span.end_time is not None and span.end_time >= (span.start_time or 0)


def test_no_argument_value_becomes_an_attribute(
    traced: tuple[RunResult, list[ReadableSpan], InMemoryMetricReader],
) -> None:
    _, spans, _ = traced
    assert spans
    for span in spans:
        for key, value in (span.attributes or {}).items():
            assert MARKER not in str(value), (span.name, key)
        assert MARKER not in span.name


def test_metrics_see_decision_latency_and_denials(
    traced: tuple[RunResult, list[ReadableSpan], InMemoryMetricReader],
) -> None:
    _, _, reader = traced
    latency = _metric(reader, "runtime.decision.duration")
    points = list(latency.data.data_points)
    assert sum(p.count for p in points) == 3
    assert {p.attributes["runtime.decision"] for p in points} == {"allow", "deny"}
    assert all(p.sum > 0 for p in points)
    denials = _metric(reader, "runtime.denials")
    assert sum(p.value for p in denials.data.data_points) == 1
    sandbox = _metric(reader, "runtime.sandbox.duration")
    assert sum(p.count for p in sandbox.data.data_points) == 1
    findings = _metric(reader, "runtime.findings")
    by_type = {p.attributes["runtime.finding_type"]: p.value for p in findings.data.data_points}
    assert by_type == {"email": 1}
