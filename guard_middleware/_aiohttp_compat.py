"""The one place that touches aiohttp private attributes (``_payload``, ``_payload_writer``, ``_state``).

aiohttp has no public way to give a request a new body or to see a handler-prepared response's bytes
before they reach the socket; the techniques here were verified on aiohttp 3.10 through 3.14 (see the
project's aiohttp notes). ``self_check()`` runs at start-up so a future aiohttp that drops one of these
attributes fails loudly at boot instead of silently skipping the guard.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Literal, Protocol

from aiohttp import StreamReader, web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.base_protocol import BaseProtocol
from multidict import CIMultiDict

from guard_middleware.decoders import brotli_available, zstd_available

DECODABLE = frozenset({"gzip", "x-gzip", "deflate", "identity"})

WriterMode = Literal["pass", "buffer", "stream"]


class StreamTerminated(ConnectionResetError):
    """Raised into the handler after the guard ended a stream itself (mid-stream block or an unreadable
    stream). A ``ConnectionResetError`` so gateway code that already handles client disconnects unwinds
    the same way and closes its upstream request."""


class WriterHooks(Protocol):
    """What the guard decides for a response the handler writes itself."""

    terminated: bool

    async def on_headers(self, status: int, headers: CIMultiDict[str], compressing: bool) -> WriterMode: ...

    async def on_chunk(self, data: bytes) -> bytes: ...

    async def on_stream_end(self) -> bytes: ...

    async def on_body(
        self, status_line: str, headers: CIMultiDict[str], body: bytes
    ) -> tuple[str, bytes]: ...


def self_check() -> None:
    from aiohttp.test_utils import make_mocked_request

    req = make_mocked_request("POST", "/", headers={"Content-Type": "application/json"})
    missing = [a for a in ("_payload", "_payload_writer", "_state") if not hasattr(req, a)]
    if missing:
        import aiohttp

        raise RuntimeError(
            f"guard_middleware does not support aiohttp {aiohttp.__version__}: request attributes "
            f"{', '.join(missing)} are gone. Pin aiohttp>=3.10,<4."
        )
    if not disconnect_watch_supported():
        logging.getLogger("guard_middleware").warning(
            "this aiohttp's StreamReader has no _eof_waiter: client disconnects are not noticed, so a "
            "client that has gone still costs its provider and upstream calls"
        )


def disconnect_watch_supported() -> bool:
    """Whether the reader slot ``DisconnectWatch`` borrows exists (3.10 through 3.14 have it)."""
    return "_eof_waiter" in StreamReader.__init__.__code__.co_names


def bytes_reader(data: bytes) -> StreamReader:
    loop = asyncio.get_running_loop()
    # A fresh BaseProtocol (not the live connection's) so reads never touch the socket's flow control;
    # limit >= len(data) so the reader never tries to pause it.
    reader = StreamReader(BaseProtocol(loop), limit=max(2**16, len(data) + 1), loop=loop)
    if data:
        reader.feed_data(data)
    reader.feed_eof()
    return reader


def clone_for_handler(request: web.Request, body: bytes, hooks: WriterHooks | None) -> web.Request:
    """A request whose body is exactly ``body`` (already decoded and checked), sharing the original's
    state so outer middlewares see what the handler stores, and whose writer the guard intercepts."""
    headers = CIMultiDict(request.headers)
    headers["Content-Length"] = str(len(body))
    headers.popall("Content-Encoding", None)
    headers.popall("Transfer-Encoding", None)
    # A gateway that forwards client headers must not invite an upstream answer the guard cannot decode;
    # the codings it can decode stay, so the gateway's own compression negotiation is unchanged.
    headers["Accept-Encoding"] = decodable_accept_encoding(headers.get("Accept-Encoding", ""))
    # scheme/host/remote are passed again: clone() would otherwise undo an outer proxy middleware's
    # overrides (X-Forwarded-*).
    overrides: dict[str, Any] = {"scheme": request.scheme, "host": request.host}
    if request.remote is not None:
        overrides["remote"] = request.remote
    new = request.clone(
        headers=headers, client_max_size=max(request.client_max_size, len(body) + 1), **overrides
    )
    new._payload = bytes_reader(body)
    new._state = request._state
    if hooks is not None:
        new._payload_writer = GuardedWriter(request._payload_writer, hooks)
    return new


def decodable_accept_encoding(value: str) -> str:
    kept = []
    for token in value.split(","):
        coding = token.split(";", 1)[0].strip().lower()
        if (
            coding in DECODABLE
            or (coding == "br" and brotli_available())
            or (coding == "zstd" and zstd_available())
        ):
            kept.append(token.strip())
    return ", ".join(kept) or "identity"


def guarded_writer(request: web.Request) -> GuardedWriter | None:
    writer = request._payload_writer
    return writer if isinstance(writer, GuardedWriter) else None


class GuardedWriter(AbstractStreamWriter):
    """Wraps the connection's real writer. The real writer still does compression and chunk framing,
    so the guard always sees the plaintext body the handler wrote."""

    def __init__(self, inner: AbstractStreamWriter, hooks: WriterHooks) -> None:
        self._inner = inner
        self._hooks = hooks
        self._mode: WriterMode | None = None
        self._held: tuple[str, CIMultiDict[str]] | None = None
        self._buffer = bytearray()
        self._chunked = False
        self._compression: tuple[tuple[Any, ...], dict[str, Any]] | None = None
        self.length: int | None = None
        self.headers_sent = False
        self.finished = False
        self.status = 200

    # aiohttp reads these for the access log and to decide whether an error page can still be sent.
    # The counters live in the real writer.
    @property
    def buffer_size(self) -> int:  # type: ignore[override]
        return self._inner.buffer_size

    @property
    def output_size(self) -> int:  # type: ignore[override]
        return self._inner.output_size

    @property
    def transport(self) -> asyncio.WriteTransport | None:
        return getattr(self._inner, "transport", None)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    # Configuration is recorded and applied to the real writer only when the guard lets the headers
    # out: a response the guard replaces (a block in concurrent mode, a 400 for a JSON answer) must
    # not inherit the framing of the one it replaces.
    def enable_compression(self, *args: Any, **kwargs: Any) -> None:
        self._compression = (args, kwargs)

    def enable_chunking(self) -> None:
        self._chunked = True

    def _configure_inner(self) -> None:
        if self._chunked:
            self._inner.enable_chunking()
        if self._compression is not None:
            args, kwargs = self._compression
            self._inner.enable_compression(*args, **kwargs)

    async def write_headers(self, status_line: str, headers: CIMultiDict[str]) -> None:
        self.status = int(status_line.split(" ", 2)[1])
        mode = await self._hooks.on_headers(self.status, headers, self._compression is not None)
        self._mode = mode
        if mode == "buffer":
            self._held = (status_line, headers)
            return
        if mode == "stream":
            # The guard may change the body's length: a declared Content-Length would clip or hang it.
            headers.popall("Content-Length", None)
            headers["Transfer-Encoding"] = "chunked"
            self._chunked = True
        else:
            self._inner.length = self.length
        self._configure_inner()
        self.headers_sent = True
        await self._inner.write_headers(status_line, headers)

    def send_headers(self) -> None:
        if self._held is None:
            getattr(self._inner, "send_headers", lambda: None)()

    def _check_alive(self) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("Cannot write to closing transport")

    async def write(self, chunk: bytes | bytearray | memoryview) -> None:
        if self._hooks.terminated:
            raise StreamTerminated("the guard ended this stream")
        if self._mode == "pass" or self._mode is None:
            await self._inner.write(chunk)
            return
        # While holding text back nothing reaches the socket, so notice a gone client here.
        self._check_alive()
        if self._mode == "buffer":
            self._buffer += chunk
            return
        out = await self._hooks.on_chunk(bytes(chunk))
        if out:
            await self._inner.write(out)
        if self._hooks.terminated:
            await self._inner.write_eof()
            self.finished = True
            raise StreamTerminated("the guard ended this stream")

    async def write_eof(self, chunk: bytes = b"") -> None:
        if self.finished:
            return
        if chunk:
            await self.write(chunk)
        if self._mode == "buffer" and self._held is not None:
            status_line, headers = self._held
            status_line, body = await self._hooks.on_body(status_line, headers, bytes(self._buffer))
            if not self._chunked:
                headers["Content-Length"] = str(len(body))
                self._inner.length = len(body)
            self._configure_inner()
            self._held = None
            self.headers_sent = True
            await self._inner.write_headers(status_line, headers)
            await self._inner.write_eof(body)
        elif self._mode == "stream":
            tail = await self._hooks.on_stream_end()
            await self._inner.write_eof(tail)
        else:
            await self._inner.write_eof()
        self.finished = True

    async def drain(self) -> None:
        await self._inner.drain()

    def discard(self) -> None:
        """Forget a response that never reached the socket (its headers held, its body buffered), so
        that another one can be written in its place."""
        self._mode = None
        self._held = None
        self._buffer = bytearray()
        self._chunked = False
        self._compression = None
        self.length = None

    async def end_stream(self, tail: bytes) -> None:
        """End a stream whose headers were sent with ``tail`` (a terminating error event)."""
        if tail:
            await self._inner.write(tail)
        await self._inner.write_eof()
        self.finished = True

    @property
    def streaming(self) -> bool:
        return self._mode == "stream"


class AlreadySent(web.StreamResponse):
    """Returned after the guard wrote and finished the response itself, so aiohttp writes nothing more
    (a second status line after a finished body would corrupt the connection)."""

    def __init__(self, status: int, *, keep_alive: bool) -> None:
        super().__init__(status=status)
        # The answer was framed completely (chunk terminator sent) and the request body was read in
        # full by the guard, so the connection is reusable; closing it would race a client that has
        # already returned it to its pool.
        self._reusable = keep_alive

    @property
    def keep_alive(self) -> bool:
        return self._reusable

    async def prepare(self, request: web.BaseRequest) -> None:
        return None

    async def write_eof(self, data: bytes = b"") -> None:
        return None


class DisconnectWatch:
    """Notices, without polling, that the client of a request has gone, and cancels the task serving
    it, so the guard's provider calls and the handler's upstream request stop at once in both of
    aiohttp's ``handler_cancellation`` modes (off, the default, nothing else would stop them).

    How (aiohttp 3.10 through 3.14, and master): on connection loss ``RequestHandler.connection_lost``
    calls ``request._cancel(exc)``, which is ``StreamReader.set_exception(exc)`` on the request's
    payload; ``set_exception`` fails the reader's ``_eof_waiter`` future if one is set. Once the guard
    has read the body the reader is at EOF, so nothing else ever waits there (``wait_eof`` returns at
    once) and that slot can hold our future: one future and one callback per request, no timers.
    """

    __slots__ = ("_reader", "_task", "_waiter", "fired")

    def __init__(self, reader: StreamReader, task: asyncio.Task[Any], waiter: asyncio.Future[None]) -> None:
        self._reader = reader
        self._task: asyncio.Task[Any] | None = task
        self._waiter = waiter
        self.fired = False
        waiter.add_done_callback(self._lost)

    def _lost(self, waiter: asyncio.Future[None]) -> None:
        if waiter.cancelled():
            return
        waiter.exception()  # retrieved, so asyncio does not report it
        task, self._task = self._task, None
        if task is not None and not task.done():
            self.fired = True
            task.cancel()

    def close(self) -> None:
        """The request is answered: a disconnect from now on is aiohttp's business alone."""
        self._task = None
        # Unhooked rather than cancelled: a cancelled future would still schedule its callback.
        self._waiter.remove_done_callback(self._lost)
        if getattr(self._reader, "_eof_waiter", None) is self._waiter:
            self._reader._eof_waiter = None


def watch_disconnect(request: web.BaseRequest) -> DisconnectWatch | None:
    """Watch the client of ``request``, whose body has been read to the end. None where the payload is
    not an aiohttp ``StreamReader`` at EOF (another server's request class): no watch, no harm."""
    reader = request.content
    task = asyncio.current_task()
    if task is None or not isinstance(reader, StreamReader) or not reader.is_eof():
        return None
    if getattr(reader, "_eof_waiter", False) is not None:
        return None  # the slot is taken (or gone in this aiohttp): leave it alone
    waiter: asyncio.Future[None] = task.get_loop().create_future()
    watch = DisconnectWatch(reader, task, waiter)
    gone = reader.exception()
    if gone is not None:
        waiter.set_exception(gone)  # the client left while the body was being checked
    else:
        reader._eof_waiter = waiter
    return watch


def client_gone(request: web.BaseRequest) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()
