"""Settings compiled once at start-up into the objects the hot path uses. Pure (no aiohttp)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import unquote

from guard_middleware.cache import config_fingerprint
from guard_middleware.checks.base import TextCheck
from guard_middleware.checks.blocklist import build_blocklist
from guard_middleware.checks.limits import ContentLimits, build_content_limits
from guard_middleware.checks.pii import PiiCheck, build_pii_regex
from guard_middleware.config_litellm import _BEDROCK as LITELLM_BEDROCK_KEYS
from guard_middleware.config_litellm import guardrails_from_litellm
from guard_middleware.errors import ConfigError
from guard_middleware.formats import Format, format_for_route
from guard_middleware.providers import REMOTE_PROVIDER_TYPES, build_remote, canonical_type
from guard_middleware.providers.base import RemoteProvider
from guard_middleware.settings import GuardSettings, OutputSettings, PhaseSettings, written_key
from guard_middleware.verdict import Action, Phase

if TYPE_CHECKING:
    from guard_middleware.teams import BuildBedrock, TeamPolicies

LOCAL_TYPES = ("blocklist", "pii_regex", "content_limits")
# Keys the policy layer owns; everything else in a provider table belongs to the provider.
COMMON_KEYS = frozenset(
    {
        "name",
        "type",
        "enabled",
        "mode",
        "default_on",
        "timeout_ms",
        "on_timeout",
        "on_error",
        "actions",
        "default_action",
        "disable_exception_on_block",
        "description",
        "replacement",
        "cache_ttl_s",
        "max_connections",
    }
)
# Default verdict cache TTL per provider type (seconds; 0: off). A provider whose request carries only
# the checked text and its static configuration gives the same verdict for the same payload; the custom
# webhook also receives the request id, route and metadata, and may decide on them or keep state.
DEFAULT_CACHE_TTL_S: Mapping[str, float] = {
    "openai_moderation": 300.0,
    "azure_content_safety": 300.0,
    "bedrock": 300.0,
    "lakera_v2": 300.0,
    "lakera": 300.0,
    "dynamoai": 300.0,
    "custom": 0.0,
}
MODE_PHASE = {"pre_call": Phase.INPUT, "during_call": Phase.INPUT, "post_call": Phase.OUTPUT}
ErrorPolicy = Literal["block", "allow", "log_and_allow"]


@dataclass(frozen=True, slots=True)
class ActionTable:
    by_category: Mapping[str, Action]
    default: Action

    def resolve(self, category: str) -> Action:
        # Category keys match case-insensitively (peer lesson: HATE vs hate silently fell through).
        return self.by_category.get(category.casefold(), self.default)

    @classmethod
    def build(cls, actions: Mapping[str, str], default: str, key: str) -> ActionTable:
        table: dict[str, Action] = {}
        for category, value in actions.items():
            try:
                table[category.casefold()] = Action.parse(value)
            except ValueError as exc:
                raise ConfigError(f"{key}.actions.{category}", str(exc)) from None
        try:
            default_action = Action.parse(default)
        except ValueError as exc:
            raise ConfigError(f"{key}.default_action", str(exc)) from None
        return cls(table, default_action)


@dataclass(eq=False, slots=True)
class Guardrail:
    name: str
    phases: frozenset[Phase]
    key: str
    text_check: TextCheck | None = None
    limits: ContentLimits | None = None
    remote: RemoteProvider | None = None
    default_on: bool = True
    concurrent: bool = False
    # Set for the [pii] section: its action applies to every finding whatever the category.
    forced_action: Action | None = None
    anonymize: bool = False
    replacement: str = "[REDACTED]"
    actions: ActionTable | None = None
    timeout_s: float = 5.0
    on_timeout: ErrorPolicy = "block"
    on_error: ErrorPolicy = "block"
    disable_exception_on_block: bool = False
    # Known at start-up to rewrite requests (PII redaction, provider masking): cannot run concurrently.
    rewrites_input: bool = False
    # The metrics and span label when the name is not a bounded value (a Bedrock id from team metadata).
    metric_label: str | None = None
    # The connection/thread pool it shares when not its own: every Bedrock guardrail built from the
    # `policies.bedrock` template uses the template's one boto3 client, so they share one pool.
    pool: str | None = None
    # Remote providers: how long a verdict is cached (0: never), and a digest of the provider's type and
    # options that is part of every cache key (a changed configuration never reuses an old verdict).
    cache_ttl_s: float = 0.0
    cache_fingerprint: bytes = b""
    # A remote guardrail's own connection pool (and, for blocking SDKs, thread pool) size.
    max_connections: int = 512

    @property
    def is_local(self) -> bool:
        return self.remote is None

    @property
    def label(self) -> str:
        return self.metric_label or self.name


@dataclass(slots=True)
class Policy:
    enabled: bool
    routes: Mapping[str, Format]
    max_body_bytes: int
    guardrails: dict[str, Guardrail]
    base: dict[Phase, list[Guardrail]]
    phase_actions: dict[Phase, ActionTable]
    phase_enabled: dict[Phase, bool]
    input_concurrent: bool
    streaming_mode: Literal["final_only", "per_chunk", "buffered"]
    buffer_tokens: int
    max_holdback_chars: int
    teams: TeamPolicies | None = None
    team_header: str | None = None
    team_request_key: str | None = None
    guardrails_header: str = "X-Guardrails"
    litellm_headers: bool = False
    blocking_pool_size: int | None = None
    provider_max_connections: int = 512
    unknown_routes: Literal["pass", "block"] = "pass"
    api_prefix: str = "/v1/"
    # ``pii.restore``: placeholders the request was given are put back in its answer
    restore: bool = False

    def resolve_action(
        self, guardrail: Guardrail, phase: Phase, category: str, decided: Action | None
    ) -> Action:
        if decided is not None:
            return decided
        if guardrail.forced_action is not None:
            return guardrail.forced_action
        if guardrail.actions is not None and category.casefold() in guardrail.actions.by_category:
            return guardrail.actions.resolve(category)
        table = guardrail.actions or self.phase_actions[phase]
        return table.resolve(category)

    @property
    def provider_pools(self) -> dict[str, int]:
        """Each remote guardrail's connection pool size."""
        return {name: g.max_connections for name, g in self.guardrails.items() if not g.is_local}

    def select(self, phase: Phase, requested: Sequence[str], team: Sequence[Guardrail]) -> list[Guardrail]:
        """Base (operator-enforced) first, then the team's guardrails (resolved by ``teams``), then those
        the request names. A request may add guardrails but never remove an enforced one."""
        if not self.phase_enabled[phase]:
            return []
        chosen: dict[str, Guardrail] = {g.name: g for g in self.base[phase]}
        for g in team:
            if phase in g.phases:
                chosen.setdefault(g.name, g)
        for name in requested:
            g = self.guardrails[name]
            if phase in g.phases:
                chosen.setdefault(name, g)
        # Local checks first: they are cheap, and when they block no remote provider is called.
        ordered = list(chosen.values())
        return [g for g in ordered if g.is_local] + [g for g in ordered if not g.is_local]

    def unknown(self, names: Sequence[str]) -> list[str]:
        return [n for n in names if n not in self.guardrails]


