"""AWS Bedrock ``ApplyGuardrail`` through boto3's ``bedrock-runtime`` client.

One content block per segment, ``source`` from the phase. Decision, per the assessments:

- any entry with action ``BLOCKED`` -> ``Action.BLOCK`` findings; ``blocked_message`` is Bedrock's
  configured blocked messaging (``outputs[0].text``);
- only ``ANONYMIZED`` entries -> with masking on for the phase, ``rewrites`` from ``outputs[i].text``
  (``outputs`` must line up one-to-one with the blocks sent, else ``malformed``: masked text is never
  written into the wrong place); with masking off, ``Action.LOG`` findings;
- ``detected`` entries whose action is ``NONE`` (detect-only guardrails) -> ``Action.LOG`` findings;
- ``GUARDRAIL_INTERVENED`` with no entry we understand -> ``ProviderError("malformed")`` (fail closed).

The client is built once at start-up; boto3 clients are thread-safe and calls run in the middleware's
bounded thread pool. ``read_timeout`` is the guardrail's timeout so a thread abandoned by the pipeline's
deadline does not stay blocked much longer than the request that started it.
"""

from __future__ import annotations

import functools
import math
import os
import re
from collections.abc import Sequence
from typing import Any

from pydantic import Field, field_validator, model_validator

from guard_middleware.errors import ConfigError
from guard_middleware.providers._http import expect_dict, expect_list, reporting, safe_code
from guard_middleware.providers.base import EvalContext, MaskingOptions, Runtime
from guard_middleware.verdict import Action, Finding, Phase, ProviderError, ProviderOutcome, Segment

_VERSION_RE = re.compile(r"^(DRAFT|[1-9][0-9]{0,7})$")
_CONFIDENCE = {"LOW": "low", "MEDIUM": "medium", "HIGH": "high"}

_AUTH_CODES = frozenset(
    {
        "AccessDeniedException",
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "ExpiredTokenException",
        "IncompleteSignature",
        "MissingAuthenticationTokenException",
        "InvalidClientTokenId",
    }
)
_THROTTLE_CODES = frozenset({"ThrottlingException", "TooManyRequestsException", "Throttling"})


class BedrockOptions(MaskingOptions):
    guardrail_id: str = Field(min_length=1, max_length=2048)
    guardrail_version: str
    region: str | None = None
    access_key_id: str | None = Field(default=None, repr=False)
    secret_access_key: str | None = Field(default=None, repr=False)
    session_token: str | None = Field(default=None, repr=False)
    profile_name: str | None = None
    endpoint_url: str | None = None
    # The seed's debug switch: ask for FULL output scope (non-detected entries too).
    trace_enabled: bool = False
    # botocore "standard" retry mode counts the first call: 1 means no retry.
    max_attempts: int = Field(default=2, ge=1, le=10)
    # None: the guardrail's max_connections (the thread pool that calls boto3 has as many threads).
    max_pool_connections: int | None = Field(default=None, ge=1)
    connect_timeout_ms: int = Field(default=2000, ge=1)

    @field_validator("guardrail_version", mode="before")
    @classmethod
    def _version_text(cls, value: Any) -> Any:
        # YAML/TOML give `guardrail_version = 1` as an integer.
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return value

    @field_validator("guardrail_version")
    @classmethod
    def _version_shape(cls, value: str) -> str:
        if not _VERSION_RE.match(value):
            raise ValueError("must be DRAFT or a version number 1..99999999")
        return value

    def with_guardrail(self, guardrail_id: str, guardrail_version: str) -> BedrockOptions:
        """The same connection and masking settings for another guardrail (a team's ad-hoc id)."""
        return self.model_copy(update={"guardrail_id": guardrail_id, "guardrail_version": guardrail_version})

    @model_validator(mode="after")
    def _key_pair(self) -> BedrockOptions:
        if bool(self.access_key_id) != bool(self.secret_access_key):
            raise ValueError("access_key_id and secret_access_key must be given together")
        return self


