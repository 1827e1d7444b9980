"""Team policies: the guardrails a request's team adds, layered as the seed describes — base → the team's
level(s) → the team's own guardrail names → a Bedrock guardrail named directly by id. Pure (no aiohttp).

A team comes from the header the operator names (a team name, looked up in ``policies.teams``), a value
an auth middleware stored on the request (a team name, or the team's metadata as a mapping), or the
middleware's ``team_resolver`` (guardrail/level names, or metadata). Metadata uses the seed's keys:
``guardrail_level``, ``guardrail_id``, ``guardrail_version`` (and ``guardrails``). Only the operator's
sources (configuration, request key, resolver) can carry metadata: a client's header only names a team.

A Bedrock id that nobody declared is called through the operator's ``policies.bedrock`` template
(region, credentials, masking, pool), and only when the template's ``allowed_ids`` or
``allowed_id_pattern`` admits it; the providers built for such ids are kept in a bounded LRU.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from guard_middleware.errors import ConfigError, GuardRejection, error_body

if TYPE_CHECKING:
    from guard_middleware.policy import Guardrail
    from guard_middleware.settings import PolicySettings

#: the metrics label of every Bedrock guardrail known only at request time (ids are unbounded)
ADHOC_LABEL = "bedrock_adhoc"
#: an id or an ARN; never a comma, a space or a control character (the name lands in a header)
_ID_SHAPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9:/._-]{0,2047}")
_VERSION_SHAPE = re.compile(r"DRAFT|[1-9][0-9]{0,7}")
_TEAM_KEYS = frozenset({"guardrail_level", "guardrail_id", "guardrail_version", "guardrails", "metadata"})
#: keys of resolver metadata that name the team (LiteLLM's team object: ``team_id``, ``team_alias``)
_NAME_KEYS = ("team", "team_id", "team_alias")
#: the seed's level entries (LiteLLM's ``guardrailIdentifier``) and ours
_ID_KEYS = ("guardrailIdentifier", "guardrail_id")
_VERSION_KEYS = ("guardrailVersion", "guardrail_version")
#: template keys the team layer owns; the rest is the Bedrock guardrail's table
TEMPLATE_KEYS = frozenset({"allowed_ids", "allowed_id_pattern", "default_version", "max_cached"})

#: ``build(guardrail_id, version, metrics_label)``: a guardrail calling that Bedrock guardrail
BuildBedrock = Callable[[str, str, str | None], "Guardrail"]


class TeamPolicyError(ValueError):
    """A team table or metadata that cannot be understood; ``key`` names the offending setting."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message


def bedrock_name(guardrail_id: str, version: str) -> str:
    """The name a Bedrock guardrail known by its id has in headers and audit records."""
    return f"bedrock:{guardrail_id}:{version}"


def misconfigured(message: str) -> GuardRejection:
    """A team policy that names something the configuration does not have: the operator's mistake, so a
    500 the SDKs do not retry (``x-should-retry: false``), never a silently skipped policy."""
    return GuardRejection(
        500,
        error_body(message, code="guardrail_misconfigured", type_="server_error"),
        headers={"x-should-retry": "false"},
    )


def not_allowed(guardrail_id: str) -> GuardRejection:
    shown = guardrail_id if len(guardrail_id) <= 128 else guardrail_id[:128] + "..."
    return GuardRejection(
        403,
        error_body(
            f"Bedrock guardrail {shown!r} is not allowed by policies.bedrock (allowed_ids / "
            "allowed_id_pattern); the request was not forwarded.",
            code="guardrail_not_allowed",
            param="guardrail_id",
        ),
        headers={"x-should-retry": "false"},
    )


@dataclass(frozen=True, slots=True)
class TeamSpec:
    """What one team (or one piece of metadata) adds."""

    levels: tuple[str, ...] = ()
    guardrails: tuple[str, ...] = ()
    guardrail_id: str | None = None
    guardrail_version: str | None = None
    team: str | None = None


def _names(value: Any, key: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, Sequence) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise TeamPolicyError(key, "expected a name or a list of names")


def _version(value: Any, key: str) -> str:
    # TOML/YAML/JSON give `guardrail_version = 1` as a number.
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not _VERSION_SHAPE.fullmatch(value):
        raise TeamPolicyError(key, "must be DRAFT or a version number 1..99999999")
    return value


