"""The one place that turns an HTTP exchange with a guardrail service into JSON or a ``ProviderError``.

Every HTTP provider calls :func:`post_json`; none of them looks at status codes, content types or
connection exceptions itself, so the error kinds mean the same thing whichever service failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import logging
import re
import time
from collections.abc import Coroutine, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import aiohttp

from guard_middleware.verdict import ProviderError

T = TypeVar("T")

logger = logging.getLogger("guard_middleware.providers")

# Only this much of an error body is read: it is parsed for an error code, never logged.
_MAX_ERROR_BODY = 64 * 1024


class HttpProviderError(ProviderError):
    """A ``ProviderError`` that also carries what a retrying caller needs (``Retry-After``)."""

    def __init__(
        self, kind: str, detail: str, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(kind, detail, status=status)
        self.retry_after = retry_after


def log_provider_error(provider: str, err: ProviderError, *, attempt: int | None = None) -> None:
    """WARNING, because a bad key or a dead endpoint needs an operator now. Never the checked text:
    ``detail`` holds only status, service error codes and exception class names."""
    suffix = f" attempt={attempt}" if attempt is not None else ""
    logger.warning(
        "guardrail provider %s failed: kind=%s status=%s detail=%s%s",
        provider,
        err.kind,
        err.status,
        err.detail,
        suffix,
    )


@contextlib.contextmanager
def reporting(provider: str) -> Iterator[None]:
    """Log any ``ProviderError`` leaving the block once, then let it propagate to the pipeline."""
    try:
        yield
    except ProviderError as err:
        log_provider_error(provider, err)
        raise


def _parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


_CODE = re.compile(r"[A-Za-z0-9_.:/#-]{1,64}")
#: what an error code that is not an identifier is reported as (it may hold the checked text)
NOT_AN_IDENTIFIER = "(error code not an identifier)"


def safe_code(code: object) -> str:
    """An error code as logged and audited: an identifier (`invalid_api_key`, `ThrottlingException`,
    `429`) as it is; anything else, which may echo the checked text, replaced."""
    text = str(code)
    return text if _CODE.fullmatch(text) else NOT_AN_IDENTIFIER


def _error_code(body: bytes, headers: Mapping[str, str]) -> str | None:
    """The service's machine-readable error code, if any, through `safe_code`. Messages are skipped
    on purpose: some services echo the offending input in them (and some in their codes)."""
    for header in ("x-ms-error-code", "x-amzn-ErrorType"):
        if headers.get(header):
            return safe_code(headers[header].split(":", 1)[0])
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    if not isinstance(doc, dict):
        return None
    err = doc.get("error")
    if isinstance(err, dict):
        code = err.get("code") or err.get("type")
        return safe_code(code) if code is not None else None
    code = doc.get("code") or doc.get("__type")
    return safe_code(code) if code is not None else None


def _status_kind(status: int) -> str:
    if status in (401, 403):
        return "auth"
    if status == 429:
        return "rate_limited"
    return "http"


def _looks_like_html(content_type: str, body: bytes) -> bool:
    head = body[:256].lstrip().lower()
    return "html" in content_type or head.startswith((b"<!doctype", b"<html", b"<"))


async def post_json(
    session: aiohttp.ClientSession,
    url: str,
    payload: Mapping[str, Any],
    *,
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, str] | None = None,
    timeout_s: float | None = None,
) -> Any:
    """POST ``payload`` as JSON and return the decoded JSON answer of a 2xx response.

    Raises :class:`HttpProviderError` with ``kind`` ``auth`` (401/403), ``rate_limited`` (429),
    ``http`` (other non-2xx), ``timeout`` (``timeout_s`` elapsed), ``connection`` (refused, reset,
    DNS) or ``malformed`` (a 2xx whose body is not JSON, e.g. an HTML page from a proxy).
    ``asyncio.CancelledError`` (the pipeline's own deadline) is never swallowed. Nothing is logged
    here; wrap the provider's whole evaluation in :func:`reporting` so each failure is logged once.
    """
    timeout = aiohttp.ClientTimeout(total=timeout_s) if timeout_s is not None else None
    try:
        err = await _exchange(session, url, payload, headers, params, timeout)
    except TimeoutError:
        err = HttpProviderError("timeout", f"no answer within {timeout_s}s")
    except aiohttp.ClientConnectionError as exc:
        # ServerDisconnectedError and friends land here too: the peer went away mid-exchange.
        err = HttpProviderError("connection", type(exc).__name__)
    except aiohttp.ClientError as exc:
        err = HttpProviderError("connection", type(exc).__name__)
    if isinstance(err, HttpProviderError):
        raise err
    return err.value


class _Ok:
    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


async def _exchange(
    session: aiohttp.ClientSession,
    url: str,
    payload: Mapping[str, Any],
    headers: Mapping[str, str] | None,
    params: Mapping[str, str] | None,
    timeout: aiohttp.ClientTimeout | None,
) -> _Ok | HttpProviderError:
    kwargs: dict[str, Any] = {"json": payload, "headers": dict(headers or {}), "params": params}
    if timeout is not None:
        kwargs["timeout"] = timeout
    async with session.post(url, **kwargs) as resp:
        status = resp.status
        if not 200 <= status < 300:
            body = await resp.content.read(_MAX_ERROR_BODY)
            resp_headers = {k: v for k, v in resp.headers.items()}
            code = _error_code(body, resp_headers)
            detail = f"HTTP {status}"
            if code == NOT_AN_IDENTIFIER:
                detail += f" {code}"
            elif code:
                detail += f" code={code}"
            elif _looks_like_html(resp.content_type, body):
                detail += " (HTML error page)"
            retry_after = _parse_retry_after(resp.headers.get("Retry-After"))
            ms = resp.headers.get("retry-after-ms")
            if ms:
                with contextlib.suppress(ValueError):
                    retry_after = max(0.0, float(ms) / 1000)
            return HttpProviderError(_status_kind(status), detail, status=status, retry_after=retry_after)
        body = await resp.read()
        try:
            return _Ok(json.loads(body))
        except (ValueError, UnicodeDecodeError):
            what = "HTML page" if _looks_like_html(resp.content_type, body) else "invalid JSON"
            return HttpProviderError("malformed", f"HTTP {status} with {what}", status=status)


def expect_dict(value: Any, what: str) -> dict[str, Any]:
    """Shape guard shared by the providers: a JSON object or ``malformed``."""
    if not isinstance(value, dict):
        raise ProviderError("malformed", f"{what} is not a JSON object")
    return value


def expect_list(value: Any, what: str) -> list[Any]:
    """A JSON array, treating an explicit ``null`` as empty (Bedrock and Lakera send them)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise ProviderError("malformed", f"{what} is not a JSON array")
    return value


async def gather_or_raise(coros: Sequence[Coroutine[Any, Any, T]]) -> list[T]:
    """Run calls concurrently; on the first failure cancel the rest and raise that failure itself
    (not an ``ExceptionGroup``), so the pipeline sees a plain ``ProviderError``."""
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(c) for c in coros]
    except BaseExceptionGroup as eg:
        first: BaseException = eg
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        raise first from None
    return [t.result() for t in tasks]
