from __future__ import annotations

import logging
from typing import Any

import pytest

from guard_middleware.errors import ConfigError
from guard_middleware.providers import build_remote
from guard_middleware.providers.base import EvalContext, RemoteProvider
from guard_middleware.verdict import Action, Phase, ProviderError, Segment
from tests.fakes import refused_url
from tests.fakes.bedrock import GUARDRAIL_ARN, GUARDRAIL_ID, FakeBedrock
from tests.fakes.runtime import make_runtime

INPUT = EvalContext(request_id="req-1", phase=Phase.INPUT, route="/v1/chat/completions")
OUTPUT = EvalContext(request_id="req-1", phase=Phase.OUTPUT, route="/v1/chat/completions")


def provider(endpoint: str | None, *, timeout_ms: int = 2000, **options: Any) -> RemoteProvider:
    opts: dict[str, Any] = {
        "guardrail_id": GUARDRAIL_ID,
        "guardrail_version": "DRAFT",
        "region": "us-east-1",
        "access_key_id": "testing",
        "secret_access_key": "testing",
        "max_attempts": 1,
        **options,
    }
    if endpoint is not None:
        opts["endpoint_url"] = endpoint
    return build_remote("bedrock", opts, name="bedrock-guard", key="guardrails[0]", timeout_ms=timeout_ms)


def segs(*texts: str) -> list[Segment]:
    return [Segment(path=("messages", i, "content"), text=t, role="user") for i, t in enumerate(texts)]


async def test_clean_text_passes_and_each_segment_is_one_content_block() -> None:
    fake = FakeBedrock()
    async with fake.running() as url, make_runtime() as rt:
        outcome = await provider(url).evaluate(segs("hello", "what is the weather"), INPUT, rt)
    assert outcome.findings == [] and outcome.rewrites == {} and outcome.blocked_message is None
    sent = fake.requests[0]
    assert sent.path == f"/guardrail/{GUARDRAIL_ID}/version/DRAFT/apply"
    assert sent.headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=testing/")
    assert "/bedrock/aws4_request" in sent.headers["Authorization"]
    assert sent.json == {
        "source": "INPUT",
        "content": [{"text": {"text": "hello"}}, {"text": {"text": "what is the weather"}}],
    }


async def test_a_blocked_filter_and_topic_block_with_bedrocks_blocked_messaging() -> None:
    fake = FakeBedrock(blocked_output_messaging="Blocked answer.")
    async with fake.running() as url, make_runtime() as rt:
        outcome = await provider(url).evaluate(segs("how to kill and buy stocks"), OUTPUT, rt)
    assert fake.requests[0].json["source"] == "OUTPUT"
    assert {(f.category, f.action, f.segment) for f in outcome.findings} == {
        ("VIOLENCE", Action.BLOCK, 0),
        ("DENIED_TOPIC", Action.BLOCK, 0),
    }
    assert outcome.blocked_message == "Blocked answer."
    assert outcome.rewrites == {}


async def test_an_arn_identifier_is_percent_encoded_by_boto3_and_decoded_by_the_fake() -> None:
    fake = FakeBedrock()
    async with fake.running() as url, make_runtime() as rt:
        outcome = await provider(url, guardrail_id=GUARDRAIL_ARN, guardrail_version=1).evaluate(
            segs("hi"), INPUT, rt
        )
    assert outcome.findings == []
    assert "arn%3Aaws%3Abedrock" in fake.requests[0].raw_path


async def test_masking_writes_each_output_back_to_its_own_segment() -> None:
    fake = FakeBedrock()
    async with fake.running() as url, make_runtime() as rt:
        outcome = await provider(url, mask_request_content=True).evaluate(
            segs("no pii here", "mail jane@example.com", "claim CLM-2608-00042-4"), INPUT, rt
        )
    assert outcome.rewrites == {1: "mail {EMAIL}", 2: "claim {claim_number}"}
    assert {(f.category, f.action) for f in outcome.findings} == {
        ("EMAIL", Action.REDACT),
        ("CUSTOM_REGEX", Action.REDACT),
    }
    assert outcome.blocked_message is None


async def test_masking_follows_the_phase_switch() -> None:
    fake = FakeBedrock()
    async with fake.running() as url, make_runtime() as rt:
        p = provider(url, mask_request_content=True, mask_response_content=False)
        outcome = await p.evaluate(segs("mail jane@example.com"), OUTPUT, rt)
    assert outcome.rewrites == {}
    assert [(f.category, f.action) for f in outcome.findings] == [("EMAIL", Action.LOG)]


@pytest.mark.parametrize("delta", [-1, 1])
async def test_masked_outputs_that_do_not_line_up_with_the_segments_are_malformed(delta: int) -> None:
    fake = FakeBedrock(output_count_delta=delta)
    async with fake.running() as url, make_runtime() as rt:
        with pytest.raises(ProviderError) as err:
            await provider(url, mask_request_content=True).evaluate(segs("a@b.co", "x"), INPUT, rt)
    assert err.value.kind == "malformed"


