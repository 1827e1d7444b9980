"""Remote providers: the registry that turns a guardrail's ``type`` and options into a provider.

Options are validated here, at start-up, with every unknown or missing key reported as a
``ConfigError`` naming the offending setting; a built provider never re-checks its configuration.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from guard_middleware.errors import ConfigError
from guard_middleware.providers.azure_content_safety import (
    AzureContentSafetyOptions,
    AzureContentSafetyProvider,
)
from guard_middleware.providers.base import RemoteProvider
from guard_middleware.providers.bedrock import BedrockOptions, BedrockProvider
from guard_middleware.providers.custom import CustomOptions, CustomProvider
from guard_middleware.providers.dynamoai import DynamoAIOptions, DynamoAIProvider
from guard_middleware.providers.lakera import LakeraOptions, LakeraProvider
from guard_middleware.providers.openai_moderation import OpenAIModerationOptions, OpenAIModerationProvider

__all__ = ["ALIASES", "REMOTE_PROVIDER_TYPES", "build_remote", "canonical_type"]

_Builder = Callable[..., RemoteProvider]

_REGISTRY: dict[str, tuple[type[BaseModel], _Builder]] = {
    "openai_moderation": (OpenAIModerationOptions, OpenAIModerationProvider.build),
    "bedrock": (BedrockOptions, BedrockProvider.build),
    "azure_content_safety": (AzureContentSafetyOptions, AzureContentSafetyProvider.build),
    "lakera_v2": (LakeraOptions, LakeraProvider.build),
    "dynamoai": (DynamoAIOptions, DynamoAIProvider.build),
    "custom": (CustomOptions, CustomProvider.build),
}

ALIASES: dict[str, str] = {"lakera": "lakera_v2"}

REMOTE_PROVIDER_TYPES: frozenset[str] = frozenset(_REGISTRY) | frozenset(ALIASES)


def canonical_type(type_: str) -> str:
    """``lakera`` -> ``lakera_v2``; other names unchanged."""
    return ALIASES.get(type_, type_)


def _config_error(key: str, exc: ValidationError) -> ConfigError:
    # ConfigError names one setting; the first problem is the one to fix first.
    err = exc.errors()[0]
    loc = ".".join(str(part) for part in err["loc"])
    where = f"{key}.{loc}" if loc else key
    if err["type"] == "extra_forbidden":
        return ConfigError(where, "unknown option")
    if err["type"] == "missing":
        return ConfigError(where, "required option is missing")
    message = err["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    return ConfigError(where, message)


def build_remote(
    type_: str,
    options: Mapping[str, Any],
    *,
    name: str,
    key: str,
    timeout_ms: int,
    max_connections: int | None = None,
) -> RemoteProvider:
    """Validate ``options`` for ``type_`` and build the provider, once, at start-up.

    ``key`` is the dotted path of the guardrail in the configuration (``guardrails[2]``); errors name
    ``f"{key}.<option>"``. ``timeout_ms`` is the guardrail's timeout, used as the per-call HTTP timeout
    (and boto3's read timeout) so an abandoned call does not linger. ``max_connections`` is the
    guardrail's pool size; Bedrock's botocore pool follows it unless ``max_pool_connections`` is set.
    """
    entry = _REGISTRY.get(canonical_type(type_))
    if entry is None:
        valid = ", ".join(sorted(REMOTE_PROVIDER_TYPES))
        raise ConfigError(f"{key}.type", f"unknown provider type {type_!r}; expected one of {valid}")
    model, builder = entry
    try:
        parsed = model.model_validate(dict(options))
    except ValidationError as exc:
        raise _config_error(key, exc) from None
    if isinstance(parsed, BedrockOptions) and parsed.max_pool_connections is None and max_connections:
        parsed = parsed.model_copy(update={"max_pool_connections": max_connections})
    return builder(parsed, name=name, key=key, timeout_ms=timeout_ms)
