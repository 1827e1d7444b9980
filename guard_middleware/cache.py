"""A verdict cache for remote guardrail providers: in process (bounded LRU) or in Redis (shared by
replicas). Pure: no aiohttp; ``redis`` is imported only when a Redis URL is configured.

Keys are digests, never text: ``key_prefix`` + blake2b of the guardrail's name, a fingerprint of its
configuration, and everything the provider could send (each text with its role, kind and JSON path, the
phase, the route, the forwarded metadata; only the request id is left out). Values are the provider's
verdict without the checked text: categories, severities, actions, segment indexes and offsets, and the
provider's own messages. A verdict that rewrites text (provider masking) holds the masked text, so it
is never stored (see ``encode_outcome``).

A cache must never make the guard fail or skip a check: a Redis error or timeout is a miss (the provider
is asked) or a store that did not happen, counted, and logged at WARNING at most once per
``WARN_EVERY_S``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import orjson

from guard_middleware.errors import ConfigError
from guard_middleware.verdict import Action, Finding, ProviderOutcome, Segment

log = logging.getLogger("guard_middleware")

LookupResult = Literal["hit", "miss", "error"]
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
#: at most one WARNING about an unreachable cache per this many seconds
WARN_EVERY_S = 30.0
#: after a Redis error, lookups skip Redis for this long (each would wait up to ``timeout_ms``)
RETRY_AFTER_S = 1.0
_DIGEST_BYTES = 20


@dataclass(slots=True)
class CacheCounters:
    hits: int = 0
    misses: int = 0
    errors: int = 0
    stores: int = 0


class VerdictCache(Protocol):
    counters: CacheCounters

    async def get(self, key: str) -> tuple[LookupResult, bytes | None]:
        """``("hit", value)``, ``("miss", None)``, or ``("error", None)`` when the store could not
        answer (to be treated as a miss). Never raises."""
        ...

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        """Store ``value`` for ``ttl_s`` seconds; a failure is counted and swallowed. Never raises."""
        ...

    async def get_many(self, keys: Sequence[str]) -> list[tuple[LookupResult, bytes | None]]:
        """``get`` of each key, in one round trip."""
        ...

    async def set_many(self, items: Sequence[tuple[str, bytes]], ttl_s: float) -> None:
        """``set`` of each (key, value), in one round trip."""
        ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...


def config_fingerprint(type_: str, options: Mapping[str, Any]) -> bytes:
    """A digest of a provider's type and options. Secrets (API keys) only enter the hash input: a
    verdict may depend on the account, and no key text ever reaches the cache."""
    material = orjson.dumps([type_, options], option=orjson.OPT_SORT_KEYS, default=str)
    return hashlib.blake2b(material, digest_size=_DIGEST_BYTES).digest()


#: bumped when what a key covers or how a value is encoded changes: replicas of two versions sharing one
#: Redis never read each other's entries
_FORMAT = "v1"


def _material(doc: list[Any]) -> bytes:
    """The bytes a key digests. A text with a lone surrogate (possible in a stream's decoded pieces) is
    not UTF-8, which orjson refuses: the standard library escapes it instead, framed apart (``~``)."""
    try:
        return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS, default=str)
    except orjson.JSONEncodeError:
        return b"~" + json.dumps(doc, sort_keys=True, default=str).encode()


def verdict_key(
    prefix: str,
    guardrail: str,
    fingerprint: bytes,
    phase: str,
    route: str,
    metadata: Mapping[str, Any],
    segments: Sequence[Segment],
) -> str:
    """``prefix`` + hex digest of everything that decides what the provider is sent. JSON framing keeps
    the fields apart (no two different inputs share a serialisation)."""
    material = _material(
        [
            _FORMAT,
            guardrail,
            fingerprint.hex(),
            phase,
            route,
            metadata,
            [[s.text, s.role, s.kind, list(s.path)] for s in segments],
        ]
    )
    return prefix + hashlib.blake2b(material, digest_size=_DIGEST_BYTES).hexdigest()


def text_key(prefix: str, fingerprint: bytes, text: str) -> str:
    """The key of one text's verdict, for providers that judge each text on its own and are sent
    nothing else about it (``verdicts_per_text``). The configuration's digest, not the guardrail's
    name: an input and an output guardrail configured alike share verdicts (the ``actions`` table is
    applied after the cache). Framed apart from ``verdict_key``'s material."""
    material = _material([_FORMAT, "text", fingerprint.hex(), text])
    return prefix + hashlib.blake2b(material, digest_size=_DIGEST_BYTES).hexdigest()


def encode_outcome(outcome: ProviderOutcome) -> bytes | None:
    """The verdict as compact JSON, or None when it must not be stored: rewrites are the checked text
    (masked), and a finding's ``replacement`` only exists with them."""
    if outcome.rewrites or any(f.replacement is not None for f in outcome.findings):
        return None
    findings = [
        [
            f.category,
            f.severity,
            None if f.action is None else int(f.action),
            f.segment,
            f.start,
            f.end,
            f.message,
        ]
        for f in outcome.findings
    ]
    return orjson.dumps({"f": findings, "b": outcome.blocked_message})


def _optional(value: Any, kind: type) -> bool:
    return value is None or (isinstance(value, kind) and not isinstance(value, bool))


def decode_outcome(guardrail: str, raw: bytes, segments: int) -> ProviderOutcome | None:
    """The verdict stored by ``encode_outcome`` for a payload of ``segments`` texts; None when the value
    is not one (a foreign or corrupt entry is a miss, never a guess nor a crash)."""
    try:
        doc = orjson.loads(raw)
        findings = []
        for category, severity, action, segment, start, end, message in doc["f"]:
            if not (
                isinstance(category, str)
                and isinstance(severity, str)
                and _optional(action, int)
                and _optional(segment, int)
                and (segment is None or 0 <= segment < segments)
                and _optional(start, int)
                and _optional(end, int)
                and _optional(message, str)
            ):
                return None
            findings.append(
                Finding(
                    guardrail,
                    category,
                    severity,
                    None if action is None else Action(action),
                    segment,
                    start,
                    end,
                    message,
                )
            )
        blocked = doc["b"]
        if blocked is not None and not isinstance(blocked, str):
            return None
        return ProviderOutcome(findings=findings, blocked_message=blocked)
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None


class LruCache:
    """In process: at most ``max_entries`` verdicts, the least recently used evicted first; each entry
    expires after its own TTL. Single event loop: no locking needed."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self.counters = CacheCounters()
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, key: str) -> tuple[LookupResult, bytes | None]:
        entry = self._entries.get(key)
        if entry is None or entry[0] <= time.monotonic():
            if entry is not None:
                del self._entries[key]
            self.counters.misses += 1
            return "miss", None
        self._entries.move_to_end(key)
        self.counters.hits += 1
        return "hit", entry[1]

    async def get_many(self, keys: Sequence[str]) -> list[tuple[LookupResult, bytes | None]]:
        return [await self.get(key) for key in keys]

    async def set_many(self, items: Sequence[tuple[str, bytes]], ttl_s: float) -> None:
        for key, value in items:
            await self.set(key, value, ttl_s)

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        entries = self._entries
        entries[key] = (time.monotonic() + ttl_s, value)
        entries.move_to_end(key)
        while len(entries) > self.max_entries:
            entries.popitem(last=False)
        self.counters.stores += 1

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass  # nothing to release; the verdicts stay valid if the app starts again


class RedisCache:
    """Shared by every process using the same Redis (``redis.asyncio``). Each operation is bounded by
    ``timeout_ms``; any error is a miss or a skipped store, and for ``RETRY_AFTER_S`` after one,
    lookups do not wait on Redis at all (still counted as errors)."""

    def __init__(self, url: str, *, key_prefix: str, timeout_ms: int) -> None:
        self.url = url
        self.key_prefix = key_prefix
        self.timeout_s = timeout_ms / 1000
        self.counters = CacheCounters()
        self._client: Any = None
        self._down_until = 0.0
        self._warned_at = -WARN_EVERY_S

    async def start(self) -> None:
        if self._client is None:
            import redis.asyncio

            # No retries inside the client: one bounded attempt, then the provider is asked.
            self._client = redis.asyncio.Redis.from_url(
                self.url,
                socket_timeout=self.timeout_s,
                socket_connect_timeout=self.timeout_s,
                retry_on_timeout=False,
                health_check_interval=0,
            )

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                await client.aclose()
            except Exception as exc:  # closing a dead connection must not fail a shutdown
                log.debug("closing the verdict cache: %r", exc)

    def _failed(self, what: str, exc: BaseException, count: int) -> None:
        self.counters.errors += count
        now = time.monotonic()
        self._down_until = now + RETRY_AFTER_S
        if now - self._warned_at >= WARN_EVERY_S:
            self._warned_at = now
            log.warning(
                "verdict cache %s failed (%s); requests are checked by their providers without the cache",
                what,
                type(exc).__name__ if isinstance(exc, TimeoutError) else repr(exc),
            )

    async def get(self, key: str) -> tuple[LookupResult, bytes | None]:
        return (await self.get_many([key]))[0]

    async def get_many(self, keys: Sequence[str]) -> list[tuple[LookupResult, bytes | None]]:
        if not keys:
            return []
        if time.monotonic() < self._down_until:
            self.counters.errors += len(keys)
            return [("error", None)] * len(keys)
        try:
            await self.start()
            async with asyncio.timeout(self.timeout_s):
                values = await self._client.mget(keys)
        except Exception as exc:  # any Redis problem is a miss, never a failure
            self._failed("lookup", exc, len(keys))
            return [("error", None)] * len(keys)
        if not isinstance(values, list) or len(values) != len(keys):
            # a reply that does not answer each key (a proxy, a desynchronised connection): all misses
            self._failed("lookup", ValueError("MGET answered a different number of keys"), len(keys))
            return [("error", None)] * len(keys)
        out: list[tuple[LookupResult, bytes | None]] = []
        for value in values:
            if value is None:
                self.counters.misses += 1
                out.append(("miss", None))
            elif isinstance(value, bytes):
                self.counters.hits += 1
                out.append(("hit", value))
            else:  # a client set to decode replies (``decode_responses``): not ours to guess
                self.counters.errors += 1
                out.append(("error", None))
        return out

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        await self.set_many([(key, value)], ttl_s)

    async def set_many(self, items: Sequence[tuple[str, bytes]], ttl_s: float) -> None:
        if not items or time.monotonic() < self._down_until:
            return
        ttl_ms = max(1, int(ttl_s * 1000))
        try:
            await self.start()
            async with asyncio.timeout(self.timeout_s):
                pipe = self._client.pipeline(transaction=False)
                for key, value in items:
                    pipe.set(key, value, px=ttl_ms)
                await pipe.execute()
        except Exception as exc:
            self._failed("store", exc, len(items))
            return
        self.counters.stores += len(items)


def check_url(url: str, key: str = "cache.url") -> None:
    if url and not url.startswith(REDIS_SCHEMES):
        raise ConfigError(
            key, f"unsupported cache URL {url.split('://', 1)[0]!r}; expected redis://, rediss:// or unix://"
        )


def build_cache(url: str, *, max_entries: int, key_prefix: str, timeout_ms: int) -> VerdictCache:
    """Empty ``url``: the in-process LRU; a Redis URL: Redis. Anything else is a ``ConfigError``."""
    check_url(url)
    if not url:
        return LruCache(max_entries)
    return RedisCache(url, key_prefix=key_prefix, timeout_ms=timeout_ms)
