"""The verdict cache of remote providers, through real gateways: in process, and in a real
``redis-server`` shared by two gateway processes; a Redis outage; what the keys and values hold."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio
from prometheus_client import CollectorRegistry

from examples.mock_llm import make_app
from guard_middleware import GuardMiddleware, GuardSettings
from guard_middleware.errors import ConfigError
from tests.bench_common import Server
from tests.conftest import serve
from tests.fakes.azure import FakeAzureContentSafety
from tests.fakes.custom import FakeCustomGuardrail
from tests.fakes.openai_moderation import FakeOpenAIModeration
from tests.redis_server import RedisServer, redis_server  # noqa: F401  (the session fixture)

VIOLENT = "I will kill the process"
CLEAN = "please summarise the meeting notes"


def moderation(url: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "openai_moderation",
        "name": "moderation",
        "api_key": "sk-test",
        "base_url": f"{url}/v1",
        **extra,
    }


def guarded(url: str, cache: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {"input": {"providers": [moderation(url, **extra)]}, "cache": cache or {}}


def hook(url: str) -> dict[str, Any]:
    """The custom webhook (sent more than the texts: cached whole payload, and only when asked)."""
    return {"type": "custom", "name": "hook", "url": f"{url}/guard", "api_key": "cu-test", "cache_ttl_s": 60}


def prefix() -> str:
    return f"test:{uuid.uuid4().hex[:8]}:"


async def test_a_repeated_request_is_checked_once_and_answered_the_same(make_stack: Any, caplog: Any) -> None:
    fake = FakeOpenAIModeration()
    async with (
        fake.running() as url,
        make_stack({**guarded(url), "audit": {"log_all_evaluations": True}}) as s,
    ):
        logging.getLogger().addHandler(caplog.handler)
        try:
            with caplog.at_level(logging.INFO, logger="guard_middleware.audit"):
                first = await s.chat(VIOLENT)
                calls = len(fake.requests)
                second = await s.chat(VIOLENT)
                allowed = [await s.chat(CLEAN), await s.chat(CLEAN)]
        finally:
            logging.getLogger().removeHandler(caplog.handler)
    # a blocked verdict served from the cache still blocks, with the same answer
    assert first[0] == second[0] == 400 and first[2] == second[2]
    assert first[2]["error"]["categories"] == ["VIOLENCE"]
    assert calls == 1 and len(fake.requests) == 2  # one call per distinct payload
    assert [(a[0], a[2]["choices"]) for a in allowed] == [(200, allowed[0][2]["choices"])] * 2
    records = [r.__dict__ for r in caplog.records if r.__dict__.get("guardrail") == "moderation"]
    assert [r.get("cached", False) for r in records] == [False, True, False, True]
    assert [r["action"] for r in records] == ["block", "block", "allow", "allow"]
    assert s.guard is not None
    assert (s.guard.cache.counters.hits, s.guard.cache.counters.misses) == (2, 2)


async def test_ttl_zero_never_caches_and_a_short_ttl_expires(make_stack: Any) -> None:
    fake = FakeOpenAIModeration()
    async with fake.running() as url:
        async with make_stack(guarded(url, cache_ttl_s=0)) as s:
            for _ in range(3):
                assert (await s.chat(VIOLENT))[0] == 400
            assert len(fake.requests) == 3
        fake.requests.clear()
        async with make_stack(guarded(url, cache_ttl_s=0.3)) as s:
            assert (await s.chat(CLEAN))[0] == 200
            assert (await s.chat(CLEAN))[0] == 200
            assert len(fake.requests) == 1
            await asyncio.sleep(0.4)
            assert (await s.chat(CLEAN))[0] == 200
            assert len(fake.requests) == 2


async def test_a_different_payload_is_a_miss_and_the_lru_keeps_max_entries(make_stack: Any) -> None:
    fake = FakeOpenAIModeration()
    async with fake.running() as url, make_stack(guarded(url, {"max_entries": 2})) as s:
        for text in ("one", "two", "three", "three", "two"):
            assert (await s.chat(text))[0] == 200
        assert len(fake.requests) == 3  # "three" and "two" were still cached
        assert (await s.chat("one"))[0] == 200  # evicted: the least recently used
        assert len(fake.requests) == 4
        assert s.guard is not None and len(s.guard.cache) == 2  # type: ignore[arg-type]


async def test_a_provider_sent_more_than_texts_caches_whole_payloads(make_stack: Any) -> None:
    # The custom webhook is sent the route and metadata (the request's model) too: each is part of the
    # payload, so a change in any of them is a miss; and a grown conversation is a new payload.
    fake = FakeCustomGuardrail()
    async with fake.running() as url:
        custom = hook(url)
        async with make_stack({"input": {"providers": [custom]}}) as s:
            assert (await s.chat(CLEAN))[0] == 200
            assert (await s.chat(CLEAN))[0] == 200
            assert len(fake.requests) == 1
            assert (await s.chat(CLEAN, model="other-model"))[0] == 200
            assert len(fake.requests) == 2
            history = [{"role": "user", "content": CLEAN}, {"role": "assistant", "content": "done"}]
            assert (await s.chat(None, messages=[*history, {"role": "user", "content": "next"}]))[0] == 200
            assert len(fake.requests) == 3
            assert (await s.chat(None, messages=[*history, {"role": "user", "content": "next"}]))[0] == 200
            assert len(fake.requests) == 3


def azure(url: str) -> dict[str, Any]:
    return {"type": "azure_content_safety", "name": "azure", "endpoint": url, "api_key": "az-test"}


async def test_per_text_providers_are_sent_only_the_texts_the_cache_does_not_know(make_stack: Any) -> None:
    # Azure text analysis is one call per text: an agent's re-sent history costs nothing, and the
    # model's answer, checked on the way out, is not checked again when it comes back as input.
    fake = FakeAzureContentSafety()
    async with fake.running() as url:
        config = {
            "input": {"providers": [azure(url)]},
            "output": {"providers": [azure(url) | {"name": "azure_out"}]},
        }
        async with make_stack(config) as s:
            status, _, body = await s.chat(CLEAN)
            assert status == 200
            answer = body["choices"][0]["message"]["content"]
            assert [r.json["text"] for r in fake.requests] == [CLEAN, answer]
            turn2 = [
                {"role": "user", "content": CLEAN},
                {"role": "assistant", "content": answer},
                {"role": "user", "content": VIOLENT},
            ]
            status, _, body = await s.chat(None, messages=turn2)
            assert status == 400 and body["error"]["categories"] == ["VIOLENCE"]
            assert [r.json["text"] for r in fake.requests[2:]] == [VIOLENT]
            # the blocked text is in the history of the next turn: still blocked, from the cache
            status, _, body = await s.chat(None, messages=[*turn2, {"role": "user", "content": "sorry"}])
            assert status == 400 and body["error"]["categories"] == ["VIOLENCE"]
            assert [r.json["text"] for r in fake.requests[3:]] == ["sorry"]


async def test_openai_moderation_is_sent_only_new_inputs(make_stack: Any) -> None:
    fake = FakeOpenAIModeration()
    async with fake.running() as url, make_stack(guarded(url)) as s:
        first = [{"role": "user", "content": "hello there"}]
        assert (await s.chat(None, messages=first))[0] == 200
        second = [*first, {"role": "assistant", "content": "hi"}, {"role": "user", "content": VIOLENT}]
        status, _, body = await s.chat(None, messages=second)
        assert status == 400 and body["error"]["categories"] == ["VIOLENCE"]
        assert fake.requests[-1].json["input"] == ["hi", VIOLENT]
        status, _, again = await s.chat(None, messages=second)  # all known: no call, the same answer
        assert (status, again) == (400, body) and len(fake.requests) == 2


async def test_failures_and_timeouts_are_not_cached(make_stack: Any) -> None:
    fake = FakeOpenAIModeration()
    async with fake.running() as url, make_stack(guarded(url, timeout_ms=300)) as s:
        fake.fail("503", times=1)
        assert (await s.chat(CLEAN))[0] == 503
        fake.fail("delay", delay=0.6, times=1)
        assert (await s.chat(CLEAN))[0] == 504
        fake.fail("malformed", times=1)
        assert (await s.chat(CLEAN))[0] == 503
        status, _, body = await s.chat(CLEAN)  # the provider is asked again, and answers
        assert status == 200 and body["choices"][0]["message"]["content"] == f"You said: {CLEAN}"
        assert len(fake.requests) == 4
        assert (await s.chat(CLEAN))[0] == 200
        assert len(fake.requests) == 4  # its answer was cached


async def test_a_masking_verdict_is_not_stored(make_stack: Any) -> None:
    # A redact verdict carries the (masked) text itself, which the cache never holds.
    fake = FakeCustomGuardrail()
    async with fake.running() as url:
        custom = hook(url)
        async with make_stack({"input": {"providers": [custom]}}) as s:
            for _ in range(2):
                status, _, _ = await s.chat("mail jane@example.com")
                assert status == 200 and s.record.bodies[-1]["messages"][0]["content"] == "mail [EMAIL]"
            assert len(fake.requests) == 2
            for _ in range(2):
                assert (await s.chat("blockme"))[0] == 400
            assert len(fake.requests) == 3


# --- Redis ------------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def gateway_processes(config: dict[str, Any], count: int) -> AsyncIterator[list[str]]:
    """``count`` gateway processes (examples/gateway.py with the guard) in front of one mock LLM."""
    async with serve(make_app()) as upstream:
        servers: list[Server] = []
        try:
            for i in range(count):
                spec = {"kind": "gateway", "upstream": upstream, "guard": config, "max_seconds": 120}
                servers.append(await asyncio.to_thread(Server, f"cache_gw{i}", spec, cpu=None))
            yield [srv.url for srv in servers]
        finally:
            for srv in servers:
                await asyncio.to_thread(srv.stop)
                if srv.proc.stdout is not None:
                    srv.proc.stdout.close()


async def post_chat(url: str, text: str) -> tuple[int, Any]:
    import aiohttp

    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{url}/v1/chat/completions",
            json={"model": "mock", "messages": [{"role": "user", "content": text}]},
        ) as resp,
    ):
        return resp.status, await resp.json(content_type=None)


async def test_two_gateway_processes_share_verdicts_through_redis(
    redis_server: RedisServer,  # noqa: F811
) -> None:
    fake = FakeOpenAIModeration()
    key_prefix = prefix()
    async with fake.running() as url:
        config = guarded(url, {"url": redis_server.url, "key_prefix": key_prefix})
        async with gateway_processes(config, 2) as (first, second):
            assert (await post_chat(first, VIOLENT))[0] == 400
            assert (await post_chat(first, CLEAN))[0] == 200
            assert len(fake.requests) == 2
            status, body = await post_chat(second, VIOLENT)
            assert status == 400 and body["error"]["categories"] == ["VIOLENCE"]
            assert (await post_chat(second, CLEAN))[0] == 200
            assert len(fake.requests) == 2  # the second process asked Redis, not the provider

    client = redis.asyncio.Redis.from_url(redis_server.url)
    try:
        keys = [k async for k in client.scan_iter(match=f"{key_prefix}*")]
        assert len(keys) == 2
        for key in keys:
            digest = key.decode()[len(key_prefix) :]
            assert len(digest) == 40 and int(digest, 16) >= 0  # a digest, nothing else
            value = await client.get(key)
            assert value is not None
            for word in ("kill", "process", "summarise", "meeting", "sk-test"):
                assert word not in value.decode() and word not in key.decode()
            ttl = await client.ttl(key)
            assert 0 < ttl <= 300
    finally:
        await client.aclose()


async def test_another_configuration_does_not_reuse_a_verdict(
    make_stack: Any,
    redis_server: RedisServer,  # noqa: F811
) -> None:
    fake = FakeOpenAIModeration()
    cache = {"url": redis_server.url, "key_prefix": prefix()}
    async with fake.running() as url:
        async with make_stack(guarded(url, cache)) as s:
            assert (await s.chat(CLEAN))[0] == 200
        async with make_stack(guarded(url, cache)) as s:  # same configuration, new middleware
            assert (await s.chat(CLEAN))[0] == 200
        assert len(fake.requests) == 1
        async with make_stack(guarded(url, cache, model="text-moderation-latest")) as s:
            assert (await s.chat(CLEAN))[0] == 200
        assert len(fake.requests) == 2
        assert fake.requests[-1].json["model"] == "text-moderation-latest"


async def test_a_redis_outage_means_the_provider_is_asked(
    make_stack: Any, caplog: pytest.LogCaptureFixture
) -> None:
    server = RedisServer()
    registry = CollectorRegistry()
    fake = FakeOpenAIModeration()
    try:
        async with (
            fake.running() as url,
            make_stack(guarded(url, {"url": server.url, "timeout_ms": 200}), registry=registry) as s,
        ):
            assert (await s.chat(VIOLENT))[0] == 400
            assert (await s.chat(VIOLENT))[0] == 400
            assert len(fake.requests) == 1
            server.stop()
            with caplog.at_level(logging.WARNING, logger="guard_middleware"):
                status, _, body = await s.chat(VIOLENT)
                assert status == 400 and body["error"]["categories"] == ["VIOLENCE"]
                status, _, body = await s.chat(CLEAN)
                assert status == 200 and body["choices"][0]["message"]["content"] == f"You said: {CLEAN}"
            assert len(fake.requests) == 3  # every request was checked by the provider
            warnings = [r for r in caplog.records if "verdict cache" in r.getMessage()]
            assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING  # rate-limited
            errors = registry.get_sample_value(
                "guard_cache_lookups_total", {"guardrail": "moderation", "result": "error"}
            )
            assert errors == 2
            assert (
                registry.get_sample_value(
                    "guard_cache_lookups_total", {"guardrail": "moderation", "result": "hit"}
                )
                == 1
            )
            assert s.guard is not None and s.guard.cache.counters.errors == 2
    finally:
        server.stop()


async def test_the_redis_client_opens_at_start_up_and_closes_at_cleanup(
    redis_server: RedisServer,  # noqa: F811
) -> None:
    from aiohttp import web

    fake = FakeOpenAIModeration()
    async with fake.running() as url:
        guard = GuardMiddleware(GuardSettings.load(**guarded(url, {"url": redis_server.url})))
        app = web.Application()
        guard.install(app)
        async with serve(app):
            assert getattr(guard.cache, "_client", None) is not None
        assert getattr(guard.cache, "_client", None) is None


# --- configuration ----------------------------------------------------------------------------------


def test_cache_settings_defaults_env_and_errors(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    settings = GuardSettings.load()
    assert settings.cache.model_dump() == {
        "url": "",
        "max_entries": 10_000,
        "key_prefix": "guard:verdict:",
        "timeout_ms": 100,
    }
    monkeypatch.setenv("GUARD_CACHE__URL", "redis://cache:6379/0")
    monkeypatch.setenv("GUARD_CACHE__TIMEOUT_MS", "50")
    settings = GuardSettings.load()
    assert (settings.cache.url, settings.cache.timeout_ms) == ("redis://cache:6379/0", 50)
    monkeypatch.setenv("GUARD_CACHE__URL", "unix:///run/redis.sock?db=1")
    assert GuardSettings.load().cache.url == "unix:///run/redis.sock?db=1"
    monkeypatch.setenv("GUARD_CACHE__URL", "memcached://cache:11211")
    with pytest.raises(ConfigError) as err:
        GuardSettings.load()
    assert err.value.key == "cache.url" and "memcached" in str(err.value)


@pytest.mark.parametrize(
    ("config", "key"),
    [
        (
            {"input": {"providers": [moderation("http://x", cache_ttl_s=-1)]}},
            "input.providers[0].cache_ttl_s",
        ),
        ({"input": {"provider": moderation("http://x", cache_ttl_s="soon")}}, "input.provider.cache_ttl_s"),
        ({"input": {"provider": moderation("http://x", cache_ttl_s=1e300)}}, "input.provider.cache_ttl_s"),
        (
            {"input": {"providers": [{"type": "blocklist", "words": ["x"], "cache_ttl_s": 5}]}},
            "input.providers[0].cache_ttl_s",
        ),
        (
            {
                "guardrails": [
                    {
                        "guardrail_name": "mod",
                        "litellm_params": {
                            "guardrail": "openai_moderation",
                            "api_key": "k",
                            "cache_ttl_s": -5,
                        },
                    }
                ]
            },
            "guardrails[0].litellm_params.cache_ttl_s",
        ),
    ],
)
def test_a_bad_cache_ttl_names_its_key(config: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as err:
        GuardMiddleware(GuardSettings.load(**config))
    assert err.value.key == key


def test_cache_ttl_defaults_per_provider_and_every_config_form(tmp_path: Path) -> None:
    seed = tmp_path / "seed.toml"
    seed.write_text(
        """
