"""``tommer serve``: the local web app and JSON API."""

from __future__ import annotations

import argparse

from ..core.layout import DEFAULT_MODEL


def run(args: argparse.Namespace) -> int:
    """Run ``tommer serve`` (until Ctrl-C)."""
    from ..integrations.server import serve

    serve(args.model, args.host, args.port, max_body_bytes=args.max_body)
    return 0


def add_parser(sub) -> None:
    """Add the command's subparser to ``sub`` (``argparse`` subparsers)."""
    sv = sub.add_parser("serve", help="local web app and JSON API (POST /api/detect)")
    sv.add_argument("--model", default=DEFAULT_MODEL, help="shipped model name or saved directory")
    sv.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    sv.add_argument("--port", type=int, default=8000)
    sv.add_argument("--max-body", type=int, default=1_000_000, help="request size limit in bytes")
    sv.set_defaults(func=run)
