"""guard_middleware: LLM guardrails for an existing aiohttp gateway, in one line.

app.middlewares.append(GuardMiddleware())
"""

from guard_middleware.errors import ConfigError
from guard_middleware.metrics_endpoint import metrics_handler
from guard_middleware.middleware import GuardMiddleware
from guard_middleware.settings import GuardSettings

__all__ = ["ConfigError", "GuardMiddleware", "GuardSettings", "metrics_handler"]
__version__ = "0.1.0"
