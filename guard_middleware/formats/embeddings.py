"""OpenAI embeddings: ``input`` is a string or a list of strings; token arrays cannot be checked. Pure."""

from __future__ import annotations

from typing import Any

from guard_middleware.formats.base import Format, ParsedRequest, common_fields, param_error


class EmbeddingsFormat(Format):
    name = "embeddings"
    route_suffixes = ("/embeddings",)
    default_routes = ("/v1/embeddings", "/embeddings")
    # vectors (float lists, or base64 floats with encoding_format "base64"), not text
    opaque_answer_keys = frozenset({"embedding"})

    def parse_request(self, body: Any, route: str) -> ParsedRequest:
        _stream, requested, stripped = common_fields(body)
        value = body.get("input")
        if isinstance(value, list):
            if not value or any(not isinstance(v, str) for v in value):
                raise param_error(
                    "'input' must be a string or a non-empty list of strings (token arrays cannot be "
                    "checked).",
                    "input",
                )
        elif not isinstance(value, str):
            raise param_error("'input' must be a string or a list of strings.", "input")
        return ParsedRequest(body, self, route, False, {}, requested, stripped, default_role="user")