def describe(policy: Policy) -> tuple[str, str | None]:
    """The start-up summary of a policy (one line), and a warning when it checks nothing by default."""

    def name(g: Guardrail) -> str:
        kind = g.remote.__class__.__name__ if g.remote is not None else "local"
        if isinstance(g.text_check, PiiCheck):
            kind = "pii " + ",".join(g.text_check.types)
        return f"{g.name} ({kind})"

    parts = [
        f"{phase.value}: {', '.join(name(g) for g in policy.base[phase]) or 'nothing'}"
        + ("" if policy.phase_enabled[phase] else " (phase disabled)")
        for phase in (Phase.INPUT, Phase.OUTPUT)
    ]
    named = sorted(g.name for g in policy.guardrails.values() if not g.default_on)
    if named:
        parts.append(f"on request: {', '.join(named)}")
    parts.append(f"streaming: {policy.streaming_mode}")
    summary = "guard_middleware policy: " + "; ".join(parts)
    if not policy.enabled:
        return summary + " (disabled)", "guard_middleware is disabled: requests pass unchecked"
    by_default = any(policy.base[p] and policy.phase_enabled[p] for p in (Phase.INPUT, Phase.OUTPUT))
    if by_default:
        return summary, None
    if named or policy.teams:
        return summary, "guard_middleware checks a request only when a team or the request names a guardrail"
    return summary, "guard_middleware checks nothing: no guardrail is configured"


