from __future__ import annotations

import gzip
import sys
import zlib

import brotli
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

if sys.version_info >= (3, 14):
    from compression import zstd
else:
    from backports import zstd

from guard_middleware.decoders import (
    ContentDecoder,
    DecodedTooLarge,
    DecodingError,
    UnsupportedEncoding,
    build_decoder,
    sniff_compressed,
)

PLAIN = b'data: {"choices":[{"delta":{"content":"hello world"}}]}\n\n' * 40


def raw_deflate(data: bytes) -> bytes:
    obj = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return obj.compress(data) + obj.flush()


ENCODERS = {
    "gzip": gzip.compress,
    "deflate": zlib.compress,
    "br": brotli.compress,
    "zstd": zstd.compress,
}


def decode_bytewise(decoder: ContentDecoder, data: bytes) -> bytes:
    out = b"".join(decoder.decode(data[i : i + 1]) for i in range(len(data)))
    return out + decoder.flush()


@pytest.mark.parametrize("coding", sorted(ENCODERS))
def test_each_coding_round_trips_when_fed_one_byte_at_a_time(coding: str) -> None:
    assert decode_bytewise(build_decoder(coding), ENCODERS[coding](PLAIN)) == PLAIN


def test_raw_deflate_without_zlib_wrapper_is_accepted_as_deflate() -> None:
    assert decode_bytewise(build_decoder("deflate"), raw_deflate(PLAIN)) == PLAIN


def test_raw_deflate_in_one_piece_is_accepted_as_deflate() -> None:
    decoder = build_decoder("deflate")
    assert decoder.decode(raw_deflate(PLAIN)) + decoder.flush() == PLAIN


def test_stacked_codings_are_decoded_in_reverse_order() -> None:
    body = brotli.compress(gzip.compress(PLAIN))
    assert decode_bytewise(build_decoder("gzip, br"), body) == PLAIN


def test_stacked_codings_in_the_other_order_are_decoded_too() -> None:
    body = gzip.compress(zlib.compress(PLAIN))
    decoder = build_decoder("Deflate,GZIP")
    assert decoder.decode(body) + decoder.flush() == PLAIN


def test_identity_and_missing_header_pass_bytes_through() -> None:
    for header in (None, "", "identity", " Identity "):
        decoder = build_decoder(header)
        assert decoder.decode(b"abc") + decoder.flush() == b"abc"


def test_x_gzip_is_treated_as_gzip() -> None:
    decoder = build_decoder("x-gzip")
    assert decoder.decode(gzip.compress(b"hi")) + decoder.flush() == b"hi"


def test_concatenated_gzip_members_are_all_decoded() -> None:
    body = gzip.compress(b"first ") + gzip.compress(b"second")
    assert decode_bytewise(build_decoder("gzip"), body) == b"first second"


def test_concatenated_zstd_frames_are_all_decoded() -> None:
    body = zstd.compress(b"first ") + zstd.compress(b"second")
    assert decode_bytewise(build_decoder("zstd"), body) == b"first second"
    decoder = build_decoder("zstd")
    assert decoder.decode(body) + decoder.flush() == b"first second"


def test_zstd_stacked_with_gzip_is_decoded() -> None:
    assert decode_bytewise(build_decoder("zstd, gzip"), gzip.compress(zstd.compress(PLAIN))) == PLAIN


def test_garbage_after_a_zstd_frame_raises_decoding_error() -> None:
    decoder = build_decoder("zstd")
    with pytest.raises(DecodingError):
        decoder.decode(zstd.compress(PLAIN) + b"trailing junk")


@pytest.mark.parametrize("header", ["compress", "bogus", "gzip, compress", "br;q=1"])
def test_unknown_or_unavailable_codings_raise_unsupported_encoding_at_build_time(header: str) -> None:
    with pytest.raises(UnsupportedEncoding) as info:
        build_decoder(header)
    assert info.value.coding in header


