"""The API formats the guard understands, and which one owns a route. Pure."""

from __future__ import annotations

from guard_middleware.formats.anthropic import AnthropicFormat
from guard_middleware.formats.base import Format, ParsedRequest
from guard_middleware.formats.embeddings import EmbeddingsFormat
from guard_middleware.formats.openai import ChatFormat, CompletionsFormat
from guard_middleware.formats.responses import ResponsesFormat

FORMATS: tuple[Format, ...] = (
    ChatFormat(),
    CompletionsFormat(),
    ResponsesFormat(),
    AnthropicFormat(),
    EmbeddingsFormat(),
)
DEFAULT_ROUTES: tuple[str, ...] = tuple(r for f in FORMATS for r in f.default_routes)


def format_for_route(route: str) -> Format | None:
    """The format owning a normalised, lower-cased route: the longest matching route ending wins
    (``/chat/completions`` before ``/completions``)."""
    best: tuple[int, Format] | None = None
    for fmt in FORMATS:
        for suffix in fmt.route_suffixes:
            if (route.endswith(suffix)) and (best is None or len(suffix) > best[0]):
                best = (len(suffix), fmt)
    return best[1] if best else None


__all__ = ["DEFAULT_ROUTES", "FORMATS", "Format", "ParsedRequest", "format_for_route"]
