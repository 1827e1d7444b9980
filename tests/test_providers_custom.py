from __future__ import annotations

import time
from typing import Any

import pytest

from guard_middleware.errors import ConfigError
from guard_middleware.providers import build_remote
from guard_middleware.providers.base import EvalContext, RemoteProvider
from guard_middleware.verdict import Action, Phase, ProviderError, Segment
from tests.fakes import refused_url
from tests.fakes.custom import FakeCustomGuardrail
from tests.fakes.runtime import make_runtime

CTX = EvalContext(request_id="req-9", phase=Phase.INPUT, route="/v1/chat/completions", metadata={"team": "a"})


def provider(url: str, *, timeout_ms: int = 500, **options: Any) -> RemoteProvider:
    opts = {"url": f"{url}/guard", "api_key": "cu-test", **options}
    return build_remote("custom", opts, name="webhook", key="input.provider", timeout_ms=timeout_ms)


def segs(*texts: str) -> list[Segment]:
    return [Segment(path=("messages", i, "content"), text=t, role="user") for i, t in enumerate(texts)]


async def test_the_request_follows_the_documented_contract() -> None:
    fake = FakeCustomGuardrail()
    async with fake.running() as url, make_runtime() as rt:
        outcome = await provider(url, headers={"X-Custom-Header": "v"}).evaluate(segs("hello"), CTX, rt)
    assert outcome.findings == [] and outcome.rewrites == {}
    sent = fake.requests[0]
    assert sent.headers["Authorization"] == "Bearer cu-test" and sent.headers["X-Custom-Header"] == "v"
    assert sent.json == {
        "phase": "input",
        "request_id": "req-9",
        "route": "/v1/chat/completions",
        "segments": [{"text": "hello", "role": "user", "path": ["messages", 0, "content"]}],
        "metadata": {"team": "a"},
    }


async def test_block_warn_and_redact_answers_become_findings_and_rewrites() -> None:
    fake = FakeCustomGuardrail()
    async with fake.running() as url, make_runtime() as rt:
        blocked = await provider(url).evaluate(segs("ok", "blockme"), CTX, rt)
        warned = await provider(url).evaluate(segs("warnme"), CTX, rt)
        redacted = await provider(url).evaluate(segs("keep", "mail a@b.co"), CTX, rt)
    assert [(f.category, f.action, f.segment) for f in blocked.findings] == [("POLICY_X", Action.BLOCK, 1)]
    assert blocked.blocked_message == "Blocked by policy X."
    assert [(f.category, f.severity, f.action) for f in warned.findings] == [("TONE", "low", Action.WARN)]
    assert redacted.rewrites == {1: "mail [EMAIL]"}
    assert [(f.category, f.action) for f in redacted.findings] == [("PII", Action.REDACT)]


@pytest.mark.parametrize(
    "answer",
    [
        {"action": "maybe"},
        {"verdict": True},
        ["allow"],
        {"action": "redact"},
        {"action": "redact", "texts": ["only one"]},
        {"action": "allow", "texts": ["a", "b"]},
        {"action": "block", "findings": [{"severity": "high"}]},
        {"action": "block", "findings": [{"category": "X", "segment": 5}]},
        {"action": "block", "findings": [{"category": "X", "severity": "extreme"}]},
        {"action": "block", "message": 3},
    ],
)
async def test_anything_outside_the_contract_is_malformed(answer: Any) -> None:
    fake = FakeCustomGuardrail(answer=answer)
    async with fake.running() as url, make_runtime() as rt:
        with pytest.raises(ProviderError) as err:
            await provider(url).evaluate(segs("a", "b"), CTX, rt)
    assert err.value.kind == "malformed"


@pytest.mark.parametrize(
    ("fault", "kind"),
    [
        ("500", "http"),
        ("503", "http"),
        ("429", "rate_limited"),
        ("401", "auth"),
        ("403", "auth"),
        ("malformed", "malformed"),
        ("html", "http"),
        ("html200", "malformed"),
    ],
)
async def test_without_retries_faults_become_provider_error_kinds_after_one_attempt(
    fault: str, kind: str
) -> None:
    fake = FakeCustomGuardrail()
    fake.fail(fault)
    async with fake.running() as url, make_runtime() as rt:
        with pytest.raises(ProviderError) as err:
            await provider(url).evaluate(segs("hello"), CTX, rt)
    assert err.value.kind == kind
    assert len(fake.requests) == 1