def test_zstd_without_its_module_is_unsupported(monkeypatch: pytest.MonkeyPatch) -> None:
    import guard_middleware.decoders as mod

    monkeypatch.setattr(mod, "_HAS_ZSTD", False)
    with pytest.raises(UnsupportedEncoding):
        mod.build_decoder("zstd")


def test_br_without_the_brotli_package_is_unsupported(monkeypatch: pytest.MonkeyPatch) -> None:
    import guard_middleware.decoders as mod

    monkeypatch.setattr(mod, "_HAS_BROTLI", False)
    with pytest.raises(UnsupportedEncoding):
        mod.build_decoder("br")


@pytest.mark.parametrize("coding", sorted(ENCODERS))
def test_a_zip_bomb_raises_decoded_too_large_past_the_cap(coding: str) -> None:
    bomb = ENCODERS[coding](b"\0" * (8 << 20))
    decoder = build_decoder(coding, max_output=1 << 20)
    with pytest.raises(DecodedTooLarge):
        decoder.decode(bomb)


def test_output_exactly_at_the_cap_is_allowed() -> None:
    decoder = build_decoder("gzip", max_output=len(PLAIN))
    assert decoder.decode(gzip.compress(PLAIN)) + decoder.flush() == PLAIN


def test_the_cap_counts_across_calls() -> None:
    decoder = build_decoder(None, max_output=10)
    decoder.decode(b"123456")
    with pytest.raises(DecodedTooLarge):
        decoder.decode(b"78901")


def test_an_inner_layer_of_stacked_codings_is_capped_too() -> None:
    # the outer gzip layer is small; the bomb is in the inner layer
    body = gzip.compress(gzip.compress(b"\0" * (8 << 20)))
    decoder = build_decoder("gzip, gzip", max_output=1 << 20)
    with pytest.raises(DecodedTooLarge):
        decoder.decode(body)


@pytest.mark.parametrize("coding", sorted(ENCODERS))
def test_a_truncated_body_raises_at_flush(coding: str) -> None:
    body = ENCODERS[coding](PLAIN)
    decoder = build_decoder(coding)
    decoder.decode(body[: len(body) // 2])
    with pytest.raises(DecodingError):
        decoder.flush()


@pytest.mark.parametrize("coding", sorted(ENCODERS))
def test_garbage_raises_decoding_error(coding: str) -> None:
    decoder = build_decoder(coding)
    with pytest.raises(DecodingError):
        decoder.decode(b"this is not compressed at all, honestly")
        decoder.flush()


def test_an_empty_compressed_body_decodes_to_nothing() -> None:
    decoder = build_decoder("gzip")
    assert decoder.flush() == b""


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (gzip.compress(b"x"), "gzip"),
        (b"\x28\xb5\x2f\xfd\x00\x00", "zstd"),
        (zlib.compress(b"x"), "deflate"),
        (b'{"model": "x"}', None),
        (b"data: {}\n\n", None),
        (b"x", None),
        (b"", None),
    ],
)
def test_sniffing_recognises_compressed_magic_numbers_and_not_plain_text(
    data: bytes, expected: str | None
) -> None:
    assert sniff_compressed(data) == expected


@settings(max_examples=60, deadline=None)
@given(
    st.binary(max_size=3000),
    st.sampled_from(["gzip", "deflate", "br", "zstd", "gzip, br", "br, deflate", "zstd, gzip"]),
    st.lists(st.integers(1, 200), max_size=20),
)
def test_any_split_of_a_compressed_body_decodes_to_the_original(
    plain: bytes, header: str, sizes: list[int]
) -> None:
    body = plain
    for coding in [c.strip() for c in header.split(",")]:
        body = ENCODERS[coding](body)
    decoder = build_decoder(header)
    out = b""
    pos = 0
    for size in sizes:
        out += decoder.decode(body[pos : pos + size])
        pos += size
    out += decoder.decode(body[pos:]) + decoder.flush()
    assert out == plain
