"""Provider connection pools: one per guardrail, sized by `max_connections` (default
`provider_max_connections`), with the time a call waits for a connection visible in
`guard_provider_queue_seconds` and in the 504 a queued-out call gets."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from guard_middleware import GuardSettings
from guard_middleware.errors import ConfigError
from guard_middleware.policy import compile_policy
from tests.fakes.bedrock import GUARDRAIL_ID, FakeBedrock
from tests.fakes.custom import SlowPathGuardrail


def _custom(url: str, **extra: Any) -> dict[str, Any]:
    return {"type": "custom", "url": url, "api_key": "cu-test", **extra}


@contextlib.asynccontextmanager
async def _client() -> AsyncIterator[aiohttp.ClientSession]:
    # No client-side cap: the gateway, not the test client, must be what is measured.
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        yield session


async def _post(session: aiohttp.ClientSession, url: str, text: str, **headers: str) -> tuple[int, Any]:
    body = {"model": "mock", "messages": [{"role": "user", "content": text}]}
    async with session.post(f"{url}/v1/chat/completions", json=body, headers=headers) as resp:
        return resp.status, await resp.json(content_type=None)


async def test_200_concurrent_calls_to_a_1s_provider_all_answer_within_a_1_8s_deadline(
    make_stack: Callable[..., Any],
) -> None:
    # With the old shared pool (128 per host) the second wave started at 1 s and missed the deadline.
    fake = SlowPathGuardrail(delay=1.0)
    async with fake.running() as url:
        config = {"input": {"timeout_ms": 1800, "providers": [_custom(f"{url}/slow", max_connections=256)]}}
        async with make_stack(config) as stack, _client() as session:
            results = await asyncio.gather(*(_post(session, stack.url, f"hello {i}") for i in range(200)))
    statuses = [status for status, _ in results]
    assert statuses.count(200) == 200, {s: statuses.count(s) for s in set(statuses)}
    assert len(fake.requests) == 200


async def test_a_call_that_waited_out_its_deadline_in_the_pool_says_so_and_is_counted(
    make_stack: Callable[..., Any],
) -> None:
    fake = SlowPathGuardrail(delay=1.0)
    registry = CollectorRegistry()
    async with fake.running() as url:
        config = {
            "input": {
                "timeout_ms": 400,
                "providers": [_custom(f"{url}/slow", name="moderation", max_connections=2)],
            }
        }
        async with make_stack(config, registry=registry) as stack, _client() as session:
            results = await asyncio.gather(*(_post(session, stack.url, f"hello {i}") for i in range(6)))
    assert [status for status, _ in results] == [504] * 6
    messages = [body["error"]["message"] for _, body in results]
    # Two calls had a connection (the provider was slow); four waited the whole 0.4 s for one.
    queued = [m for m in messages if "queued for a provider connection" in m]
    assert len(queued) == 4, messages
    assert all("of its 0.4s deadline" in m and "max_connections" in m for m in queued)
    assert all(body["error"]["code"] == "guardrail_timeout" for _, body in results)
    count = registry.get_sample_value("guard_provider_queue_seconds_count", {"guardrail": "moderation"})
    total = registry.get_sample_value("guard_provider_queue_seconds_sum", {"guardrail": "moderation"})
    assert count == 4
    assert total is not None and total >= 4 * 0.35


async def test_a_saturated_guardrail_does_not_delay_another_on_the_same_host(
    make_stack: Callable[..., Any],
) -> None:
    fake = SlowPathGuardrail(delay=2.0)
    async with fake.running() as url:
        config = {
            "guardrails": [
                _custom(f"{url}/slow", name="slow", max_connections=2, timeout_ms=10_000),
                _custom(f"{url}/fast", name="fast", max_connections=2, timeout_ms=10_000),
            ]
        }
        async with make_stack(config) as stack, _client() as session:
            slow = [
                asyncio.ensure_future(_post(session, stack.url, f"s{i}", **{"X-Guardrails": "slow"}))
                for i in range(6)
            ]
            while sum(r.path == "/slow" for r in fake.requests) < 2:  # the slow pool is full
                await asyncio.sleep(0.01)
            status, _ = await _post(session, stack.url, "quick", **{"X-Guardrails": "fast"})
            # Answered while every slow call is still waiting for the provider or for its pool.
            assert status == 200
            assert not any(task.done() for task in slow)
            assert [r.path for r in fake.requests].count("/fast") == 1
            assert [s for s, _ in await asyncio.gather(*slow)] == [200] * 6


async def test_bedrock_threads_and_botocore_pool_follow_max_connections(
    aws: None, make_stack: Callable[..., Any]
) -> None:
    fake = FakeBedrock()
    fake.fail("delay", delay=0.6)
    registry = CollectorRegistry()
    async with fake.running() as url:
        bedrock = {
            "type": "bedrock",
            "name": "aws",
            "guardrail_id": GUARDRAIL_ID,
            "guardrail_version": "1",
            "region": "us-east-1",
            "endpoint_url": url,
            "max_attempts": 1,
            "max_connections": 1,
        }
        config = {"input": {"timeout_ms": 1000, "providers": [bedrock]}}
        policy = compile_policy(GuardSettings.load(**config))
        client = policy.guardrails["aws"].remote._client  # type: ignore[union-attr]
        assert client.meta.config.max_pool_connections == 1
        async with make_stack(config, registry=registry) as stack, _client() as session:
            results = await asyncio.gather(*(_post(session, stack.url, f"hello {i}") for i in range(2)))
            lane = stack.guard.runtime.for_guardrail("aws")
            assert lane.threads == 1
    # One thread: the second call waited 0.6 s for the first one's thread, then ran out of time.
    assert sorted(status for status, _ in results) == [200, 504]
    blocked = next(body for status, body in results if status == 504)
    assert "queued for a provider connection" in blocked["error"]["message"]
    assert registry.get_sample_value("guard_provider_queue_seconds_count", {"guardrail": "aws"}) == 1


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def test_bedrock_pool_defaults_to_the_global_setting(aws: None) -> None:
    bedrock = {
        "type": "bedrock",
        "guardrail_id": GUARDRAIL_ID,
        "guardrail_version": "1",
        "region": "us-east-1",
    }
    policy = compile_policy(GuardSettings.load(input={"providers": [bedrock]}, provider_max_connections=64))
    g = policy.guardrails["bedrock"]
    assert g.max_connections == 64
    assert g.remote._client.meta.config.max_pool_connections == 64  # type: ignore[union-attr]
    assert policy.provider_pools == {"bedrock": 64}


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({"provider_max_connections": 0}, "provider_max_connections"),
        (
            {"input": {"providers": [_custom("http://127.0.0.1:9", max_connections=0)]}},
            "input.providers[0].max_connections",
        ),
        (
            {"input": {"providers": [_custom("http://127.0.0.1:9", max_connections=-5)]}},
            "input.providers[0].max_connections",
        ),
        (
            {"guardrails": [_custom("http://127.0.0.1:9", name="x", max_connections="many")]},
            "guardrails[0].max_connections",
        ),
        (
            {
                "guardrails": [
                    {
                        "guardrail_name": "x",
                        "litellm_params": {
                            "guardrail": "custom",
                            "api_base": "http://127.0.0.1:9",
                            "max_connections": 0,
                        },
                    }
                ]
            },
            "guardrails[0].litellm_params.max_connections",
        ),
    ],
)
def test_a_pool_size_below_one_is_a_config_error_naming_the_key(config: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        compile_policy(GuardSettings.load(**config))
    assert caught.value.key == key


async def test_a_call_waiting_for_a_thread_when_its_pool_closes_fails_instead_of_running_unbounded() -> None:
    import threading
    import time

    from guard_middleware.runtime import Runtime

    runtime = Runtime({"g": 1})
    await runtime.start()
    lane = runtime.for_guardrail("g")
    threads: list[str] = []

    def work(seconds: float) -> None:
        threads.append(threading.current_thread().name)
        time.sleep(seconds)

    first = asyncio.ensure_future(lane.run_blocking(work, 0.3))
    await asyncio.sleep(0.05)
    second = asyncio.ensure_future(lane.run_blocking(work, 0.0))  # waits for the one thread
    await asyncio.sleep(0.05)
    await runtime.close()
    results = await asyncio.gather(first, second, return_exceptions=True)
    assert results[0] is None and isinstance(results[1], RuntimeError)
    assert threads == ["guard-blocking_0"]  # never on asyncio's default executor
