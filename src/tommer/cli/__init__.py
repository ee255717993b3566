"""The ``tommer`` command line: one module per command, the parser and ``main`` in :mod:`.main`."""

from .main import build_parser, main

__all__ = ["build_parser", "main"]
