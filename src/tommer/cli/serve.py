"""``tommer serve``: the local web app and JSON API."""

from __future__ import annotations

import argparse

from ..core.layout import DEFAULT_MODEL
from ..integrations.server_limits import API_KEY_ENV, DEFAULT_LIMITS, ServerLimits


def run(args: argparse.Namespace) -> int:
    """Run ``tommer serve`` (until Ctrl-C)."""
    from ..integrations.server import serve  # torch and starlette: only for this command

    limits = ServerLimits(
        max_body_bytes=args.max_body,
        max_request_tokens=args.max_request_tokens,
        max_batch_texts=args.max_batch_texts,
        max_batch_wait_ms=args.max_batch_wait_ms,
        queue_size=args.queue_size,
        timeout=args.timeout,
    )
    serve(
        args.model,
        args.host,
        args.port,
        max_body_bytes=args.max_body,
        limits=limits,
        api_key=args.api_key,
        cors_origin=args.cors_origin or None,
        log_level=args.log_level,
    )
    return 0


def add_parser(sub) -> None:
    """Add the command's subparser to ``sub`` (``argparse`` subparsers)."""
    d = DEFAULT_LIMITS
    sv = sub.add_parser(
        "serve",
        help="local web app and JSON API (POST /api/detect)",
        description="Serve one loaded detector: a web page at / and a JSON API at POST /api/detect. "
        "Concurrent requests are micro-batched into detector calls on one worker thread; texts longer "
        "than one window run window by window, interleaved with the short requests.",
    )
    sv.add_argument("--model", default=DEFAULT_MODEL, help="shipped model name or saved directory")
    sv.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: 127.0.0.1, loopback only; any other address needs --api-key)",
    )
    sv.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    sv.add_argument(
        "--max-body",
        type=int,
        default=d.max_body_bytes,
        help="request size limit in bytes (default: %(default)s)",
    )
    sv.add_argument(
        "--max-request-tokens",
        type=int,
        default=d.max_request_tokens,
        help="a text with more tokens is refused with 413, never truncated (default: %(default)s)",
    )
    sv.add_argument(
        "--max-batch-texts",
        type=int,
        default=d.max_batch_texts,
        help="most requests' texts per detector call (default: %(default)s)",
    )
    sv.add_argument(
        "--max-batch-wait-ms",
        type=float,
        default=d.max_batch_wait_ms,
        help="how long an idle worker waits for more requests to batch with the first (default: %(default)s)",
    )
    sv.add_argument(
        "--queue-size",
        type=int,
        default=d.queue_size,
        help="requests queued or running at most; more get 503 with Retry-After (default: %(default)s)",
    )
    sv.add_argument(
        "--timeout",
        type=float,
        default=d.timeout,
        help="seconds a request may wait in the queue, then it is dropped: 503 (default: %(default)s)",
    )
    sv.add_argument(
        "--api-key",
        default=None,
        help=f"require 'Authorization: Bearer KEY' on /api/detect and /health (default: ${API_KEY_ENV})",
    )
    sv.add_argument(
        "--cors-origin",
        action="append",
        metavar="ORIGIN",
        help="allow browser pages from ORIGIN (e.g. https://example.org) to call the API; repeatable "
        "(default: CORS off)",
    )
    sv.add_argument(
        "--log-level",
        default="info",
        choices=["critical", "error", "warning", "info", "debug"],
        help="uvicorn's log level; info logs every request (default: %(default)s)",
    )
    sv.set_defaults(func=run)
