"""``tommer serve``'s settings: what the server's scheduler and request checks allow (torch-free, so
that the CLI can build its parser without loading a model's dependencies)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import ConfigError

MAX_BODY_BYTES = 1_000_000
API_KEY_ENV = "TOMMER_API_KEY"


@dataclass(frozen=True)
class ServerLimits:
    """The scheduler's and the request checks' settings (defaults: ``tommer serve``'s)."""

    max_body_bytes: int = MAX_BODY_BYTES
    max_request_tokens: int = 250_000  # a 1 MB English text is about 220k tokens
    max_viz_tokens: int = 2_048
    max_batch_texts: int = 32
    forward_batch: int = 8  # most texts per forward pass of a micro-batch (detector.forward_batches)
    max_batch_tokens: int = 8_192
    max_batch_wait_ms: float = 10.0
    queue_size: int = 256
    timeout: float = 30.0  # seconds a job may wait before it starts
    long_step_windows: int = 1
    retry_after: int = 1  # seconds, the 503 answers' Retry-After

    def __post_init__(self) -> None:
        for name in (
            "max_body_bytes",
            "max_request_tokens",
            "max_viz_tokens",
            "max_batch_texts",
            "forward_batch",
            "max_batch_tokens",
            "queue_size",
            "long_step_windows",
            "retry_after",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, not {value!r}")
        for name in ("max_batch_wait_ms", "timeout"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise ConfigError(f"{name} must be a number >= 0, not {value!r}")
        if self.timeout == 0:
            raise ConfigError("timeout must be > 0 seconds")


DEFAULT_LIMITS = ServerLimits()


__all__ = ["API_KEY_ENV", "DEFAULT_LIMITS", "MAX_BODY_BYTES", "ServerLimits"]
