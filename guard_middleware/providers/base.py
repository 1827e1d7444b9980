"""The contract every remote provider meets. Providers are the I/O shell: they may use aiohttp/boto3."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel, ConfigDict

from guard_middleware.verdict import Phase, ProviderOutcome, Segment

if TYPE_CHECKING:
    import aiohttp


@dataclass(frozen=True, slots=True)
class EvalContext:
    """Per-evaluation facts a provider may forward (Lakera ``metadata``, custom webhook body, ...)."""

    request_id: str
    phase: Phase
    route: str
    metadata: Mapping[str, Any] = field(default_factory=dict)
    # A team policy applied: the team's name and the resolved guardrail list, for the audit record.
    team: str | None = None
    guardrails: tuple[str, ...] = ()


class Runtime(Protocol):
    """Long-lived resources owned by the middleware, created on app start-up and closed on cleanup."""

    @property
    def http(self) -> aiohttp.ClientSession:
        """A pooled session (the calling guardrail's own, through ``for_guardrail``)."""
        ...

    async def run_blocking(self, fn: Any, /, *args: Any) -> Any:
        """Run a blocking call (boto3) in the bounded thread pool."""
        ...

    def for_guardrail(self, name: str, max_connections: int | None = None) -> Runtime:
        """The resources of guardrail ``name``: its own connection and thread pools, so one slow
        provider cannot starve the others (``max_connections`` sizes a pool not configured by name)."""
        ...


class RemoteProvider(Protocol):
    name: str

    async def evaluate(
        self, segments: Sequence[Segment], ctx: EvalContext, runtime: Runtime
    ) -> ProviderOutcome:
        """Ask the service about ``segments``.

        Raise ``guard_middleware.verdict.ProviderError`` for any answer that is not a documented success
        (non-2xx, 401/403, 429, malformed JSON, an HTML error page, an unexpected shape, connection
        refused). The pipeline enforces the overall ``timeout_ms`` with ``asyncio.timeout`` and applies
        ``on_timeout``/``on_error``; a provider applies its own per-attempt timeout only when it retries.
        """
        ...


class MaskingOptions(BaseModel):
    """LiteLLM's masking switches, shared by providers that can return masked text (Bedrock, Lakera)."""

    model_config = ConfigDict(extra="forbid")

    mask_request_content: bool = False
    mask_response_content: bool = False

    def masks(self, phase: Phase) -> bool:
        return self.mask_request_content if phase is Phase.INPUT else self.mask_response_content