[features.guardrails.input.provider]
type = "openai_moderation"
api_key = "k"
cache_ttl_s = 30
"""
    )
    litellm = tmp_path / "litellm.yaml"
    litellm.write_text(
        """
guardrails:
  - guardrail_name: mod
    litellm_params: {guardrail: openai_moderation, api_key: k, cache_ttl_s: 45, default_on: true}
  - guardrail_name: hook
    litellm_params: {guardrail: custom, api_base: "http://x/guard"}
  - guardrail_name: dynamo
    litellm_params: {guardrail: dynamoai, api_key: k}
"""
    )
    ttl = {
        g.name: g.cache_ttl_s
        for g in GuardMiddleware(GuardSettings.load(config_file=seed)).policy.guardrails.values()
    }
    assert ttl["openai_moderation"] == 30
    ttl = {
        g.name: g.cache_ttl_s
        for g in GuardMiddleware(GuardSettings.load(config_file=litellm)).policy.guardrails.values()
    }
    assert ttl == {"mod": 45, "hook": 0, "dynamo": 300}
    native = GuardMiddleware(GuardSettings.load(input={"providers": [moderation("http://x")]}))
    assert native.policy.guardrails["moderation"].cache_ttl_s == 300


def test_secrets_are_only_inside_the_digest() -> None:
    from guard_middleware.cache import verdict_key
    from guard_middleware.verdict import Segment

    a = GuardMiddleware(GuardSettings.load(input={"providers": [moderation("http://x", api_key="sk-one")]}))
    b = GuardMiddleware(GuardSettings.load(input={"providers": [moderation("http://x", api_key="sk-two")]}))
    keys = [
        verdict_key(
            "p:",
            "moderation",
            g.policy.guardrails["moderation"].cache_fingerprint,
            "input",
            "/r",
            {},
            [Segment(("m",), "t")],
        )
        for g in (a, b)
    ]
    assert keys[0] != keys[1] and all("sk-" not in k and json.dumps(k).count(":") == 1 for k in keys)


async def test_a_redis_that_never_answers_costs_one_timeout_then_is_skipped(make_stack: Any) -> None:
    # A blackholed Redis (accepts, never answers): the lookup times out after timeout_ms and the
    # provider is asked; for a second after that, lookups do not wait on Redis.
    held: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    fake = FakeOpenAIModeration()
    try:
        cache = {"url": f"redis://127.0.0.1:{port}/0", "timeout_ms": 100}
        async with fake.running() as url, make_stack(guarded(url, cache)) as s:
            assert (await s.chat(VIOLENT))[0] == 400
            assert (await s.chat(CLEAN))[0] == 200
            assert len(fake.requests) == 2
            assert s.guard is not None and s.guard.cache.counters.errors == 2
            assert len(held) == 1  # one connection tried; the second request did not wait on it
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize(
    "stored",
    [
        b'{"f":[["X","high",2,99,null,null,null]],"b":null}',  # a segment the payload does not have
        b'{"f":[["X","high",2,"a",null,null,null]],"b":null}',  # a segment that is not a number
        b'{"f":[["X","high",2,0,null,null,{"x":1}]],"b":null}',  # a message that is not text
        b'{"f":[["X","high",2,0,"zz",null,null]],"b":null}',  # an offset that is not a number
        b"not json at all",
    ],
)
async def test_a_corrupt_or_foreign_entry_is_a_miss_never_a_crash(make_stack: Any, stored: bytes) -> None:
    fake = FakeCustomGuardrail()
    async with fake.running() as url:
        config = {"input": {"providers": [hook(url)]}}
        async with make_stack(config) as s:
            assert (await s.chat(CLEAN))[0] == 200
            entries = s.guard.cache._entries
            assert len(entries) == 1
            for key, (expires, _) in list(entries.items()):
                entries[key] = (expires, stored)
            status, _, body = await s.chat(CLEAN)
            assert status == 200, body
            assert len(fake.requests) == 2  # asked again


async def test_a_redis_client_that_decodes_replies_is_a_miss_not_a_failure(
    make_stack: Any,
    redis_server: RedisServer,  # noqa: F811
) -> None:
    fake = FakeOpenAIModeration()
    cache = {"url": f"{redis_server.url}?decode_responses=True", "key_prefix": prefix()}
    async with fake.running() as url, make_stack(guarded(url, cache)) as s:
        assert [(await s.chat(VIOLENT))[0] for _ in range(2)] == [400, 400]
        assert len(fake.requests) == 2  # the stored verdict could not be read: the provider was asked
        assert s.guard.cache.counters.errors == 1


SURROGATE_STREAM = (
    b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,'
    b'"delta":{"content":"I will kill the process \\ud800"},"finish_reason":null}]}\n\n'
    b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,'
    b'"delta":{},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n'
)


async def test_a_lone_surrogate_in_a_stream_gets_the_same_verdict_with_the_cache(make_stack: Any) -> None:
    from aiohttp import web

    async def answer(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=SURROGATE_STREAM, content_type="text/event-stream")

    upstream = web.Application()
    upstream.router.add_post("/{tail:.*}", answer)
    seen: list[tuple[int, str]] = []
    fake = FakeOpenAIModeration()
    async with fake.running() as url:
        for ttl in (0, 60):
            provider = {**moderation(url), "on_error": "allow", "cache_ttl_s": ttl}
            config = {"output": {"providers": [provider], "streaming_mode": "per_chunk"}}
            async with make_stack(config, upstream_app=upstream) as s:
                body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}
                async with s.session.post(f"{s.url}/v1/chat/completions", json=body) as resp:
                    seen.append((resp.status, await resp.text()))
    assert seen[0] == seen[1]
    assert "kill" not in seen[1][1]  # the provider was asked, and blocked it, both times
