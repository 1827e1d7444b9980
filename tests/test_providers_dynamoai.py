from __future__ import annotations

from typing import Any

import pytest

from guard_middleware.errors import ConfigError
from guard_middleware.providers import build_remote
from guard_middleware.providers.base import EvalContext, RemoteProvider
from guard_middleware.verdict import Action, Phase, ProviderError, Segment
from tests.fakes import refused_url
from tests.fakes.dynamoai import FakeDynamoAI
from tests.fakes.runtime import make_runtime

INPUT = EvalContext(request_id="req-1", phase=Phase.INPUT, route="/v1/chat/completions")
OUTPUT = EvalContext(request_id="req-1", phase=Phase.OUTPUT, route="/v1/chat/completions")


def provider(api_base: str, **options: Any) -> RemoteProvider:
    opts = {"api_key": "dyn-test", "api_base": api_base, **options}
    return build_remote("dynamoai", opts, name="dynamo", key="guardrails[2]", timeout_ms=500)


def segs(*texts: str, role: str | None = "user") -> list[Segment]:
    return [Segment(path=("messages", i, "content"), text=t, role=role) for i, t in enumerate(texts)]


async def test_clean_text_passes_through_the_trailing_slash_path() -> None:
    fake = FakeDynamoAI()
    async with fake.running() as url, make_runtime() as rt:
        outcome = await provider(url).evaluate(segs("What is the capital of France?"), INPUT, rt)
    assert outcome.findings == []
    sent = fake.requests[0]
    assert sent.path == "/v1/moderation/analyze/"
    assert sent.headers["Authorization"] == "Bearer dyn-test"
    assert sent.json == {"messages": [{"role": "user", "content": "What is the capital of France?"}]}


async def test_policy_ids_and_model_id_are_sent_only_when_set() -> None:
    fake = FakeDynamoAI()
    async with fake.running() as url, make_runtime() as rt:
        await provider(url, policy_ids="p-1, p-2", model_id="gpt-4-production").evaluate(segs("x"), INPUT, rt)
        await provider(url, policy_ids=["p-3"]).evaluate(segs("answer", role=None), OUTPUT, rt)
    assert fake.requests[0].json["policyIds"] == ["p-1", "p-2"]
    assert fake.requests[0].json["modelId"] == "gpt-4-production"
    assert fake.requests[1].json == {
        "messages": [{"role": "assistant", "content": "answer"}],
        "policyIds": ["p-3"],
    }


async def test_block_gives_one_block_finding_per_violating_policy() -> None:
    fake = FakeDynamoAI()
    async with fake.running() as url, make_runtime() as rt:
        outcome = await provider(url).evaluate(segs("This is harmful content, a rumour"), INPUT, rt)
    assert [(f.category, f.action, f.message) for f in outcome.findings] == [
        ("TOXICITY", Action.BLOCK, "Toxicity Policy")
    ]


async def test_warn_warns_and_redact_only_logs() -> None:
    fake = FakeDynamoAI()
    async with fake.running() as url, make_runtime() as rt:
        warned = await provider(url).evaluate(segs("a rumour"), INPUT, rt)
        redacted = await provider(url).evaluate(segs("my ssn"), INPUT, rt)
    assert [(f.category, f.action) for f in warned.findings] == [("HALLUCINATION", Action.WARN)]
    assert [(f.category, f.action) for f in redacted.findings] == [("PII", Action.LOG)]
    assert redacted.rewrites == {}


async def test_a_truthy_error_field_is_malformed() -> None:
    fake = FakeDynamoAI(error_field="model unavailable")
    async with fake.running() as url, make_runtime() as rt:
        with pytest.raises(ProviderError) as err:
            await provider(url).evaluate(segs("hello"), INPUT, rt)
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
async def test_service_faults_become_provider_error_kinds(fault: str, kind: str) -> None:
    fake = FakeDynamoAI()
    fake.fail(fault)
    async with fake.running() as url, make_runtime() as rt:
        with pytest.raises(ProviderError) as err:
            await provider(url).evaluate(segs("hello"), INPUT, rt)
    assert err.value.kind == kind


async def test_the_path_without_trailing_slash_is_not_found_by_the_fake() -> None:
    fake = FakeDynamoAI()
    async with fake.running() as url, make_runtime() as rt:
        response = await rt.http.post(f"{url}/v1/moderation/analyze", json={"messages": []})
        assert response.status == 404


async def test_a_slow_service_is_a_timeout_and_a_refused_connection_a_connection_error() -> None:
    fake = FakeDynamoAI()
    fake.fail("delay", delay=2.0)
    async with fake.running() as url, make_runtime() as rt:
        with pytest.raises(ProviderError) as slow:
            await provider(url).evaluate(segs("hi"), INPUT, rt)
        with pytest.raises(ProviderError) as refused:
            await provider(refused_url()).evaluate(segs("hi"), INPUT, rt)
    assert (slow.value.kind, refused.value.kind) == ("timeout", "connection")


def test_settings_fall_back_to_the_dynamoai_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DYNAMOAI_API_KEY", raising=False)
    with pytest.raises(ConfigError) as err:
        build_remote("dynamoai", {}, name="d", key="guardrails[2]", timeout_ms=1)
    assert err.value.key == "guardrails[2].api_key"
    monkeypatch.setenv("DYNAMOAI_API_KEY", "k")
    monkeypatch.setenv("DYNAMOAI_POLICY_IDS", "a,b")
    assert build_remote("dynamoai", {}, name="d", key="g", timeout_ms=1).name == "d"
