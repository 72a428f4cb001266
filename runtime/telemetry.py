"""OpenTelemetry for the runtime: a span per run, per model turn and per pipeline stage, and
metrics for decision latency, sandbox latency, denials, pending approvals and findings.

Off unless configured: with no `otel_endpoint` (runtime.toml, `RUNTIME_OTEL_ENDPOINT`) the
runtime uses `Telemetry.disabled()`, whose spans and instruments do nothing. Attributes are
ids, names and outcomes from a fixed allow-list (`ATTRIBUTE_KEYS`); an argument's value,
a file's content or a model's text can never become an attribute, because `_attributes`
drops every key outside the list and every value that is not a short scalar.

Stage spans take their run's span as explicit parent (LangGraph may run a node on another
thread, where the ambient context would not be the run's).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Mapping
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

SCOPE = "agent-runtime"

ATTRIBUTE_KEYS = frozenset(
    {
        "runtime.run_id",
        "runtime.team",
        "runtime.agent",
        "runtime.step",
        "runtime.tool",
        "runtime.effect",
        "runtime.stage",
        "runtime.status",
        "runtime.decision",
        "runtime.decision_id",
        "runtime.policy_version",
        "runtime.engine",
        "runtime.verdict",
        "runtime.findings",
        "runtime.sandbox_id",
        "runtime.exit_code",
        "runtime.idempotency_key",
        "runtime.model",
        "runtime.provider",
        "runtime.input_tokens",
        "runtime.output_tokens",
    }
)
MAX_ATTRIBUTE_CHARS = 200
EXPORT_TIMEOUT_S = 3
"""Seconds one OTLP export may take (retries included) before its batch is dropped."""


def _attributes(values: Mapping[str, Any]) -> dict[str, str | int | float | bool]:
    """Only allow-listed keys with short scalar values survive."""
    kept: dict[str, str | int | float | bool] = {}
    for key, value in values.items():
        name = key if key.startswith("runtime.") else f"runtime.{key}"
        if name not in ATTRIBUTE_KEYS or value is None:
            continue
        short_text = isinstance(value, str) and len(value) <= MAX_ATTRIBUTE_CHARS
        if short_text or isinstance(value, bool | int | float):
            kept[name] = value
    return kept


class Telemetry:
    """The runtime's tracer and instruments; one per `Runtime`."""

    def __init__(
        self,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
    ) -> None:
        self._tracer_provider = tracer_provider or trace.NoOpTracerProvider()
        self._meter_provider = meter_provider or metrics.NoOpMeterProvider()
        self.tracer = self._tracer_provider.get_tracer(SCOPE)
        meter = self._meter_provider.get_meter(SCOPE)
        self.decision_latency = meter.create_histogram(
            "runtime.decision.duration", unit="s", description="Policy decision latency"
        )
        self.sandbox_latency = meter.create_histogram(
            "runtime.sandbox.duration", unit="s", description="Tool execution time in the box"
        )
        self.denials = meter.create_counter("runtime.denials", description="Denied tool calls")
        self.findings = meter.create_counter(
            "runtime.findings", description="Safety findings by type"
        )
        self.approvals_pending = meter.create_up_down_counter(
            "runtime.approvals.pending", description="Runs waiting for a human answer"
        )
        self._runs: dict[str, trace.Span] = {}
        self._lock = threading.Lock()

    @classmethod
    def disabled(cls) -> Telemetry:
        return cls()

    @classmethod
    def for_exporters(
        cls,
        span_processor: SpanProcessor | None = None,
        metric_reader: MetricReader | None = None,
        service_name: str = SCOPE,
    ) -> Telemetry:
        resource = Resource.create({"service.name": service_name})
        tracer_provider = TracerProvider(resource=resource)
        if span_processor is not None:
            tracer_provider.add_span_processor(span_processor)
        meter_provider = MeterProvider(
            resource=resource, metric_readers=[metric_reader] if metric_reader else []
        )
        return cls(tracer_provider, meter_provider)

    @classmethod
    def otlp(cls, endpoint: str) -> Telemetry:
        """Spans and metrics exported over OTLP/gRPC to `endpoint`."""
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        # Bounded: a collector that is down costs a command seconds at exit, not half a minute.
        timeout = EXPORT_TIMEOUT_S
        exporter: SpanExporter = OTLPSpanExporter(endpoint=endpoint, insecure=True, timeout=timeout)
        reader = PeriodicExportingMetricReader(
            OTLPMetricExporter(endpoint=endpoint, insecure=True, timeout=timeout),
            export_timeout_millis=timeout * 1000,
        )
        return cls.for_exporters(BatchSpanProcessor(exporter), reader)

    # ------------------------------------------------------------------------ spans

    def start_run(self, run_id: str, **attributes: Any) -> None:
        span = self.tracer.start_span(
            "run", attributes=_attributes({"run_id": run_id, **attributes})
        )
        with self._lock:
            self._runs[run_id] = span

    def end_run(self, run_id: str, **attributes: Any) -> None:
        with self._lock:
            span = self._runs.pop(run_id, None)
        if span is not None:
            span.set_attributes(_attributes(attributes))
            span.end()

    def _parent(self, run_id: str) -> Any:
        with self._lock:
            span = self._runs.get(run_id)
        return trace.set_span_in_context(span) if span is not None else None

    @contextlib.contextmanager
    def span(self, name: str, run_id: str, **attributes: Any) -> Iterator[trace.Span]:
        """A child span of the run's span: a pipeline stage or a model turn."""
        with self.tracer.start_as_current_span(
            name,
            context=self._parent(run_id),
            attributes=_attributes({"run_id": run_id, **attributes}),
        ) as span:
            yield span

    @staticmethod
    def annotate(span: trace.Span, **attributes: Any) -> None:
        span.set_attributes(_attributes(attributes))

    def shutdown(self) -> None:
        for provider in (self._tracer_provider, self._meter_provider):
            shutdown = getattr(provider, "shutdown", None)
            if callable(shutdown):
                with contextlib.suppress(Exception):
                    shutdown()
