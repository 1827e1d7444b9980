"""Load, sized for CI: 500 concurrent guarded streams through the example gateway all complete, with
every character of every answer accounted for (redacted exactly where PII was, nothing else changed)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp

from tests.streams import stream_chat

CONFIG = {
    "output": {
        "streaming_mode": "per_chunk",
        "providers": [{"type": "blocklist", "patterns": [{"pattern": "forbidden-word"}]}],
    },
    "pii": {"action": "redact", "apply_to": "output", "replacement": "[PII]"},
}


def reply(i: int) -> tuple[str, str]:
    """An answer with PII that straddles chunk boundaries, and what the client must see of it."""
    # (no trailing space: the mock takes the answer from a header, and HTTP trims header values)
    said = " ".join([f"Stream {i}: write to user{i}@example.com or call 415-555-{1000 + i % 9000:04d}."] * 2)
    seen = " ".join([f"Stream {i}: write to [PII] or call [PII]."] * 2)
    return said, seen


async def test_500_concurrent_streams_complete_with_every_character_accounted_for(make_stack: Any) -> None:
    async with make_stack(CONFIG) as s:
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def one(i: int) -> tuple[int, str, str, bool]:
                said, expected = reply(i)
                seen = await stream_chat(session, s.url, headers={"X-Mock-Reply": said, "X-Mock-Chunk": "5"})
                return seen.status, seen.text(), expected, seen.done and seen.error is None

            started = time.perf_counter()
            results = await asyncio.gather(*(one(i) for i in range(500)))
            elapsed = time.perf_counter() - started
        assert all(status == 200 for status, *_ in results)
        assert all(ok for *_, ok in results)
        mismatched = [i for i, (_, got, expected, _) in enumerate(results) if got != expected]
        assert mismatched == []
        assert s.record.completed == 500 and s.record.aborted == 0
        print(f"500 streams in {elapsed:.1f}s")