def parse_team(value: Mapping[str, Any], where: str, *, strict: bool) -> TeamSpec:
    """A team table (``strict``: every key must be known) or a resolver's metadata (other keys are the
    application's own and ignored). The seed's ``metadata`` table may hold the keys."""
    meta = value.get("metadata")
    fields: dict[str, Any] = {k: v for k, v in value.items() if k != "metadata"}
    if meta is not None:
        if not isinstance(meta, Mapping):
            raise TeamPolicyError(f"{where}.metadata", "expected a table")
        fields.update(meta)
    if strict:
        for k in fields:
            if k not in _TEAM_KEYS:
                key = f"{where}.metadata.{k}" if meta is not None and k in meta else f"{where}.{k}"
                raise TeamPolicyError(
                    key, "unknown key; expected guardrail_level, guardrails, guardrail_id, guardrail_version"
                )
    levels = (
        _names(fields["guardrail_level"], f"{where}.guardrail_level") if fields.get("guardrail_level") else ()
    )
    guardrails = _names(fields.get("guardrails") or (), f"{where}.guardrails")
    gid = fields.get("guardrail_id")
    version = fields.get("guardrail_version")
    if gid is not None and (not isinstance(gid, str) or not gid):
        raise TeamPolicyError(f"{where}.guardrail_id", "expected a Bedrock guardrail id or ARN")
    if version is not None:
        if gid is None:
            raise TeamPolicyError(f"{where}.guardrail_version", "given without guardrail_id")
        version = _version(version, f"{where}.guardrail_version")
    team = next((fields[k] for k in _NAME_KEYS if isinstance(fields.get(k), str) and fields[k]), None)
    return TeamSpec(levels, guardrails, gid or None, version, team)


@dataclass(frozen=True, slots=True)
class Resolution:
    """The team's guardrails in order (deduplicated, first position kept), and the team's name."""

    guardrails: tuple[Guardrail, ...] = ()
    team: str | None = None

    def __bool__(self) -> bool:
        return bool(self.guardrails) or self.team is not None


NOTHING = Resolution()


class AdhocBedrock:
    """Guardrails for Bedrock ids known only at request time, built from the operator's template.

    Those declared in the configuration (level entries, team tables) are built at start-up and kept;
    the others are built on first use — a cheap object sharing the template's boto3 client — and kept in
    an LRU of ``max_cached``. The event loop is the only user, so no lock."""

    def __init__(
        self,
        build: BuildBedrock,
        *,
        allowed_ids: frozenset[str],
        allowed_id_pattern: re.Pattern[str] | None,
        default_version: str,
        max_cached: int,
    ) -> None:
        self._build = build
        self.allowed_ids = allowed_ids
        self.allowed_id_pattern = allowed_id_pattern
        self.default_version = default_version
        self.max_cached = max_cached
        self._declared: dict[tuple[str, str], Guardrail] = {}
        self._cache: OrderedDict[tuple[str, str], Guardrail] = OrderedDict()

    def allowed(self, guardrail_id: str) -> bool:
        if not _ID_SHAPE.fullmatch(guardrail_id):
            return False
        if guardrail_id in self.allowed_ids:
            return True
        return (
            self.allowed_id_pattern is not None
            and self.allowed_id_pattern.fullmatch(guardrail_id) is not None
        )

    def declare(self, guardrail_id: str, version: str | None) -> Guardrail:
        """A guardrail the configuration names by id (start-up; its name is a bounded metrics label)."""
        key = (guardrail_id, version or self.default_version)
        found = self._declared.get(key)
        if found is None:
            found = self._declared[key] = self._build(key[0], key[1], None)
        return found

    def get(self, guardrail_id: str, version: str | None) -> Guardrail:
        """The guardrail for an id from request-time metadata; ``GuardRejection`` 403 if not allowed."""
        # Checked first: an id the configuration declares (in a level) is not thereby allowed by name.
        if not self.allowed(guardrail_id):
            raise not_allowed(guardrail_id)
        key = (guardrail_id, version or self.default_version)
        found = self._declared.get(key)
        if found is not None:
            return found
        cache = self._cache
        found = cache.get(key)
        if found is not None:
            cache.move_to_end(key)
            return found
        found = cache[key] = self._build(key[0], key[1], ADHOC_LABEL)
        if len(cache) > self.max_cached:
            cache.popitem(last=False)
        return found

    @property
    def cached(self) -> list[tuple[str, str]]:
        """The ad-hoc (id, version) pairs held, least recently used first."""
        return list(self._cache)


