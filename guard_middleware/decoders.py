"""Incremental ``Content-Encoding`` decoders, in the shape of httpx's ``_decoders.py``. Pure.

Every decoder enforces a cap on what it produces (``max_output`` bytes over its whole life) and
decompresses at most that much per call, so a small compressed body cannot make the worker allocate a
huge buffer before the cap is noticed (zip-bomb defence). Stacked codings get the cap on every layer.

Anything that cannot be decoded faithfully raises: an unknown or unavailable coding at build time
(:class:`UnsupportedEncoding`, the caller answers 415 / fails closed), corrupt or truncated data while
decoding (:class:`DecodingError`), too much output (:class:`DecodedTooLarge`).
"""

from __future__ import annotations

import sys
import zlib
from collections.abc import Sequence
from typing import Any, Protocol

try:
    import brotli

    _HAS_BROTLI = True
except ImportError:  # pragma: no cover - depends on the environment
    brotli = None
    _HAS_BROTLI = False

# zstd is in the standard library from 3.14 (PEP 784); backports.zstd is the same module for older
# Pythons and a dependency of this package, so zstd is always available on a normal install.
try:
    if sys.version_info >= (3, 14):
        from compression import zstd
    else:
        from backports import zstd

    _HAS_ZSTD = True
except ImportError:  # pragma: no cover - depends on the environment
    zstd = None  # type: ignore[assignment]
    _HAS_ZSTD = False

__all__ = [
    "DEFAULT_MAX_OUTPUT",
    "BrotliDecoder",
    "ContentDecoder",
    "DecodedTooLarge",
    "DecodingError",
    "DeflateDecoder",
    "GZipDecoder",
    "IdentityDecoder",
    "MultiDecoder",
    "UnsupportedEncoding",
    "ZstdDecoder",
    "brotli_available",
    "build_decoder",
    "looks_plain",
    "sniff_compressed",
    "zstd_available",
]

#: total decoded bytes one decoder may produce; the caller passes its own body limit in practice
DEFAULT_MAX_OUTPUT = 64 << 20


class DecodingError(ValueError):
    """The body is not valid data for its declared coding (corrupt, truncated, trailing garbage)."""