async def test_blocked_pii_blocks() -> None:
    fake = FakeBedrock(pii_action="BLOCKED")
    async with fake.running() as url, make_runtime() as rt:
        outcome = await provider(url, mask_request_content=True).evaluate(
            segs("mail jane@example.com"), INPUT, rt
        )
    assert [(f.category, f.action) for f in outcome.findings] == [("EMAIL", Action.BLOCK)]
    assert outcome.rewrites == {}


async def test_an_intervention_without_an_understandable_assessment_fails_closed() -> None:
    fake = FakeBedrock(
        response_override={"usage": {}, "action": "GUARDRAIL_INTERVENED", "outputs": [], "assessments": [{}]}
    )
    async with fake.running() as url, make_runtime() as rt:
        with pytest.raises(ProviderError) as err:
            await provider(url).evaluate(segs("hi"), INPUT, rt)
    assert err.value.kind == "malformed"


async def test_explicit_nulls_and_detect_only_entries_are_understood() -> None:
    fake = FakeBedrock(
        response_override={
            "usage": {},
            "action": "NONE",
            "outputs": None,
            "assessments": [
                {
                    "sensitiveInformationPolicy": {
                        "piiEntities": [
                            {"match": "jane@example.com", "type": "EMAIL", "action": "NONE", "detected": True}
                        ],
                        "regexes": None,
                    },
                    "topicPolicy": None,
                }
            ],
        }
    )
    async with fake.running() as url, make_runtime() as rt:
        outcome = await provider(url).evaluate(segs("mail jane@example.com"), INPUT, rt)
    assert [(f.category, f.action) for f in outcome.findings] == [("EMAIL", Action.LOG)]
    assert all("jane" not in (f.message or "") for f in outcome.findings)


async def test_the_endpoint_can_come_from_aws_endpoint_url_bedrock_runtime(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = FakeBedrock()
    async with fake.running() as url, make_runtime() as rt:
        monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", url)
        outcome = await provider(None).evaluate(segs("kill"), INPUT, rt)
    assert [f.category for f in outcome.findings] == ["VIOLENCE"]
    assert len(fake.requests) == 1


@pytest.mark.parametrize(
    ("fault", "kind", "status"),
    [
        ("500", "http", 500),
        ("503", "http", 503),
        ("429", "rate_limited", 429),
        ("401", "auth", 401),
        ("403", "auth", 403),
        ("html", "http", 502),
        ("malformed", "malformed", None),
        ("html200", "malformed", None),
    ],
)
async def test_service_faults_become_provider_error_kinds(fault: str, kind: str, status: int | None) -> None:
    fake = FakeBedrock()
    fake.fail(fault)
    async with fake.running() as url, make_runtime() as rt:
        with pytest.raises(ProviderError) as err:
            await provider(url).evaluate(segs("hello"), INPUT, rt)
    assert err.value.kind == kind
    if status is not None:
        assert err.value.status == status
    assert len(fake.requests) == 1  # total_max_attempts=1: botocore did not retry


async def test_an_unknown_guardrail_is_an_http_error_naming_resource_not_found(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake = FakeBedrock()
    caplog.set_level(logging.WARNING, logger="guard_middleware.providers")
    async with fake.running() as url, make_runtime() as rt:
        with pytest.raises(ProviderError) as err:
            await provider(url, guardrail_id="nope").evaluate(segs("secret words"), INPUT, rt)
    assert (err.value.kind, err.value.status) == ("http", 404)
    assert "ResourceNotFoundException" in err.value.detail
    assert "bedrock-guard (bedrock)" in caplog.text and "secret words" not in caplog.text


async def test_a_read_beyond_the_timeout_is_a_timeout() -> None:
    fake = FakeBedrock()
    fake.fail("delay", delay=2.5)
    async with fake.running() as url, make_runtime() as rt:
        with pytest.raises(ProviderError) as err:
            await provider(url, timeout_ms=1000).evaluate(segs("hello"), INPUT, rt)
    assert err.value.kind == "timeout"


async def test_a_refused_connection_is_a_connection_error() -> None:
    async with make_runtime() as rt:
        with pytest.raises(ProviderError) as err:
            await provider(refused_url()).evaluate(segs("hello"), INPUT, rt)
    assert err.value.kind == "connection"


@pytest.mark.parametrize(
    ("options", "bad_key"),
    [
        ({"guardrail_version": "v1"}, "guardrails[0].guardrail_version"),
        ({"typo": 1}, "guardrails[0].typo"),
        ({"access_key_id": None, "secret_access_key": "x"}, "guardrails[0]"),
    ],
)
def test_bad_options_are_config_errors_naming_the_key(options: dict[str, Any], bad_key: str) -> None:
    with pytest.raises(ConfigError) as err:
        provider("http://127.0.0.1:9", **options)
    assert err.value.key == bad_key


def test_a_missing_guardrail_id_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as err:
        build_remote(
            "bedrock", {"guardrail_version": "1", "region": "us-east-1"}, name="b", key="g", timeout_ms=1
        )
    assert err.value.key == "g.guardrail_id"