class TeamPolicies:
    def __init__(
        self,
        *,
        teams: dict[str, TeamSpec],
        levels: dict[str, list[Guardrail]],
        guardrails: Mapping[str, Guardrail],
        bedrock: AdhocBedrock | None,
    ) -> None:
        self.teams = teams
        self.levels = levels
        self._guardrails = guardrails
        self.bedrock = bedrock

    def __bool__(self) -> bool:
        return bool(self.teams or self.levels or self.bedrock)

    def resolve(self, sources: Iterable[object]) -> Resolution:
        """``sources``: a team name (header, request key: looked up in ``policies.teams``; an unknown
        name adds nothing), a metadata mapping (request key, resolver), or a list of guardrail and level
        names (resolver). Raises ``GuardRejection``: 403 for an ad-hoc id not allowed, 500 for names the
        configuration does not have."""
        specs: list[TeamSpec] = []
        team: str | None = None
        for source in sources:
            if source is None:
                continue
            if isinstance(source, str):
                spec = self.teams.get(source)
                if spec is not None:
                    specs.append(spec)
                    team = team or source
            elif isinstance(source, Mapping):
                try:
                    spec = parse_team(source, "team metadata", strict=False)
                except TeamPolicyError as exc:
                    raise misconfigured(f"Team policy: {exc}.") from None
                if spec.team is not None:
                    team = team or spec.team
                    named = self.teams.get(spec.team)
                    if named is not None:
                        specs.append(named)
                specs.append(spec)
            elif isinstance(source, Sequence) and all(isinstance(n, str) for n in source):
                specs.append(
                    TeamSpec(
                        levels=tuple(n for n in source if n in self.levels),
                        guardrails=tuple(n for n in source if n not in self.levels),
                    )
                )
            else:
                raise misconfigured(
                    "Team policy: the team resolver returned a "
                    f"{type(source).__name__}; expected guardrail names or a metadata mapping."
                )
        if not specs:
            return Resolution(team=team) if team else NOTHING
        return Resolution(self._ordered(specs), team)

    def _ordered(self, specs: Sequence[TeamSpec]) -> tuple[Guardrail, ...]:
        # Levels, then named guardrails, then direct ids: the seed's base → level → direct id.
        chosen: dict[str, Guardrail] = {}
        unknown_levels = [lv for s in specs for lv in s.levels if lv not in self.levels]
        unknown = [n for s in specs for n in s.guardrails if n not in self._guardrails]
        if unknown_levels or unknown:
            what = []
            if unknown_levels:
                what.append(f"unknown guardrail level(s): {', '.join(unknown_levels)}")
            if unknown:
                what.append(f"unknown guardrail(s): {', '.join(unknown)}")
            raise misconfigured(f"Team policy names {'; '.join(what)}.")
        for s in specs:
            for level in s.levels:
                for g in self.levels[level]:
                    chosen.setdefault(g.name, g)
        for s in specs:
            for name in s.guardrails:
                chosen.setdefault(name, self._guardrails[name])
        for s in specs:
            if s.guardrail_id is None:
                continue
            if self.bedrock is None:
                raise misconfigured(
                    "Team policy names Bedrock guardrail id(s), but no policies.bedrock template is "
                    "configured to call them with."
                )
            g = self.bedrock.get(s.guardrail_id, s.guardrail_version)
            chosen.setdefault(g.name, g)
        return tuple(chosen.values())


