"""Prometheus metrics of one server, in their own registry (two apps in one process never mix)."""

from __future__ import annotations

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64)


class ServeMetrics:
    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        self.requests = Counter("antrenor_requests", "HTTP requests by endpoint and status.", ["endpoint", "status"],
                                registry=self.registry)
        self.latency = Histogram("antrenor_request_latency_seconds", "Arrival to response, by endpoint.", ["endpoint"],
                                 buckets=LATENCY_BUCKETS, registry=self.registry)
        self.prompt_tokens = Counter("antrenor_prompt_tokens", "Prompt tokens of answered requests.", registry=self.registry)
        self.generated_tokens = Counter("antrenor_generated_tokens", "Tokens generated.", registry=self.registry)
        self.batch_size = Histogram("antrenor_batch_size", "Requests run together in one model call, by kind.", ["kind"],
                                    buckets=BATCH_BUCKETS, registry=self.registry)
        self.queue_depth = Gauge("antrenor_queue_depth", "Requests waiting for or running on the model.",
                                 registry=self.registry)

    def observe_request(self, endpoint: str, status: int, seconds: float) -> None:
        self.requests.labels(endpoint=endpoint, status=str(status)).inc()
        self.latency.labels(endpoint=endpoint).observe(seconds)

    def observe_tokens(self, prompt: int, generated: int) -> None:
        self.prompt_tokens.inc(prompt)
        self.generated_tokens.inc(generated)

    def observe_batch(self, kind: str, size: int) -> None:
        self.batch_size.labels(kind=kind).observe(size)

    def render(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST
