from __future__ import annotations

import logging

import pytest

from guard_middleware.errors import ConfigError
from guard_middleware.providers import build_remote
from guard_middleware.providers.base import EvalContext, RemoteProvider
from guard_middleware.verdict import Phase, ProviderError, Segment
from tests.fakes import refused_url
from tests.fakes.openai_moderation import FakeOpenAIModeration
from tests.fakes.runtime import make_runtime

CTX = EvalContext(request_id="req-1", phase=Phase.INPUT, route="/v1/chat/completions")


def provider(base_url: str, **options: object) -> RemoteProvider:
    opts = {"api_key": "sk-test", "base_url": f"{base_url}/v1", **options}
    return build_remote("openai_moderation", opts, name="mod", key="input.provider", timeout_ms=500)


def segs(*texts: str) -> list[Segment]:
    return [Segment(path=("messages", i, "content"), text=t, role="user") for i, t in enumerate(texts)]


async def test_clean_text_yields_no_findings_and_sends_one_input_per_segment() -> None:
    fake = FakeOpenAIModeration()
    async with fake.running() as url, make_runtime() as rt:
        outcome = await provider(url).evaluate(segs("hello", "how are you"), CTX, rt)
    assert outcome.findings == [] and outcome.rewrites == {}
    sent = fake.requests[0]
    assert sent.path == "/v1/moderations"
    assert sent.headers["Authorization"] == "Bearer sk-test"
    assert sent.json == {"model": "omni-moderation-latest", "input": ["hello", "how are you"]}


async def test_flagged_subcategories_fold_into_our_categories_on_the_right_segment() -> None:
    fake = FakeOpenAIModeration()
    async with fake.running() as url, make_runtime() as rt:
        outcome = await provider(url).evaluate(segs("fine", "I will kill you, hateful idiot"), CTX, rt)
    by_cat = {f.category: f for f in outcome.findings}
    assert set(by_cat) == {"VIOLENCE", "HATE", "HARASSMENT"}
    assert all(f.segment == 1 and f.action is None and f.guardrail == "mod" for f in outcome.findings)
    assert by_cat["HATE"].message == "openai: hate, hate/threatening"
    assert by_cat["HATE"].severity == "critical"


async def test_self_harm_and_illicit_map_to_self_harm_and_illicit() -> None:
    fake = FakeOpenAIModeration()
    async with fake.running() as url, make_runtime() as rt:
        outcome = await provider(url).evaluate(segs("I want to hurt myself", "lockpick guide"), CTX, rt)
    assert {(f.category, f.segment) for f in outcome.findings} == {("SELF_HARM", 0), ("ILLICIT", 1)}


async def test_legacy_model_with_null_illicit_categories_is_understood() -> None:
    fake = FakeOpenAIModeration()
    async with fake.running() as url, make_runtime() as rt:
        outcome = await provider(url, model="text-moderation-latest").evaluate(segs("kill"), CTX, rt)
    assert [f.category for f in outcome.findings] == ["VIOLENCE"]
    assert fake.requests[0].json["model"] == "text-moderation-latest"


@pytest.mark.parametrize("delta", [-1, 1])
async def test_a_result_count_different_from_the_input_count_is_malformed(delta: int) -> None:
    fake = FakeOpenAIModeration(result_count_delta=delta)
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
async def test_service_faults_become_provider_error_kinds(fault: str, kind: str) -> None:
    fake = FakeOpenAIModeration()
    fake.fail(fault)
    async with fake.running() as url, make_runtime() as rt:
        with pytest.raises(ProviderError) as err:
            await provider(url).evaluate(segs("hello"), CTX, rt)
    assert err.value.kind == kind


async def test_a_wrong_api_key_is_an_auth_error_logged_with_provider_name_but_not_the_text(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake = FakeOpenAIModeration(api_key="sk-other")
    caplog.set_level(logging.WARNING, logger="guard_middleware.providers")
    async with fake.running() as url, make_runtime() as rt:
        with pytest.raises(ProviderError) as err:
            await provider(url).evaluate(segs("my secret text"), CTX, rt)
    assert err.value.kind == "auth" and err.value.status == 401
    assert "invalid_api_key" in err.value.detail
    assert "mod (openai_moderation)" in caplog.text and "kind=auth" in caplog.text
    assert "my secret text" not in caplog.text


async def test_a_slow_service_is_a_timeout() -> None:
    fake = FakeOpenAIModeration()
    fake.fail("delay", delay=2.0)
    async with fake.running() as url, make_runtime() as rt:
        with pytest.raises(ProviderError) as err:
            await provider(url).evaluate(segs("hello"), CTX, rt)
    assert err.value.kind == "timeout"


async def test_a_refused_connection_is_a_connection_error() -> None:
    async with make_runtime() as rt:
        with pytest.raises(ProviderError) as err:
            await provider(refused_url()).evaluate(segs("hello"), CTX, rt)
    assert err.value.kind == "connection"


def test_the_api_key_falls_back_to_openai_api_key_and_is_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ConfigError) as err:
        build_remote("openai_moderation", {}, name="m", key="input.provider", timeout_ms=100)
    assert err.value.key == "input.provider.api_key"
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    assert build_remote("openai_moderation", {}, name="m", key="k", timeout_ms=100).name == "m"