class DecodedTooLarge(DecodingError):
    """Decoding would produce more than ``limit`` bytes."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"decoded body exceeds {limit} bytes")
        self.limit = limit


class UnsupportedEncoding(ValueError):
    """A ``Content-Encoding`` this process cannot decode; ``coding`` is the offending token."""

    def __init__(self, coding: str) -> None:
        super().__init__(f"unsupported content-encoding: {coding!r}")
        self.coding = coding


def brotli_available() -> bool:
    return _HAS_BROTLI


def zstd_available() -> bool:
    return _HAS_ZSTD


class ContentDecoder(Protocol):
    def decode(self, data: bytes) -> bytes:
        """Decode the next slice of the body; may return ``b""`` while input is buffered."""
        ...

    def flush(self) -> bytes:
        """End of body: return what is left; raise :class:`DecodingError` if the data was truncated."""
        ...


class _Capped:
    """Shared output accounting. ``_room`` is how many more bytes may be produced."""

    def __init__(self, max_output: int | None) -> None:
        if max_output is not None and max_output < 0:
            raise ValueError("max_output must be >= 0 or None")
        self._limit = max_output
        self._produced = 0

    def _room(self) -> int | None:
        return None if self._limit is None else self._limit - self._produced

    def _account(self, out: bytes) -> bytes:
        self._produced += len(out)
        if self._limit is not None and self._produced > self._limit:
            raise DecodedTooLarge(self._limit)
        return out


class IdentityDecoder(_Capped):
    """No coding; still counts bytes so one cap applies whatever the header said."""

    def __init__(self, max_output: int | None = DEFAULT_MAX_OUTPUT) -> None:
        super().__init__(max_output)

    def decode(self, data: bytes) -> bytes:
        return self._account(bytes(data))

    def flush(self) -> bytes:
        return b""


class _ZlibDecoder(_Capped):
    """zlib-family decoding with bounded output per call (``max_length`` + ``unconsumed_tail``)."""

    _wbits: int
    _multi_member = False
    _name = "deflate"

    def __init__(self, max_output: int | None = DEFAULT_MAX_OUTPUT) -> None:
        super().__init__(max_output)
        self._obj = zlib.decompressobj(self._wbits)
        self._seen = False

    def _run(self, obj: Any, data: bytes) -> bytes:
        parts: list[bytes] = []
        while True:
            room = self._room()
            # ask for one byte more than allowed so exceeding the cap is detected without inflating more
            out = obj.decompress(data, 0 if room is None else room + 1)
            parts.append(self._account(out))
            data = obj.unconsumed_tail
            if not data:
                break
        if obj.eof and obj.unused_data:
            parts.append(self._after_end(obj.unused_data))
        return b"".join(parts)

    def _after_end(self, rest: bytes) -> bytes:
        if self._multi_member:
            # RFC 1952 allows several gzip members back to back; each is a full stream of its own
            self._obj = zlib.decompressobj(self._wbits)
            return self._run(self._obj, rest)
        raise DecodingError(f"{self._name}: data after end of stream")

    def decode(self, data: bytes) -> bytes:
        if not data:
            return b""
        self._seen = True
        try:
            return self._run(self._obj, data)
        except zlib.error as exc:
            raise DecodingError(f"{self._name}: {exc}") from None

    def flush(self) -> bytes:
        if not self._seen:
            return b""
        try:
            out = self._account(self._obj.flush())
        except zlib.error as exc:
            raise DecodingError(f"{self._name}: {exc}") from None
        if not self._obj.eof:
            # a truncated body may end mid-token; what was decoded so far is all the caller will ever
            # see, but it must know the body was cut rather than treat it as complete
            raise DecodingError(f"{self._name}: truncated stream")
        return out


class GZipDecoder(_ZlibDecoder):
    _wbits = zlib.MAX_WBITS | 16
    _multi_member = True
    _name = "gzip"


class DeflateDecoder(_ZlibDecoder):
    """HTTP ``deflate`` is meant to be zlib-wrapped (RFC 9110 §8.4.1.2), but some servers send raw
    deflate; like browsers and httpx, try the wrapped form and fall back on the first failure."""

    _wbits = zlib.MAX_WBITS
    _name = "deflate"

    def __init__(self, max_output: int | None = DEFAULT_MAX_OUTPUT) -> None:
        super().__init__(max_output)
        self._first = True
        self._held = b""

    def decode(self, data: bytes) -> bytes:
        if not self._first:
            return super().decode(data)
        # the zlib header is two bytes; until they are in, we cannot tell the forms apart
        self._held += data
        if len(self._held) < 2:
            return b""
        data, self._held = self._held, b""
        self._first = False
        try:
            return super().decode(data)
        except DecodedTooLarge:
            raise
        except DecodingError:
            self._obj = zlib.decompressobj(-zlib.MAX_WBITS)
            self._produced = 0
            return super().decode(data)

    def flush(self) -> bytes:
        if self._held:
            # a one-byte body cannot be a valid zlib or raw deflate stream
            raise DecodingError("deflate: truncated stream")
        return super().flush()


class BrotliDecoder(_Capped):
    def __init__(self, max_output: int | None = DEFAULT_MAX_OUTPUT) -> None:
        if not _HAS_BROTLI:
            raise UnsupportedEncoding("br")
        super().__init__(max_output)
        self._obj = brotli.Decompressor()
        # brotli >= 1.2 can bound the output of each call; older versions inflate a whole chunk at once
        self._bounded = hasattr(self._obj, "can_accept_more_data")
        self._seen = False

    def decode(self, data: bytes) -> bytes:
        if not data:
            return b""
        self._seen = True
        try:
            if not self._bounded:
                return self._account(bytes(self._obj.process(data)))
            parts: list[bytes] = []
            while True:
                room = self._room()
                if room is None:
                    out = self._obj.process(data)
                else:
                    out = self._obj.process(data, output_buffer_limit=room + 1)
                parts.append(self._account(bytes(out)))
                data = b""
                if self._obj.can_accept_more_data():
                    break
            return b"".join(parts)
        except brotli.error as exc:
            raise DecodingError(f"br: {exc}") from None

    def flush(self) -> bytes:
        if self._seen and not self._obj.is_finished():
            raise DecodingError("br: truncated stream")
        return b""


class ZstdDecoder(_Capped):
    """zstd (RFC 8878), every frame of a multi-frame body, with bounded output per call
    (``max_length``, then ``b""`` until the decompressor needs input again)."""

    def __init__(self, max_output: int | None = DEFAULT_MAX_OUTPUT) -> None:
        if not _HAS_ZSTD:
            raise UnsupportedEncoding("zstd")
        super().__init__(max_output)
        self._obj = zstd.ZstdDecompressor()
        self._seen = False

    def decode(self, data: bytes) -> bytes:
        if not data:
            return b""
        self._seen = True
        parts: list[bytes] = []
        try:
            while True:
                if self._obj.eof:
                    # the next frame starts in what the finished one did not use
                    data = self._obj.unused_data + data
                    if not data:
                        break
                    self._obj = zstd.ZstdDecompressor()
                room = self._room()
                # one byte more than allowed, so exceeding the cap is noticed without inflating more
                parts.append(self._account(self._obj.decompress(data, -1 if room is None else room + 1)))
                data = b""
                if self._obj.needs_input and not (self._obj.eof and self._obj.unused_data):
                    break
        except zstd.ZstdError as exc:
            raise DecodingError(f"zstd: {exc}") from None
        return b"".join(parts)

    def flush(self) -> bytes:
        if self._seen and not self._obj.eof:
            raise DecodingError("zstd: truncated stream")
        return b""


class MultiDecoder:
    """Stacked codings. ``children`` in header order (first applied first); decoding runs in reverse."""

    def __init__(self, children: Sequence[ContentDecoder]) -> None:
        self._children = list(reversed(children))

    def decode(self, data: bytes) -> bytes:
        for child in self._children:
            data = child.decode(data)
        return data

    def flush(self) -> bytes:
        data = b""
        for child in self._children:
            data = child.decode(data) + child.flush()
        return data


_FACTORIES: dict[str, type[IdentityDecoder | GZipDecoder | DeflateDecoder | BrotliDecoder | ZstdDecoder]] = {
    "gzip": GZipDecoder,
    # RFC 9110 §8.4.1.3: recipients should treat x-gzip as gzip
    "x-gzip": GZipDecoder,
    "deflate": DeflateDecoder,
    "br": BrotliDecoder,
    "zstd": ZstdDecoder,
}


def build_decoder(
    content_encoding: str | None, *, max_output: int | None = DEFAULT_MAX_OUTPUT
) -> ContentDecoder:
    """A decoder for a ``Content-Encoding`` header value (``None``/empty/``identity`` → identity).

    Tokens are case-insensitive and comma-separated; ``identity`` tokens are skipped. ``compress``,
    ``br`` without the brotli package, ``zstd`` without its module and anything unknown raise
    :class:`UnsupportedEncoding` now, before a byte is forwarded.
    """
    codings = [t.strip().lower() for t in (content_encoding or "").split(",")]
    codings = [c for c in codings if c and c != "identity"]
    children: list[ContentDecoder] = []
    for coding in codings:
        factory = _FACTORIES.get(coding)
        if factory is None or (coding == "br" and not _HAS_BROTLI) or (coding == "zstd" and not _HAS_ZSTD):
            raise UnsupportedEncoding(coding)
        children.append(factory(max_output))
    if not children:
        return IdentityDecoder(max_output)
    if len(children) == 1:
        return children[0]
    return MultiDecoder(children)


def looks_plain(data: bytes) -> bool:
    """True when ``data`` starts like the JSON or SSE text it is labelled as encoding, i.e. a gateway
    copied an upstream ``Content-Encoding`` after its client had already decoded the body."""
    head = data[:16].lstrip()
    return sniff_compressed(data) is None and (
        head[:1] in (b"{", b"[") or head.startswith((b"data:", b":", b"event:", b"id:", b"retry:"))
    )


def sniff_compressed(data: bytes) -> str | None:
    """The coding the first bytes of a body reveal, for bodies whose headers lie.

    Recognises gzip (``1f 8b``), zstd frames (``28 b5 2f fd``) and zlib-wrapped deflate (CMF/FLG with
    method 8 and a valid header checksum; JSON and SSE never start with ``x``). Brotli has no magic
    number and raw deflate none either, so those return None like plain text.
    """
    if data[:2] == b"\x1f\x8b":
        return "gzip"
    if data[:4] == b"\x28\xb5\x2f\xfd":
        return "zstd"
    if len(data) >= 2 and data[0] & 0x0F == 8 and data[0] >> 4 <= 7 and (data[0] << 8 | data[1]) % 31 == 0:
        return "deflate"
    return None