def compile_teams(
    policies: PolicySettings,
    guardrails: Mapping[str, Guardrail],
    build_bedrock: Callable[[Mapping[str, Any], str], BuildBedrock],
) -> tuple[TeamPolicies, list[Guardrail]]:
    """The team policies, and the guardrails ``policies.base`` adds to every request (in order)."""
    bedrock = _template(policies.bedrock, build_bedrock) if policies.bedrock is not None else None

    def by_id(entry: Mapping[str, Any], key: str) -> Guardrail:
        gid = next((entry[k] for k in _ID_KEYS if k in entry), None)
        version = next((entry[k] for k in _VERSION_KEYS if k in entry), None)
        for k in entry:
            if k not in _ID_KEYS and k not in _VERSION_KEYS:
                raise ConfigError(
                    f"{key}.{k}", "unknown key; expected guardrailIdentifier and guardrailVersion"
                )
        if not isinstance(gid, str) or not gid:
            raise ConfigError(f"{key}.guardrailIdentifier", "required: the Bedrock guardrail id")
        if bedrock is None:
            raise ConfigError(
                key,
                "a Bedrock guardrail given by id needs the policies.bedrock template (region, credentials)",
            )
        try:
            v = _version(version, f"{key}.guardrailVersion") if version is not None else None
        except TeamPolicyError as exc:
            raise ConfigError(exc.key, exc.message) from None
        return bedrock.declare(gid, v)

    levels: dict[str, list[Guardrail]] = {}
    for level, entries in policies.levels.items():
        key = f"policies.levels.{level}"
        if level in guardrails:
            raise ConfigError(key, f"{level!r} is also a guardrail's name; a level needs a name of its own")
        members: dict[str, Guardrail] = {}
        for i, entry in enumerate(entries):
            if isinstance(entry, str):
                if entry not in guardrails:
                    raise ConfigError(f"{key}[{i}]", f"unknown guardrail name {entry!r}")
                g = guardrails[entry]
            else:
                g = by_id(entry, f"{key}[{i}]")
            members.setdefault(g.name, g)
        levels[level] = list(members.values())

    teams: dict[str, TeamSpec] = {}
    for team, value in policies.teams.items():
        key = f"policies.teams.{team}"
        if isinstance(value, list):
            missing = [n for n in value if n not in guardrails and n not in levels]
            if missing:
                raise ConfigError(key, f"unknown guardrail name(s): {', '.join(missing)}")
            spec = TeamSpec(
                levels=tuple(n for n in value if n in levels),
                guardrails=tuple(n for n in value if n not in levels),
            )
        else:
            try:
                spec = parse_team(value, key, strict=True)
            except TeamPolicyError as exc:
                raise ConfigError(exc.key, exc.message) from None
            for level in spec.levels:
                if level not in levels:
                    known = ", ".join(sorted(levels)) or "none is configured in policies.levels"
                    raise ConfigError(f"{key}.guardrail_level", f"unknown level {level!r} (levels: {known})")
            for name in spec.guardrails:
                if name not in guardrails:
                    raise ConfigError(f"{key}.guardrails", f"unknown guardrail name {name!r}")
            if spec.guardrail_id is not None:
                if bedrock is None:
                    raise ConfigError(
                        f"{key}.guardrail_id",
                        "a Bedrock guardrail given by id needs the policies.bedrock template (region, "
                        "credentials)",
                    )
                if not bedrock.allowed(spec.guardrail_id):
                    raise ConfigError(
                        f"{key}.guardrail_id",
                        f"{spec.guardrail_id!r} is not allowed by policies.bedrock.allowed_ids / "
                        "allowed_id_pattern",
                    )
                bedrock.declare(spec.guardrail_id, spec.guardrail_version)
        teams[team] = spec

    base: dict[str, Guardrail] = {}
    for name in policies.base:
        if name in levels:
            for g in levels[name]:
                base.setdefault(g.name, g)
        elif name in guardrails:
            base.setdefault(name, guardrails[name])
        else:
            raise ConfigError("policies.base", f"unknown level or guardrail name {name!r}")
    return TeamPolicies(teams=teams, levels=levels, guardrails=guardrails, bedrock=bedrock), list(
        base.values()
    )


def _template(
    table: Mapping[str, Any], build_bedrock: Callable[[Mapping[str, Any], str], BuildBedrock]
) -> AdhocBedrock:
    key = "policies.bedrock"
    allowed = table.get("allowed_ids", [])
    if not isinstance(allowed, list) or not all(isinstance(a, str) and a for a in allowed):
        raise ConfigError(f"{key}.allowed_ids", "expected a list of Bedrock guardrail ids")
    pattern_text = table.get("allowed_id_pattern")
    pattern: re.Pattern[str] | None = None
    if pattern_text is not None:
        if not isinstance(pattern_text, str) or not pattern_text:
            raise ConfigError(f"{key}.allowed_id_pattern", "expected a regular expression")
        try:
            pattern = re.compile(pattern_text)
        except re.error as exc:
            raise ConfigError(f"{key}.allowed_id_pattern", f"not a valid regular expression: {exc}") from None
    if not allowed and pattern is None:
        raise ConfigError(
            key,
            "give allowed_ids or allowed_id_pattern (matched against the whole id): a team's metadata must "
            "not be able to call any guardrail in the account",
        )
    try:
        default_version = _version(table.get("default_version", "DRAFT"), f"{key}.default_version")
    except TeamPolicyError as exc:
        raise ConfigError(exc.key, exc.message) from None
    max_cached = table.get("max_cached", 256)
    if not isinstance(max_cached, int) or isinstance(max_cached, bool) or max_cached < 1:
        raise ConfigError(f"{key}.max_cached", "expected a whole number of at least 1")
    build = build_bedrock({k: v for k, v in table.items() if k not in TEMPLATE_KEYS}, key)
    return AdhocBedrock(
        build,
        allowed_ids=frozenset(allowed),
        allowed_id_pattern=pattern,
        default_version=default_version,
        max_cached=max_cached,
    )