def _category(policy: str, entry: dict[str, Any]) -> tuple[str, str | None]:
    """(category, message) for one assessment entry. Never the ``match`` field: it is the very text
    (often PII) being protected."""
    kind = entry.get("type")
    if policy == "topics":
        return "DENIED_TOPIC", f"topic: {entry.get('name')}" if entry.get("name") else None
    if policy == "customWords":
        return "CUSTOM_WORD", None
    if policy == "regexes":
        return "CUSTOM_REGEX", f"regex: {entry.get('name')}" if entry.get("name") else None
    if isinstance(kind, str) and kind:
        return kind.upper(), None
    return policy.upper(), None


def _entries(assessment: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every (policy list name, entry) in one assessment, tolerating explicit nulls at every level."""
    out: list[tuple[str, dict[str, Any]]] = []
    layout = (
        ("topicPolicy", ("topics",)),
        ("contentPolicy", ("filters",)),
        ("wordPolicy", ("customWords", "managedWordLists")),
        ("sensitiveInformationPolicy", ("piiEntities", "regexes")),
        ("contextualGroundingPolicy", ("filters",)),
    )
    for policy_key, lists in layout:
        policy = assessment.get(policy_key) or {}
        if not isinstance(policy, dict):
            raise ProviderError("malformed", f"assessment {policy_key} is not an object")
        for list_key in lists:
            for entry in expect_list(policy.get(list_key), f"{policy_key}.{list_key}"):
                out.append((list_key, expect_dict(entry, f"{policy_key}.{list_key} entry")))
    return out


def classify_client_error(exc: Exception) -> ProviderError:
    """botocore exceptions -> our kinds. Imported lazily so importing the registry never needs boto3."""
    from botocore import exceptions as bx

    if isinstance(exc, bx.ClientError):
        error = exc.response.get("Error") or {}
        code = str(error.get("Code") or "")
        status = (exc.response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
        detail = f"HTTP {status} code={safe_code(code)}"
        if code in _AUTH_CODES or status in (401, 403):
            return ProviderError("auth", detail, status=status)
        if code in _THROTTLE_CODES or status == 429:
            return ProviderError("rate_limited", detail, status=status)
        return ProviderError("http", detail, status=status)
    if isinstance(exc, bx.ConnectTimeoutError | bx.ReadTimeoutError):
        return ProviderError("timeout", type(exc).__name__)
    if isinstance(exc, bx.NoCredentialsError | bx.PartialCredentialsError):
        return ProviderError("auth", type(exc).__name__)
    if isinstance(exc, bx.EndpointConnectionError | bx.ConnectionClosedError | bx.ConnectionError):
        return ProviderError("connection", type(exc).__name__)
    if isinstance(exc, bx.ResponseParserError):
        return ProviderError("malformed", type(exc).__name__)
    if isinstance(exc, bx.HTTPClientError):
        return ProviderError("connection", type(exc).__name__)
    return ProviderError("malformed", type(exc).__name__)


class BedrockProvider:
    def __init__(self, options: BedrockOptions, client: Any, *, name: str) -> None:
        self.name = name
        self._opts = options
        self._client = client
        self._label = f"{name} (bedrock)"

    def with_guardrail(self, guardrail_id: str, guardrail_version: str, *, name: str) -> BedrockProvider:
        """A provider for another guardrail on this one's boto3 client: its region, credentials and
        connection pool (``max_pool_connections``) are shared, and nothing is built per id."""
        return BedrockProvider(
            self._opts.with_guardrail(guardrail_id, guardrail_version), self._client, name=name
        )

    @classmethod
    def build(cls, options: BedrockOptions, *, name: str, key: str, timeout_ms: int) -> BedrockProvider:
        import boto3
        from botocore.config import Config
        from botocore.exceptions import BotoCoreError, NoRegionError, ProfileNotFound

        config = Config(
            connect_timeout=max(0.001, min(options.connect_timeout_ms, timeout_ms) / 1000),
            read_timeout=max(1, math.ceil(timeout_ms / 1000)),
            retries={"mode": "standard", "total_max_attempts": options.max_attempts},
            max_pool_connections=options.max_pool_connections or 10,
        )
        try:
            session = boto3.session.Session(
                aws_access_key_id=options.access_key_id,
                aws_secret_access_key=options.secret_access_key,
                aws_session_token=options.session_token,
                # botocore itself reads only AWS_DEFAULT_REGION; AWS_REGION is what LiteLLM docs use.
                region_name=options.region or os.environ.get("AWS_REGION") or None,
                profile_name=options.profile_name,
            )
            # endpoint_url None lets botocore apply AWS_ENDPOINT_URL_BEDROCK_RUNTIME / AWS_ENDPOINT_URL.
            client = session.client("bedrock-runtime", endpoint_url=options.endpoint_url, config=config)
        except ProfileNotFound as exc:
            raise ConfigError(f"{key}.profile_name", str(exc)) from None
        except NoRegionError:
            raise ConfigError(f"{key}.region", "required (or set AWS_REGION)") from None
        except (BotoCoreError, ValueError) as exc:
            raise ConfigError(key, f"cannot build the bedrock-runtime client: {exc}") from None
        return cls(options, client, name=name)

    async def evaluate(
        self, segments: Sequence[Segment], ctx: EvalContext, runtime: Runtime
    ) -> ProviderOutcome:
        if not segments:
            return ProviderOutcome()
        with reporting(self._label):
            kwargs: dict[str, Any] = {
                "guardrailIdentifier": self._opts.guardrail_id,
                "guardrailVersion": self._opts.guardrail_version,
                "source": "INPUT" if ctx.phase is Phase.INPUT else "OUTPUT",
                "content": [{"text": {"text": s.text}} for s in segments],
            }
            if self._opts.trace_enabled:
                kwargs["outputScope"] = "FULL"
            try:
                answer = await runtime.run_blocking(functools.partial(self._client.apply_guardrail, **kwargs))
            except Exception as exc:
                raise classify_client_error(exc) from None
            return self.decide(answer, segments, mask=self._opts.masks(ctx.phase))

    def decide(self, answer: Any, segments: Sequence[Segment], *, mask: bool) -> ProviderOutcome:
        doc = expect_dict(answer, "ApplyGuardrail response")
        top = doc.get("action")
        if top not in ("NONE", "GUARDRAIL_INTERVENED"):
            raise ProviderError("malformed", f"unknown action {top!r}")
        outputs = expect_list(doc.get("outputs"), "outputs")
        one = 0 if len(segments) == 1 else None
        blocked: list[Finding] = []
        anonymized: list[Finding] = []
        detected: list[Finding] = []
        for raw in expect_list(doc.get("assessments"), "assessments"):
            for list_key, entry in _entries(expect_dict(raw, "assessment")):
                category, message = _category(list_key, entry)
                severity = _CONFIDENCE.get(str(entry.get("confidence")), "high")
                act = entry.get("action")
                if act == "BLOCKED":
                    bucket, action = blocked, Action.BLOCK
                elif act == "ANONYMIZED":
                    bucket, action = anonymized, (Action.REDACT if mask else Action.LOG)
                elif entry.get("detected") is True:
                    bucket, action = detected, Action.LOG
                else:
                    continue
                bucket.append(Finding(self.name, category, severity, action, segment=one, message=message))
        if blocked:
            text = self._output_text(outputs[0]) if outputs else None
            return ProviderOutcome(findings=blocked + anonymized + detected, blocked_message=text or None)
        if top == "GUARDRAIL_INTERVENED" and not anonymized:
            # An intervention we cannot explain must not pass as "allowed" (peer lesson: fail closed).
            raise ProviderError("malformed", "GUARDRAIL_INTERVENED without a BLOCKED or ANONYMIZED entry")
        if anonymized and mask:
            if len(outputs) != len(segments):
                raise ProviderError(
                    "malformed", f"{len(outputs)} masked outputs for {len(segments)} content blocks"
                )
            rewrites: dict[int, str] = {}
            for index, (segment, output) in enumerate(zip(segments, outputs, strict=True)):
                text = self._output_text(output)
                if text != segment.text:
                    rewrites[index] = text
            return ProviderOutcome(findings=anonymized + detected, rewrites=rewrites)
        return ProviderOutcome(findings=anonymized + detected)

    @staticmethod
    def _output_text(output: Any) -> str:
        text = expect_dict(output, "output").get("text")
        if not isinstance(text, str):
            raise ProviderError("malformed", "output without text")
        return text