def compile_policy(settings: GuardSettings) -> Policy:
    """The policy the hot path uses; a ``ConfigError`` names the key as written in the config file."""
    try:
        return _compile(settings)
    except ConfigError as exc:
        raise ConfigError(written_key(exc.key, settings.config_file), exc.message) from None


def _compile(settings: GuardSettings) -> Policy:
    guardrails: dict[str, Guardrail] = {}
    base: dict[Phase, list[Guardrail]] = {Phase.INPUT: [], Phase.OUTPUT: []}

    def add(g: Guardrail, *, enforced: bool) -> None:
        if g.name in guardrails:
            raise ConfigError(
                f"{g.key}.name", f"guardrail name {g.name!r} is used twice; give each a unique name"
            )
        guardrails[g.name] = g
        if enforced:
            for phase in sorted(g.phases):
                base[phase].append(g)

    phase_actions = {
        Phase.INPUT: ActionTable.build(settings.input.actions, settings.input.default_action, "input"),
        Phase.OUTPUT: ActionTable.build(settings.output.actions, settings.output.default_action, "output"),
    }
    pii = settings.pii
    pii_replacement = pii.replacement if pii else "[PII REDACTED]"

    # Named guardrails first, so phase sections can refer to them by name.
    for i, table in enumerate(settings.guardrails):
        key = f"guardrails[{i}]"
        native = (
            guardrails_from_litellm([table], key="guardrails", start=i)[0]
            if "litellm_params" in table
            else table
        )
        add(_build_named(native, key, settings, pii_replacement), enforced=False)
    for name, g in list(guardrails.items()):
        if g.default_on:
            for phase in sorted(g.phases):
                base[phase].append(guardrails[name])

    for phase, section in ((Phase.INPUT, settings.input), (Phase.OUTPUT, settings.output)):
        concurrent = phase is Phase.INPUT and settings.input.mode == "concurrent"
        for j, table in enumerate(section.provider_tables()):
            key = (
                f"{phase.value}.provider"
                if section.provider is table
                else f"{phase.value}.providers[{j - (1 if section.provider else 0)}]"
            )
            g = _build_guardrail(
                table,
                key,
                phases=frozenset({phase}),
                section=section,
                pii_replacement=pii_replacement,
                default_name=_default_name(table, phase, guardrails),
                max_connections=settings.provider_max_connections,
            )
            g.concurrent = concurrent
            add(g, enforced=True)
        for name in section.guardrails:
            if name not in guardrails:
                raise ConfigError(f"{phase.value}.guardrails", f"unknown guardrail name {name!r}")
            if guardrails[name] not in base[phase]:
                base[phase].append(guardrails[name])

    if pii is not None and pii.enabled:
        if pii.restore and (pii.action != "anonymize" or pii.apply_to == "output"):
            raise ConfigError(
                "pii.restore",
                "restores the values that anonymisation replaced in the request: it needs "
                'action = "anonymize" and apply_to = "input" or "both" '
                f"(here action = {pii.action!r}, apply_to = {pii.apply_to!r})",
            )
        if pii.provider.get("type", "regex") != "regex":
            raise ConfigError(
                "pii.provider.type",
                f"{pii.provider.get('type')!r} is not a local PII provider; only 'regex' is. "
                "Use a remote provider (bedrock, lakera_v2) in input/output for NAME or ADDRESS.",
            )
        phases = {"input": {Phase.INPUT}, "output": {Phase.OUTPUT}, "both": {Phase.INPUT, Phase.OUTPUT}}[
            pii.apply_to
        ]
        check = PiiCheck.for_types(pii.types, name="pii", key="pii.types", ip_rules=pii.ip_address)
        add(
            Guardrail(
                name="pii" if "pii" not in guardrails else "pii_section",
                phases=frozenset(phases),
                key="pii",
                text_check=check,
                forced_action=Action.parse(pii.action),
                anonymize=pii.action == "anonymize",
                replacement=pii.replacement,
                rewrites_input=Action.parse(pii.action) is Action.REDACT and Phase.INPUT in phases,
            ),
            enforced=True,
        )

    for g in guardrails.values():
        if g.concurrent and g.rewrites_input:
            raise ConfigError(
                f"{g.key}.mode",
                f"guardrail {g.name!r} rewrites the request, which cannot happen once the request has left; "
                "use pre_call (blocking) for it",
            )
    if settings.input.mode == "concurrent":
        for g in base[Phase.INPUT]:
            if g.rewrites_input:
                raise ConfigError(
                    "input.mode",
                    f"guardrail {g.name!r} rewrites the request, which cannot happen once the request "
                    'has left in concurrent mode; use mode = "blocking" or apply PII redaction to output '
                    "only",
                )

    mode, buffer_tokens = _streaming_mode(settings.output)
    teams: TeamPolicies | None = None
    policies = settings.policies
    if policies is not None:
        from guard_middleware.teams import compile_teams  # teams builds on this module's Guardrail

        def bedrock(table: Mapping[str, Any], key: str) -> BuildBedrock:
            return _bedrock_template(table, key, settings, pii_replacement)

        teams, enforced = compile_teams(policies, guardrails, bedrock)
        for g in enforced:
            for phase in sorted(g.phases):
                if g not in base[phase]:
                    base[phase].append(g)
    return Policy(
        enabled=settings.enabled,
        routes=_route_formats(settings.routes),
        unknown_routes=settings.unknown_routes,
        api_prefix=normalize_route(settings.api_prefix).lower().rstrip("/") + "/",
        max_body_bytes=settings.max_body_bytes,
        guardrails=guardrails,
        base=base,
        phase_actions=phase_actions,
        phase_enabled={Phase.INPUT: settings.input.enabled, Phase.OUTPUT: settings.output.enabled},
        input_concurrent=settings.input.mode == "concurrent",
        streaming_mode=mode,
        buffer_tokens=buffer_tokens,
        max_holdback_chars=settings.output.max_holdback_chars,
        teams=teams,
        team_header=policies.header if policies else None,
        team_request_key=policies.request_key if policies else None,
        guardrails_header=settings.guardrails_header,
        litellm_headers=settings.litellm_headers,
        blocking_pool_size=settings.blocking_pool_size,
        provider_max_connections=settings.provider_max_connections,
        restore=bool(pii is not None and pii.enabled and pii.restore),
    )