@pytest.mark.parametrize("fault", ["500", "503", "429", "html"])
async def test_retries_recover_from_transient_server_errors(fault: str) -> None:
    fake = FakeCustomGuardrail()
    fake.fail(fault, times=2)
    async with fake.running() as url, make_runtime() as rt:
        outcome = await provider(url, retry_enabled=True, max_retries=2).evaluate(segs("blockme"), CTX, rt)
    assert [f.action for f in outcome.findings] == [Action.BLOCK]
    assert len(fake.requests) == 3


async def test_retries_stop_after_max_retries() -> None:
    fake = FakeCustomGuardrail()
    fake.fail("503")
    async with fake.running() as url, make_runtime() as rt:
        with pytest.raises(ProviderError) as err:
            await provider(url, retry_enabled=True, max_retries=2).evaluate(segs("x"), CTX, rt)
    assert (err.value.kind, len(fake.requests)) == ("http", 3)


async def test_a_timed_out_attempt_is_retried_within_the_per_attempt_timeout() -> None:
    fake = FakeCustomGuardrail()
    fake.fail("delay", delay=1.0, times=1)
    async with fake.running() as url, make_runtime() as rt:
        p = provider(url, timeout_ms=2000, attempt_timeout_ms=200, retry_enabled=True, max_retries=1)
        outcome = await p.evaluate(segs("warnme"), CTX, rt)
    assert [f.action for f in outcome.findings] == [Action.WARN]
    assert len(fake.requests) == 2


async def test_a_small_retry_after_is_honoured_and_a_large_one_ends_the_retries() -> None:
    fake = FakeCustomGuardrail()
    fake.fail("429", times=1, retry_after="0.3")
    async with fake.running() as url, make_runtime() as rt:
        started = time.monotonic()
        await provider(url, retry_enabled=True).evaluate(segs("x"), CTX, rt)
        assert time.monotonic() - started >= 0.3
        fake.fail("429", retry_after="120")
        with pytest.raises(ProviderError) as err:
            await provider(url, retry_enabled=True).evaluate(segs("x"), CTX, rt)
    assert err.value.kind == "rate_limited"
    assert len(fake.requests) == 3


async def test_client_errors_are_not_retried() -> None:
    fake = FakeCustomGuardrail(api_key="other")
    async with fake.running() as url, make_runtime() as rt:
        with pytest.raises(ProviderError) as err:
            await provider(url, retry_enabled=True).evaluate(segs("x"), CTX, rt)
    assert (err.value.kind, len(fake.requests)) == ("auth", 1)


async def test_a_slow_service_is_a_timeout_and_a_refused_connection_a_connection_error() -> None:
    fake = FakeCustomGuardrail()
    fake.fail("delay", delay=2.0)
    async with fake.running() as url, make_runtime() as rt:
        with pytest.raises(ProviderError) as slow:
            await provider(url).evaluate(segs("hi"), CTX, rt)
        with pytest.raises(ProviderError) as refused:
            await provider(refused_url(), retry_enabled=True, max_retries=1).evaluate(segs("hi"), CTX, rt)
    assert (slow.value.kind, refused.value.kind) == ("timeout", "connection")


def test_the_url_is_required_and_unknown_options_are_rejected() -> None:
    with pytest.raises(ConfigError) as missing:
        build_remote("custom", {}, name="c", key="input.provider", timeout_ms=1)
    assert missing.value.key == "input.provider.url"
    with pytest.raises(ConfigError) as unknown:
        build_remote(
            "custom", {"url": "http://x", "retries": 3}, name="c", key="input.provider", timeout_ms=1
        )
    assert (unknown.value.key, unknown.value.message) == ("input.provider.retries", "unknown option")


def test_an_unknown_provider_type_lists_the_valid_ones() -> None:
    with pytest.raises(ConfigError) as err:
        build_remote("aporia", {}, name="c", key="guardrails[3]", timeout_ms=1)
    assert err.value.key == "guardrails[3].type"
    assert "azure_content_safety" in err.value.message and "lakera_v2" in err.value.message


async def test_an_error_code_that_echoes_the_text_is_not_logged_or_reported(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake = FakeCustomGuardrail(echo_in_error=True)
    caplog.set_level("WARNING")
    async with fake.running() as url, make_runtime() as rt:
        with pytest.raises(ProviderError) as err:
            await provider(url).evaluate(segs("my SSN is 123-45-6789"), CTX, rt)
    assert err.value.kind == "http" and err.value.detail == "HTTP 400 (error code not an identifier)"
    assert "123-45-6789" not in caplog.text


async def test_an_identifier_error_code_is_reported() -> None:
    fake = FakeCustomGuardrail(api_key="other")
    async with fake.running() as url, make_runtime() as rt:
        with pytest.raises(ProviderError) as err:
            await provider(url).evaluate(segs("x"), CTX, rt)
    assert err.value.detail == "HTTP 401 code=unauthorized"
