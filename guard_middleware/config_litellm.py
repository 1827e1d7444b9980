"""Read LiteLLM's ``guardrails:`` YAML list into our named-guardrail tables.

A LiteLLM entry::

    - guardrail_name: bedrock-pre-guard
      litellm_params:
        guardrail: bedrock
        mode: pre_call
        guardrailIdentifier: ff6ujrregl1q
        guardrailVersion: DRAFT
        aws_region_name: os.environ/AWS_REGION
        mask_request_content: true

becomes ``{"name": "bedrock-pre-guard", "type": "bedrock", "mode": ["pre_call"], "default_on": False,
"disable_exception_on_block": False, "guardrail_id": "ff6ujrregl1q", "guardrail_version": "DRAFT",
"region": "us-east-1", "mask_request_content": True}``.

Every ``litellm_params`` key must be understood: one we cannot honour is a ``ConfigError`` naming
it, rather than a setting that silently does nothing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from guard_middleware.errors import ConfigError

ENV_PREFIX = "os.environ/"
MODES = ("pre_call", "during_call", "post_call")

# LiteLLM `guardrail` value -> (our type, {litellm key: our option}, fixed options).
_BEDROCK = {
    "guardrailIdentifier": "guardrail_id",
    "guardrailVersion": "guardrail_version",
    "aws_region_name": "region",
    "aws_access_key_id": "access_key_id",
    "aws_secret_access_key": "secret_access_key",
    "aws_session_token": "session_token",
    "aws_profile_name": "profile_name",
    "aws_bedrock_runtime_endpoint": "endpoint_url",
    "api_base": "endpoint_url",
    "mask_request_content": "mask_request_content",
    "mask_response_content": "mask_response_content",
}
_LAKERA = {
    "api_key": "api_key",
    "api_base": "api_base",
    "project_id": "project_id",
    "payload": "payload",
    "breakdown": "breakdown",
    "metadata": "metadata",
    "dev_info": "dev_info",
    "on_flagged": "on_flagged",
    "mask_request_content": "mask_request_content",
    "mask_response_content": "mask_response_content",
}
_DYNAMO = {"api_key": "api_key", "api_base": "api_base", "policy_ids": "policy_ids", "model_id": "model_id"}
_OPENAI = {"api_key": "api_key", "api_base": "base_url", "model": "model"}
_AZURE = {
    "api_key": "api_key",
    "api_base": "endpoint",
    "api_version": "api_version",
    "blocklistNames": "blocklist_names",
    "haltOnBlocklistHit": "halt_on_blocklist_hit",
    "outputType": "output_type",
    # severity_threshold / severity_threshold_by_category are folded into `thresholds` below.
}
_CUSTOM = {
    "api_base": "url",
    "url": "url",
    "api_key": "api_key",
    "headers": "headers",
    "retry_enabled": "retry_enabled",
    "max_retries": "max_retries",
}

_TYPES: dict[str, tuple[str, Mapping[str, str], Mapping[str, Any]]] = {
    "bedrock": ("bedrock", _BEDROCK, {}),
    "lakera_v2": ("lakera_v2", _LAKERA, {}),
    "lakera": ("lakera_v2", _LAKERA, {}),
    "dynamoai": ("dynamoai", _DYNAMO, {}),
    "openai_moderation": ("openai_moderation", _OPENAI, {}),
    "azure/text_moderations": ("azure_content_safety", _AZURE, {}),
    "azure/prompt_shield": (
        "azure_content_safety",
        {"api_key": "api_key", "api_base": "endpoint", "api_version": "api_version"},
        {"prompt_shields": True, "analyze_text": False},
    ),
    "custom": ("custom", _CUSTOM, {}),
}

# Keys LiteLLM reads itself that describe the guardrail, not the provider.
_COMMON = frozenset({"guardrail", "mode", "default_on", "disable_exception_on_block", "cache_ttl_s"})
# Accepted and ignored: they only affect LiteLLM's own logging/UI.
_IGNORED = frozenset({"guardrail_info", "description"})

_AZURE_CATEGORIES = ("Hate", "SelfHarm", "Sexual", "Violence")


def _resolve(value: Any, where: str) -> Any:
    """``os.environ/VAR`` -> the variable's value, anywhere inside ``value``."""
    if isinstance(value, str) and value.startswith(ENV_PREFIX):
        var = value[len(ENV_PREFIX) :]
        resolved = os.environ.get(var)
        if resolved is None:
            raise ConfigError(where, f"environment variable {var} is not set")
        return resolved
    if isinstance(value, list):
        return [_resolve(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        return {k: _resolve(v, f"{where}.{k}") for k, v in value.items()}
    return value


def _as_bool(value: Any, where: str) -> bool:
    # A value that came from os.environ/VAR is a string.
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
        return value.strip().lower() in ("true", "1", "yes")
    raise ConfigError(where, f"expected true or false, got {value!r}")


def _as_int(value: Any, where: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ConfigError(where, f"expected an integer, got {value!r}") from None


def _norm(category: str) -> str:
    # Azure categories are matched case- and separator-insensitively (SelfHarm, self_harm, self-harm).
    return "".join(c for c in category.lower() if c.isalnum())


def _modes(value: Any, where: str) -> list[str]:
    modes = [value] if isinstance(value, str) else value
    if not isinstance(modes, list) or not modes:
        raise ConfigError(where, "expected pre_call, during_call, post_call or a list of them")
    for m in modes:
        if m not in MODES:
            raise ConfigError(where, f"unknown mode {m!r}; expected one of {', '.join(MODES)}")
    return list(dict.fromkeys(modes))


def _entries(doc: Mapping[str, Any] | Sequence[Any], key: str) -> Sequence[Any]:
    if isinstance(doc, Mapping):
        entries = doc.get(key, [])
        if entries is None:
            return []
        if not isinstance(entries, list):
            raise ConfigError(key, "expected a list of guardrails")
        return entries
    return doc


def guardrails_from_litellm(
    doc: Mapping[str, Any] | Sequence[Any], *, key: str = "guardrails", start: int = 0
) -> list[dict[str, Any]]:
    """Translate LiteLLM guardrail entries into our named-guardrail tables.

    ``doc`` is either a whole LiteLLM config (the list is read from ``doc[key]``) or the list of entries
    itself. Errors name ``f"{key}[i]..."``, with ``i`` counted from ``start``.
    """
    out: list[dict[str, Any]] = []
    for offset, entry in enumerate(_entries(doc, key)):
        where = f"{key}[{start + offset}]"
        out.append(_translate(entry, where))
    return out


def _translate(entry: Any, where: str) -> dict[str, Any]:
    if not isinstance(entry, Mapping):
        raise ConfigError(where, "expected a table with guardrail_name and litellm_params")
    for k in entry:
        if k not in ("guardrail_name", "litellm_params", "default_on", *_IGNORED):
            raise ConfigError(f"{where}.{k}", "unknown key")
    name = entry.get("guardrail_name")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{where}.guardrail_name", "required")
    params = entry.get("litellm_params")
    if not isinstance(params, Mapping):
        raise ConfigError(f"{where}.litellm_params", "required table")
    pwhere = f"{where}.litellm_params"
    kind = params.get("guardrail")
    if kind == "presidio":
        # Presidio is a separate service we do not call; its local equivalent is the `pii` section.
        restore_hint = "; for output_parse_pii set pii.restore = true" if "output_parse_pii" in params else ""
        raise ConfigError(
            f"{pwhere}.output_parse_pii" if "output_parse_pii" in params else f"{pwhere}.guardrail",
            "guardrail 'presidio' is not supported (Presidio is not called); anonymise locally with the "
            f'pii section: action = "anonymize"{restore_hint}',
        )
    if kind not in _TYPES:
        hint = ""
        if isinstance(kind, str) and "." in kind:
            hint = " (Python plugin classes cannot be loaded; use type 'custom' with a webhook)"
        elif kind == "generic_guardrail_api":
            hint = " (LiteLLM's generic API protocol is not spoken; use type 'custom', see its contract)"
        raise ConfigError(
            f"{pwhere}.guardrail",
            f"unsupported guardrail {kind!r}; expected one of {', '.join(sorted(_TYPES))}{hint}",
        )
    type_, mapping, fixed = _TYPES[kind]
    table: dict[str, Any] = {
        "name": name,
        "type": type_,
        "mode": _modes(params.get("mode", "pre_call"), f"{pwhere}.mode"),
        "default_on": _as_bool(
            params.get("default_on", entry.get("default_on", False)), f"{pwhere}.default_on"
        ),
        "disable_exception_on_block": _as_bool(
            params.get("disable_exception_on_block", False), f"{pwhere}.disable_exception_on_block"
        ),
    }
    if "cache_ttl_s" in params:
        # Ours (LiteLLM has no verdict cache): how long this guardrail's verdicts are cached.
        ttl = _resolve(params["cache_ttl_s"], f"{pwhere}.cache_ttl_s")
        try:
            table["cache_ttl_s"] = float(ttl)
        except (TypeError, ValueError):
            raise ConfigError(f"{pwhere}.cache_ttl_s", f"expected a number of seconds, got {ttl!r}") from None
        if not table["cache_ttl_s"] >= 0:
            raise ConfigError(f"{pwhere}.cache_ttl_s", f"must be 0 (off) or a positive number, got {ttl!r}")
    options: dict[str, Any] = dict(fixed)
    thresholds: dict[str, tuple[Any, str]] = {}
    for k, raw in params.items():
        if k in _COMMON or k in _IGNORED:
            continue
        value = _resolve(raw, f"{pwhere}.{k}")
        if type_ == "azure_content_safety" and k == "severity_threshold" and "analyze_text" not in fixed:
            for category in _AZURE_CATEGORIES:
                thresholds.setdefault(_norm(category), (value, f"{pwhere}.{k}"))
            continue
        if (
            type_ == "azure_content_safety"
            and k == "severity_threshold_by_category"
            and "analyze_text" not in fixed
        ):
            if not isinstance(value, Mapping):
                raise ConfigError(f"{pwhere}.{k}", "expected a table of category: severity")
            for category, level in value.items():
                thresholds[_norm(str(category))] = (level, f"{pwhere}.{k}.{category}")
            continue
        if k == "max_connections":
            # Ours, not LiteLLM's: the guardrail's connection pool (see the README).
            table[k] = _as_int(value, f"{pwhere}.{k}")
            if table[k] < 1:
                raise ConfigError(f"{pwhere}.{k}", "must be at least 1")
            continue
        if k == "aws_role_name":
            raise ConfigError(
                f"{pwhere}.{k}",
                "inline role assumption is not supported; put role_arn/source_profile in an AWS profile "
                "and set aws_profile_name",
            )
        option = mapping.get(k)
        if option is None:
            raise ConfigError(f"{pwhere}.{k}", f"not supported for guardrail {kind!r}")
        if option.startswith("mask_") or option in (
            "payload",
            "breakdown",
            "dev_info",
            "retry_enabled",
            "halt_on_blocklist_hit",
        ):
            value = _as_bool(value, f"{pwhere}.{k}")
        options[option] = value
    if thresholds:
        # severity_threshold_by_category wins over the blanket severity_threshold, in either order.
        options["thresholds"] = {c: _as_int(v, w) for c, (v, w) in thresholds.items()}
    table.update(options)
    return table