def _streaming_mode(output: OutputSettings) -> tuple[Literal["final_only", "per_chunk", "buffered"], int]:
    mode = output.streaming_mode
    if isinstance(mode, dict):
        return "buffered", mode["buffered"].buffer_tokens
    return mode, 0


#: a verdict older than this reflects a policy nobody remembers; and Redis refuses absurd expiries
MAX_CACHE_TTL_S = 30 * 24 * 3600


def _cache_ttl(table: Mapping[str, Any], key: str, default: float) -> float:
    value = table.get("cache_ttl_s", default)
    try:
        ttl = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{key}.cache_ttl_s", f"expected a number of seconds, got {value!r}") from None
    if isinstance(value, bool) or not 0 <= ttl <= MAX_CACHE_TTL_S:
        raise ConfigError(
            f"{key}.cache_ttl_s",
            f"must be 0 (off) or a number of seconds up to {MAX_CACHE_TTL_S} (30 days), got {value!r}",
        )
    return ttl


def _default_name(table: Mapping[str, Any], phase: Phase, existing: Mapping[str, Guardrail]) -> str:
    base = str(table.get("type", "guardrail"))
    return base if base not in existing else f"{phase.value}.{base}"


def normalize_route(path: str) -> str:
    """The path as a router or an upstream resolves it: percent-decoded, ``.`` and ``..`` segments
    resolved, repeated and trailing slashes dropped, path parameters (``;x``) removed. So
    ``//v1/./x/../chat/completions/`` and ``/v1/%2E%2E/v1/chat/completions`` both match
    ``/v1/chat/completions``."""
    path = unquote(path.split("?", 1)[0])
    parts: list[str] = []
    for part in path.split("/"):
        part = part.split(";", 1)[0]
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    return "/" + "/".join(parts)


