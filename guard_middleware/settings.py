"""Configuration: ``GUARD_*`` environment variables over an optional TOML/YAML/JSON file.

The file may be written in three forms, which can be combined:
- the seed gateway form: a ``[features.guardrails]`` table (``input``, ``output``, ``pii``, ``audit``);
- the native form: the same keys at the top level or under ``[guard]``, plus lists (``providers``,
  ``guardrails``, ``policies``);
- LiteLLM's ``guardrails:`` list (``guardrail_name`` + ``litellm_params``).
Precedence: constructor arguments > environment (``GUARD_`` prefix, ``__`` for nesting) > file > defaults.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, SettingsError

from guard_middleware.checks.pii import IpAddressRules
from guard_middleware.errors import ConfigError
from guard_middleware.formats import DEFAULT_ROUTES

DEFAULT_PII_TYPES = ("EMAIL", "PHONE", "SSN", "CREDIT_CARD", "IP_ADDRESS")
#: what `GuardMiddleware()` with nothing configured redacts, both ways (the seed's `[pii]` defaults and
#: the secret family)
BASELINE_PII_TYPES = ("EMAIL", "PHONE", "SSN", "CREDIT_CARD", "SECRET")
#: the settings that say what to check: when none is given, the baseline applies
POLICY_FIELDS = frozenset({"pii", "input", "output", "guardrails", "policies"})

log = logging.getLogger("guard_middleware")

#: top-level sections of a LiteLLM proxy config besides ``guardrails:``, skipped when the file is one
LITELLM_SECTIONS = frozenset(
    {"model_list", "general_settings", "router_settings", "litellm_settings", "environment_variables"}
)

#: ``GUARD_`` variables read outside the settings model
OTHER_ENV = frozenset({"GUARD_AUDIT_HASH_KEY"})


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PhaseSettings(_Section):
    enabled: bool = True
    timeout_ms: int = Field(default=5000, ge=1)
    on_timeout: Literal["block", "allow", "log_and_allow"] = "block"
    on_error: Literal["block", "allow", "log_and_allow"] = "block"
    default_action: str = "block"
    actions: dict[str, str] = Field(default_factory=dict)
    # The seed's single provider table, and the native list of checks/providers (local ones run first).
    provider: dict[str, Any] | None = None
    providers: list[dict[str, Any]] = Field(default_factory=list)
    # Names of named guardrails (from ``guardrails``) that this phase always runs.
    guardrails: list[str] = Field(default_factory=list)

    # Action names are validated when the policy is compiled, where the error can name the exact key.

    def provider_tables(self) -> list[dict[str, Any]]:
        return ([self.provider] if self.provider else []) + list(self.providers)


class InputSettings(PhaseSettings):
    mode: Literal["blocking", "concurrent"] = "blocking"


class BufferedMode(_Section):
    buffer_tokens: int = Field(default=100, ge=1)


class OutputSettings(PhaseSettings):
    # "final_only" | "per_chunk" | {buffered = {buffer_tokens = N}}
    streaming_mode: Literal["final_only", "per_chunk"] | dict[Literal["buffered"], BufferedMode] = (
        "final_only"
    )
    # Longest text a stream window may hold back waiting for a match to complete.
    max_holdback_chars: int = Field(default=4096, ge=64)


class PiiSettings(_Section):
    enabled: bool = True
    action: Literal["block", "redact", "anonymize", "log", "warn"] = "redact"
    replacement: str = "[PII REDACTED]"
    apply_to: Literal["input", "output", "both"] = "both"
    types: list[str] = Field(default_factory=lambda: list(DEFAULT_PII_TYPES))
    provider: dict[str, Any] = Field(default_factory=lambda: {"type": "regex"})
    # the debatable IP_ADDRESS families (`ip_address = {exclude_special = false}`)
    ip_address: IpAddressRules = Field(default_factory=IpAddressRules)
    # put the client's values back where the model repeats their placeholders (action "anonymize")
    restore: bool = False


class AuditSettings(_Section):
    enabled: bool = True
    log_all_evaluations: bool = False
    log_blocked: bool = True
    log_violations: bool = True
    log_redacted: bool = True
    logger: str = "guard_middleware.audit"


class MetricsSettings(_Section):
    """Prometheus metrics, on the registry given to ``GuardMiddleware(registry=...)`` (default: the
    global one)."""

    enabled: bool = True


class TracingSettings(_Section):
    """OpenTelemetry spans around each guardrail evaluation, when ``opentelemetry-api`` is installed
    and the application set a tracer provider."""

    enabled: bool = True


class CacheSettings(_Section):
    """The verdict cache of remote providers (each guardrail's ``cache_ttl_s`` says for how long)."""

    # empty: in process (bounded LRU); redis://, rediss:// or unix://: Redis, shared by replicas
    url: str = ""
    max_entries: int = Field(default=10_000, ge=1)
    key_prefix: str = "guard:verdict:"
    timeout_ms: int = Field(default=100, ge=1)

    @field_validator("url")
    @classmethod
    def _scheme(cls, url: str) -> str:
        if url and not url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(
                f"unsupported cache URL scheme {url.split('://', 1)[0]!r}; "
                "expected redis://, rediss:// or unix:// (or empty for the in-process cache)"
            )
        return url


class PolicySettings(_Section):
    """Layered guardrail lists (base → team level → team guardrails → direct Bedrock id → named in the
    request). Teams, levels and the Bedrock template are checked when the policy is compiled, where
    errors can name the exact key."""

    header: str | None = None
    request_key: str | None = None
    # team -> a list of guardrail names, or a table (``guardrail_level``, ``guardrails``,
    # ``guardrail_id``, ``guardrail_version``; or the seed's ``metadata`` table holding them)
    teams: dict[str, list[str] | dict[str, Any]] = Field(default_factory=dict)
    # level -> guardrail names, or Bedrock guardrails as tables (``guardrailIdentifier`` /
    # ``guardrailVersion``, the seed's ``guardrail_levels`` JSON) built from the ``bedrock`` template
    levels: dict[str, list[str | dict[str, Any]]] = Field(
        default_factory=dict, validation_alias=AliasChoices("levels", "guardrail_levels")
    )
    # levels (or guardrail names) every request gets: the seed's ``base_guardrail``
    base: list[str] = Field(default_factory=list, validation_alias=AliasChoices("base", "base_guardrail"))
    # how a Bedrock guardrail that is known only by its id is called (region, credentials, masking,
    # allowed ids)
    bedrock: dict[str, Any] | None = None

    @field_validator("base", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class GuardSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="GUARD_", env_nested_delimiter="__", extra="forbid", case_sensitive=False
    )

    config_file: Path | None = None
    enabled: bool = True
    routes: list[str] = Field(default_factory=lambda: list(DEFAULT_ROUTES))
    # POST bodies under ``api_prefix`` on routes no format owns: "pass" (audited) or "block" (400).
    unknown_routes: Literal["pass", "block"] = "pass"
    api_prefix: str = "/v1/"
    max_body_bytes: int = Field(default=1024 * 1024, ge=1)
    input: InputSettings = Field(default_factory=InputSettings)
    output: OutputSettings = Field(default_factory=OutputSettings)
    pii: PiiSettings | None = None
    audit: AuditSettings = Field(default_factory=AuditSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    tracing: TracingSettings = Field(default_factory=TracingSettings)
    cache: CacheSettings = Field(default_factory=CacheSettings)
    guardrails: list[dict[str, Any]] = Field(default_factory=list)
    policies: PolicySettings | None = None
    # Header a client may use to name extra guardrails (comma-separated).
    guardrails_header: str = "X-Guardrails"
    # Also send LiteLLM's ``x-litellm-applied-guardrails`` (same comma-separated list).
    litellm_headers: bool = False
    # Threads per blocking (boto3) guardrail; None: as many as its connections (max_connections).
    blocking_pool_size: int | None = Field(default=None, ge=1)
    # Connections per remote guardrail unless its table sets `max_connections`: a provider answering in
    # 2 s at 250 requests/s has 500 calls in flight (Little's law); more is a provider quota matter.
    provider_max_connections: int = Field(default=512, ge=1)

    @model_validator(mode="after")
    def _baseline(self) -> GuardSettings:
        # Nothing about what to check was configured (no `pii`, `input`, `output`, `guardrails` nor
        # `policies`, from any source): the one-line install still protects, with the baseline.
        if not POLICY_FIELDS & self.model_fields_set:
            self.pii = PiiSettings(types=list(BASELINE_PII_TYPES))
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _FileSource(settings_cls, init_settings))

    @classmethod
    def load(cls, **overrides: Any) -> GuardSettings:
        """Build settings, turning every validation problem into a ``ConfigError`` that names the key."""
        warn_unknown_env(os.environ)
        try:
            return cls(**overrides)
        except ValidationError as exc:
            err = exc.errors()[0]
            key = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"]).lstrip(".")
            config_file = overrides.get("config_file") or os.environ.get("GUARD_CONFIG_FILE")
            raise ConfigError(
                written_key(key or "settings", config_file), err["msg"].removeprefix("Value error, ")
            ) from None
        except SettingsError as exc:
            # A complex value (a list, a table) in the environment is JSON: `GUARD_ROUTES=/v1/x` is not.
            field = re.search(r'field "([^"]+)"', str(exc))
            name = field.group(1) if field else "settings"
            raise ConfigError(
                f"GUARD_{name.upper()}",
                "not valid JSON; a list or a table is written as JSON, "
                "e.g. GUARD_ROUTES='[\"/v1/chat/completions\"]'",
            ) from None


def warn_unknown_env(environ: Mapping[str, str]) -> list[str]:
    """Log (WARNING) and return the ``GUARD_`` variables no setting reads: a misspelt
    ``GUARD_PII__ACTON`` would otherwise be ignored without a word. Checked to the top-level field."""
    fields = {name.upper() for name in GuardSettings.model_fields}
    unknown = sorted(
        key
        for key in environ
        if key.upper().startswith("GUARD_")
        and key.upper() not in OTHER_ENV
        and key.upper()[len("GUARD_") :].split("__", 1)[0] not in fields
    )
    for key in unknown:
        log.warning("ignoring %s: no guard_middleware setting has that name", key)
    return unknown


class _FileSource(PydanticBaseSettingsSource):
    def __init__(self, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource) -> None:
        super().__init__(settings_cls)
        self._init = init_settings

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ returns the whole mapping

    def __call__(self) -> dict[str, Any]:
        init_kwargs = getattr(self._init, "init_kwargs", {}) or {}
        path = init_kwargs.get("config_file") or os.environ.get("GUARD_CONFIG_FILE")
        if not path:
            return {}
        return load_config_file(Path(path))


def load_config_file(path: Path) -> dict[str, Any]:
    doc = _read_document(path)
    try:
        expanded: dict[str, Any] = _expand(_select(doc), "")
    except ConfigError as exc:
        raise ConfigError(_written(exc.key, doc), exc.message) from None
    return expanded


def written_key(key: str, config_file: str | Path | None) -> str:
    """``key``, a path in the settings (``pii.action``, ``guardrails[1].litellm_params.mode``), as the
    user wrote it in ``config_file``: under ``features.guardrails.`` in the seed form, under ``guard.`` in
    a ``[guard]`` table, as is at the top level (native form, LiteLLM ``guardrails:`` list). A key the
    file does not set (it came from the environment or an argument) is returned unchanged. Reads the file
    again: only called on the way to a ``ConfigError``."""
    if not config_file:
        return key
    try:
        doc = _read_document(Path(config_file))
    except ConfigError:
        return key
    return _written(key, doc)


def _written(key: str, doc: Mapping[str, Any]) -> str:
    table, prefix = _form(doc)
    first = re.split(r"[.\[]", key, maxsplit=1)[0]
    if first == "guardrails" and not isinstance(table.get("guardrails"), list):
        # a top-level (LiteLLM) `guardrails:` list beside a seed or [guard] table
        table, prefix = doc, ""
    if first not in table:
        return key
    names = [part.split("[", 1)[0].upper() for part in key.split(".")]
    if any(f"GUARD_{'__'.join(names[:n])}" in os.environ for n in range(1, len(names) + 1)):
        return key  # the environment overrides the file there
    return prefix + key


def _form(doc: Mapping[str, Any]) -> tuple[Mapping[str, Any], str]:
    """The table holding our settings in ``doc`` and the prefix of its keys as written."""
    features = doc.get("features")
    if isinstance(features, dict) and isinstance(features.get("guardrails"), dict):
        return features["guardrails"], "features.guardrails."
    if isinstance(doc.get("guard"), dict):
        return doc["guard"], "guard."
    return doc, ""


def _read_document(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError("config_file", f"cannot read {path}: {exc.strerror}") from None
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            doc: Any = tomllib.loads(raw.decode("utf-8"))
        elif suffix in (".yaml", ".yml"):
            import yaml

            doc = yaml.safe_load(raw) or {}
        elif suffix == ".json":
            doc = json.loads(raw)
        else:
            raise ConfigError(
                "config_file", f"{path}: unknown extension {suffix!r} (use .toml, .yaml or .json)"
            )
    except (tomllib.TOMLDecodeError, ValueError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError("config_file", f"{path} does not parse: {exc}") from None
    except Exception as exc:  # yaml.YAMLError without importing yaml at module level
        raise ConfigError("config_file", f"{path} does not parse: {exc}") from None
    if not isinstance(doc, dict):
        raise ConfigError("config_file", f"{path} must hold a table/mapping at the top level")
    return doc


def _select(doc: dict[str, Any]) -> dict[str, Any]:
    litellm = doc.get("litellm_settings")
    if isinstance(litellm, dict) and "guardrails" in litellm:
        raise ConfigError(
            "litellm_settings.guardrails",
            "LiteLLM's older guardrails form is not read; list the guardrails in the top-level "
            "`guardrails:` list (guardrail_name + litellm_params)",
        )
    table, prefix = _form(doc)
    if prefix:
        data = dict(table)
    else:
        data = {k: v for k, v in doc.items() if k != "guardrails" or isinstance(v, list)}
        for section in LITELLM_SECTIONS & data.keys():
            # a whole LiteLLM proxy config: its own sections are LiteLLM's business, not ours
            log.debug("config file: skipping LiteLLM's %r section", section)
            del data[section]
    if isinstance(doc.get("guardrails"), list):
        data.setdefault("guardrails", doc["guardrails"])
    return data


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _expand(node: Any, key: str) -> Any:
    if isinstance(node, str):

        def sub(m: re.Match[str]) -> str:
            value = os.environ.get(m.group(1))
            if value is None:
                raise ConfigError(key, f"environment variable {m.group(1)} is not set")
            return value

        return _VAR.sub(sub, node)
    if isinstance(node, dict):
        return {k: _expand(v, f"{key}.{k}" if key else str(k)) for k, v in node.items()}
    if isinstance(node, list):
        return [_expand(v, f"{key}[{i}]") for i, v in enumerate(node)]
    return node
