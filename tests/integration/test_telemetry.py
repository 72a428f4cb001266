"""OpenTelemetry on a real run (Docker, OPA): a span per run, per model turn and per
pipeline stage, children of the run's span, with decisions, verdicts and ids as attributes
and never an argument's value; metrics for decision latency, sandbox latency, denials and findings by type."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest
from opentelemetry.proto.collector.metrics.v1 import (
    metrics_service_pb2,
    metrics_service_pb2_grpc,
)
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
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


class Collector(
    trace_service_pb2_grpc.TraceServiceServicer, metrics_service_pb2_grpc.MetricsServiceServicer
):
    """An OTLP/gRPC receiver on loopback that keeps what it is sent."""

    def __init__(self) -> None:
        self.spans: list[Any] = []
        self.metric_names: set[str] = set()

    def Export(self, request: Any, context: Any) -> Any:
        if isinstance(request, trace_service_pb2.ExportTraceServiceRequest):
            for resource in request.resource_spans:
                for scope in resource.scope_spans:
                    self.spans.extend(scope.spans)
            return trace_service_pb2.ExportTraceServiceResponse()
        for resource in request.resource_metrics:
            for scope in resource.scope_metrics:
                self.metric_names.update(m.name for m in scope.metrics)
        return metrics_service_pb2.ExportMetricsServiceResponse()


@pytest.fixture
def collector() -> Iterator[tuple[Collector, int]]:
    received = Collector()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(received, server)  # type: ignore[no-untyped-call]
    metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(received, server)  # type: ignore[no-untyped-call]
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield received, port
    server.stop(None)


def test_an_otel_endpoint_in_the_settings_exports_over_otlp(
    project: Path,
    tmp_path: Path,
    sandbox_image: str,
    opa_path: Path,
    collector: tuple[Collector, int],
) -> None:
    received, port = collector
    turns = [{"tool": "python.run", "args": {"code": f"x = {MARKER!r}"}}, {"answer": "ok"}]
    add_team(project, "otlp", {"coder": "runs"}, {"coder": turns})
    settings = load_settings(
        project_dir=project,
        state_dir=tmp_path / "state",
        opa_binary=str(opa_path),
        otel_endpoint=f"127.0.0.1:{port}",
    )
    with Runtime(settings) as rt:
        result = rt.exec("run it", "otlp")
    # Closing the runtime flushed its exporters.
    assert result.status == "completed", result.reason
    [run] = [s for s in received.spans if s.name == "run"]
    attributes = {a.key: a.value.string_value for a in run.attributes}
    assert attributes["runtime.run_id"] == result.run_id
    stages = [s for s in received.spans if s.name in STAGES]
    assert {s.name for s in stages} == STAGES
    assert all(s.parent_span_id == run.span_id for s in stages)
    assert all(MARKER not in str(s) for s in received.spans)
    assert {"runtime.decision.duration", "runtime.sandbox.duration"} <= received.metric_names