def _route_formats(routes: list[str]) -> dict[str, Format]:
    out: dict[str, Format] = {}
    for i, route in enumerate(routes):
        key = normalize_route(route).lower()
        fmt = format_for_route(key)
        if fmt is None:
            raise ConfigError(f"routes[{i}]", f"no supported API format owns the route {route!r}")
        out[key] = fmt
    return out


def _bedrock_template(
    table: Mapping[str, Any], key: str, settings: GuardSettings, pii_replacement: str
) -> BuildBedrock:
    """``policies.bedrock``: a Bedrock guardrail table without its id (LiteLLM's key names accepted),
    built once here through the same builder as a declared one; each id then gets a guardrail sharing
    its client, timeouts, masking and error policies."""
    for own in (
        "name",
        "type",
        "default_on",
        "guardrail_id",
        "guardrail_version",
        "guardrailIdentifier",
        "guardrailVersion",
    ):
        if own in table:
            raise ConfigError(f"{key}.{own}", "not part of the template: teams and levels name the guardrail")
    native = {LITELLM_BEDROCK_KEYS.get(k, k): v for k, v in table.items()}
    proto = _build_named(
        {
            **native,
            "name": "bedrock",
            "type": "bedrock",
            "guardrail_id": "template",
            "guardrail_version": "DRAFT",
        },
        key,
        settings,
        pii_replacement,
    )
    if proto.concurrent and proto.rewrites_input:
        raise ConfigError(
            f"{key}.mode", "masking rewrites the request, which cannot happen once it has left; use pre_call"
        )
    from guard_middleware.providers.bedrock import BedrockProvider
    from guard_middleware.teams import ADHOC_LABEL, bedrock_name

    template = proto.remote
    assert isinstance(template, BedrockProvider)

    def build(guardrail_id: str, version: str, label: str | None) -> Guardrail:
        name = bedrock_name(guardrail_id, version)
        remote = template.with_guardrail(guardrail_id, version, name=name)
        # each id its own cache fingerprint: verdicts of one Bedrock guardrail never answer for another
        fingerprint = config_fingerprint(
            "bedrock", {**native, "guardrail_id": guardrail_id, "guardrail_version": version}
        )
        return replace(
            proto,
            name=name,
            remote=remote,
            metric_label=label,
            cache_fingerprint=fingerprint,
            pool=ADHOC_LABEL,
        )

    return build


def _max_connections(table: Mapping[str, Any], key: str, options: Mapping[str, Any], default: int) -> int:
    """The guardrail's pool size: its ``max_connections``, else (Bedrock) the botocore pool it set,
    else ``provider_max_connections``."""
    bedrock_pool = options.get("max_pool_connections") if table.get("type") == "bedrock" else None
    value = table.get("max_connections", default if bedrock_pool is None else bedrock_pool)
    if isinstance(value, bool) or not isinstance(value, int):
        where = "max_connections" if "max_connections" in table else "max_pool_connections"
        raise ConfigError(f"{key}.{where}", f"expected a whole number, got {value!r}")
    if value < 1:
        where = "max_connections" if "max_connections" in table else "max_pool_connections"
        raise ConfigError(f"{key}.{where}", f"must be at least 1, got {value}")
    return value


