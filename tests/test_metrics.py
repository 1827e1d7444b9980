"""What an operator sees: Prometheus metrics scraped from the gateway's /metrics, and OpenTelemetry
spans of guardrail evaluations, through a real gateway, fake upstream and fake providers."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from guard_middleware import GuardMiddleware, GuardSettings
from guard_middleware.metrics import MAX_CATEGORIES_PER_GUARDRAIL, metrics_for
from tests.fakes import refused_url
from tests.fakes.openai_moderation import FakeOpenAIModeration
from tests.streams import stream_chat

PII = {"pii": {"action": "redact", "apply_to": "both", "types": ["EMAIL"]}}
BLOCK_OUT = {"type": "blocklist", "name": "words", "patterns": [{"pattern": "forbidden-word"}]}


def moderation(url: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "openai_moderation",
        "name": "moderation",
        "api_key": "sk-test",
        "base_url": f"{url}/v1",
        **extra,
    }


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    out: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


async def scrape(session: aiohttp.ClientSession, url: str) -> dict[tuple[str, frozenset[Any]], float]:
    async with session.get(f"{url}/metrics") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        return samples(await resp.text())


async def test_gateway_metrics_endpoint_counts_requests_verdicts_and_findings(make_stack: Any) -> None:
    # The example gateway serves prometheus_client's global registry, where GuardMiddleware registers
    # by default; other tests add to the same counters, so this one compares two scrapes.
    fake = FakeOpenAIModeration()
    async with fake.running() as mod:
        config = {**PII, "input": {"providers": [moderation(mod)]}}
        async with make_stack(config) as s:
            before = await scrape(s.session, s.url)
            assert (await s.chat("mail me at jane@example.com"))[0] == 200
            assert (await s.chat("I will kill the process"))[0] == 400
            after = await scrape(s.session, s.url)

    def delta(name: str, **labels: str) -> float:
        key = (name, frozenset(labels.items()))
        return after.get(key, 0.0) - before.get(key, 0.0)

    route = {"route": "/v1/chat/completions", "format": "chat"}
    assert delta("guard_requests_total", phase="input", **route) == 2
    assert delta("guard_requests_total", phase="output", **route) == 1  # the blocked one never got an answer
    assert (
        delta("guard_evaluations_total", guardrail="pii", phase="input", result="redacted", error_kind="")
        == 1
    )
    assert (
        delta("guard_evaluations_total", guardrail="pii", phase="input", result="allowed", error_kind="") == 1
    )
    assert (
        delta(
            "guard_evaluations_total", guardrail="moderation", phase="input", result="blocked", error_kind=""
        )
        == 1
    )
    assert (
        delta(
            "guard_evaluations_total", guardrail="moderation", phase="input", result="allowed", error_kind=""
        )
        == 1
    )
    assert delta("guard_findings_total", guardrail="pii", phase="input", category="EMAIL") == 1
    assert delta("guard_findings_total", guardrail="moderation", phase="input", category="VIOLENCE") == 1
    assert delta("guard_evaluation_duration_seconds_count", guardrail="moderation", phase="input") == 2
    # a provider over HTTP takes more than the smallest bucket, and an answer within the deadline
    assert (
        delta("guard_evaluation_duration_seconds_bucket", guardrail="moderation", phase="input", le="0.0001")
        == 0
    )
    assert (
        delta("guard_evaluation_duration_seconds_bucket", guardrail="moderation", phase="input", le="30.0")
        == 2
    )
    assert delta("guard_scanned_bytes_total", phase="input") > 60
    assert delta("guard_scanned_bytes_total", phase="output") > 20
    # no label carries text or ids
    assert not any("jane" in str(labels) or "kill" in str(labels) for _, labels in after)


async def test_provider_failures_are_counted_by_kind(make_stack: Any) -> None:
    registry = CollectorRegistry()
    fake = FakeOpenAIModeration()
    async with fake.running() as mod:
        config = {
            "input": {
                "on_error": "allow",
                "on_timeout": "allow",
                "providers": [
                    moderation(refused_url(), name="down"),
                    moderation(mod, name="slow", timeout_ms=200),
                ],
            }
        }
        fake.fail("delay", delay=1.0)
        async with make_stack(config, registry=registry) as s:
            assert (await s.chat("hello"))[0] == 200
    labels = {"phase": "input", "guardrail": "down"}
    assert value(registry, "guard_evaluations_total", result="error", error_kind="connection", **labels) == 1
    labels["guardrail"] = "slow"
    assert value(registry, "guard_evaluations_total", result="timeout", error_kind="timeout", **labels) == 1
    assert value(registry, "guard_evaluation_duration_seconds_count", **labels) == 1
    assert value(registry, "guard_evaluation_duration_seconds_bucket", le="0.1", **labels) == 0


async def test_streams_ended_by_the_guard_and_stream_verdicts(make_stack: Any) -> None:
    registry = CollectorRegistry()
    config = {"output": {"streaming_mode": "per_chunk", "providers": [BLOCK_OUT]}}
    async with make_stack(config, registry=registry) as s:
        seen = await stream_chat(s.session, s.url, headers={"X-Mock-Reply": "a forbidden-word here"})
        assert seen.error is not None
        seen = await stream_chat(s.session, s.url, headers={"X-Mock-Reply": "all fine"})
        assert seen.done and seen.error is None
    assert value(registry, "guard_streams_ended_total", format="chat", reason="blocked") == 1
    out = {"guardrail": "words", "phase": "output", "error_kind": ""}
    assert value(registry, "guard_evaluations_total", result="blocked", **out) == 1
    assert value(registry, "guard_evaluations_total", result="allowed", **out) == 1
    assert value(registry, "guard_scanned_bytes_total", phase="output") > 0


async def test_unguarded_requests_are_counted(make_stack: Any) -> None:
    registry = CollectorRegistry()
    async with make_stack({"enabled": False}, registry=registry) as s:
        assert (await s.chat("hi"))[0] == 200
    for unknown_routes, status in (("pass", 404), ("block", 400)):  # the mock has no such route
        async with (
            make_stack({**PII, "unknown_routes": unknown_routes}, registry=registry) as s,
            s.session.post(f"{s.url}/v1/somethingnew", json={"x": "jane@example.com"}) as resp,
        ):
            assert resp.status == status
    assert value(registry, "guard_unguarded_requests_total", reason="disabled") == 1
    assert value(registry, "guard_unguarded_requests_total", reason="unknown_route") == 1
    assert value(registry, "guard_unguarded_requests_total", reason="unknown_route_refused") == 1
    assert (
        value(registry, "guard_requests_total", route="/v1/chat/completions", format="chat", phase="input")
        == 0
    )


async def test_fast_path_verdicts_are_counted_per_guardrail(make_stack: Any) -> None:
    registry = CollectorRegistry()
    config = {**PII, "input": {"providers": [{**BLOCK_OUT, "name": "words_in"}]}}
    async with make_stack(config, registry=registry) as s:
        for i in range(3):
            assert (await s.chat(f"clean text number {i}"))[0] == 200
    for g in ("pii", "words_in"):
        labels = {"guardrail": g, "phase": "input"}
        assert value(registry, "guard_evaluations_total", result="allowed", error_kind="", **labels) == 3
        assert value(registry, "guard_evaluation_duration_seconds_count", **labels) == 3


def test_middlewares_on_one_registry_share_it_and_disabled_metrics_register_nothing() -> None:
    registry = CollectorRegistry()
    a = GuardMiddleware(GuardSettings.load(**PII), registry=registry)
    b = GuardMiddleware(GuardSettings.load(**PII), registry=registry)
    assert a.metrics is b.metrics is metrics_for(registry)
    other = CollectorRegistry()
    GuardMiddleware(GuardSettings.load(**PII, metrics={"enabled": False}), registry=other)
    assert list(other.collect()) == []


def test_invented_categories_cannot_grow_labels_without_bound() -> None:
    registry = CollectorRegistry()
    metrics = metrics_for(registry)
    for i in range(500):
        metrics.finding("webhook", "input", f"category-{i}")
    categories = {
        s.labels["category"]
        for family in registry.collect()
        for s in family.samples
        if s.name == "guard_findings_total"
    }
    assert len(categories) == MAX_CATEGORIES_PER_GUARDRAIL + 1
    assert "other" in categories
    assert value(registry, "guard_findings_total", guardrail="webhook", phase="input", category="other") == (
        500 - MAX_CATEGORIES_PER_GUARDRAIL
    )


@pytest.mark.parametrize("enabled", [True, False])
async def test_spans_around_each_guardrail_evaluation(make_stack: Any, enabled: bool) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("gateway")
    fake = FakeOpenAIModeration()
    async with fake.running() as mod:
        config = {**PII, "input": {"providers": [moderation(mod)]}, "tracing": {"enabled": enabled}}
        async with make_stack(config, tracer_provider=provider, registry=CollectorRegistry()) as s:
            with tracer.start_as_current_span("client"):
                assert (await s.chat("mail me at jane@example.com, I will kill it"))[0] == 400
    spans = {span.name: span for span in exporter.get_finished_spans() if span.name.startswith("guardrail")}
    if not enabled:
        assert spans == {}
        return
    assert set(spans) == {"guardrail pii", "guardrail moderation"}
    pii, mod_span = spans["guardrail pii"], spans["guardrail moderation"]
    assert pii.attributes is not None and mod_span.attributes is not None
    assert pii.attributes["guardrail.result"] == "redacted"
    assert pii.attributes["guardrail.phase"] == "input"
    assert mod_span.attributes["guardrail.result"] == "blocked"
    assert mod_span.attributes["guardrail.kind"] == "OpenAIModeration"
    assert mod_span.end_time is not None and mod_span.start_time is not None
    assert mod_span.end_time > mod_span.start_time