def _build_named(
    table: Mapping[str, Any], key: str, settings: GuardSettings, pii_replacement: str
) -> Guardrail:
    name = table.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{key}.name", "every named guardrail needs a non-empty 'name'")
    modes = table.get("mode", ["pre_call"])
    if isinstance(modes, str):
        modes = [modes]
    phases: set[Phase] = set()
    concurrent = False
    for m in modes:
        if m not in MODE_PHASE:
            raise ConfigError(
                f"{key}.mode", f"unknown mode {m!r}; expected pre_call, during_call or post_call"
            )
        phases.add(MODE_PHASE[m])
        concurrent = concurrent or m == "during_call"
    section: PhaseSettings = settings.input if Phase.INPUT in phases else settings.output
    g = _build_guardrail(
        table,
        key,
        phases=frozenset(phases),
        section=section,
        pii_replacement=pii_replacement,
        default_name=name,
        max_connections=settings.provider_max_connections,
    )
    g.default_on = bool(table.get("default_on", False))
    g.concurrent = concurrent
    return g


def _build_guardrail(
    table: Mapping[str, Any],
    key: str,
    *,
    phases: frozenset[Phase],
    section: PhaseSettings,
    pii_replacement: str,
    default_name: str,
    max_connections: int,
) -> Guardrail:
    type_ = table.get("type")
    if not isinstance(type_, str):
        raise ConfigError(f"{key}.type", "missing provider type")
    name = str(table.get("name") or default_name)
    options = {k: v for k, v in table.items() if k not in COMMON_KEYS}
    timeout_ms = int(table.get("timeout_ms", section.timeout_ms))
    g = Guardrail(name=name, phases=phases, key=key, timeout_s=timeout_ms / 1000.0)
    g.max_connections = _max_connections(table, key, options, max_connections)
    g.rewrites_input = Phase.INPUT in phases and bool(options.get("mask_request_content"))
    g.disable_exception_on_block = bool(table.get("disable_exception_on_block", False))
    for policy_key in ("on_timeout", "on_error"):
        value = table.get(policy_key, getattr(section, policy_key))
        if value not in ("block", "allow", "log_and_allow"):
            raise ConfigError(
                f"{key}.{policy_key}", f"unknown value {value!r}; expected block, allow or log_and_allow"
            )
        setattr(g, policy_key, value)
    if "actions" in table or "default_action" in table:
        g.actions = ActionTable.build(
            table.get("actions", {}), table.get("default_action", section.default_action), key
        )
    if "cache_ttl_s" in table and type_ not in REMOTE_PROVIDER_TYPES:
        raise ConfigError(f"{key}.cache_ttl_s", "only remote providers' verdicts are cached")
    if type_ == "blocklist":
        g.text_check = build_blocklist(options, name=name, key=key)
        g.replacement = str(table.get("replacement", "[REDACTED]"))
    elif type_ == "pii_regex":
        g.text_check = build_pii_regex(options, name=name, key=key)
        g.replacement = str(table.get("replacement", pii_replacement))
    elif type_ == "content_limits":
        g.limits = build_content_limits(options, name=name, key=key)
    elif type_ in REMOTE_PROVIDER_TYPES:
        g.remote = build_remote(
            type_, options, name=name, key=key, timeout_ms=timeout_ms, max_connections=g.max_connections
        )
        g.cache_ttl_s = _cache_ttl(table, key, DEFAULT_CACHE_TTL_S.get(type_, 0.0))
        g.cache_fingerprint = config_fingerprint(canonical_type(type_), options)
        if type_ == "custom" and options.get("retry_enabled"):
            # timeout_ms is the seed's per-request timeout; the overall deadline must leave room for the
            # retries (each attempt, plus backoff capped at 2 s), or a retry could never happen.
            retries = int(options.get("max_retries", 2))
            attempt_ms = int(options.get("attempt_timeout_ms", timeout_ms))
            g.timeout_s = (attempt_ms * (retries + 1) + 2000 * retries) / 1000.0
    else:
        valid = ", ".join((*LOCAL_TYPES, *sorted(REMOTE_PROVIDER_TYPES)))
        raise ConfigError(f"{key}.type", f"unknown provider type {type_!r}; expected one of {valid}")
    return g
