"""All errors raised by tommer, in one place.

Every error is a :class:`TommerError`, so callers (and the CLI) can catch one type and
print a clear message instead of a traceback.
"""

from __future__ import annotations

from pathlib import Path


class TommerError(Exception):
    """Base class of every error tommer raises on purpose."""


class ModelNotFoundError(TommerError):
    """A detector directory, preset name or backbone path does not exist."""


class BackboneUnavailableError(TommerError):
    """A backbone preset is known but its weights package is not installed."""


class DataFormatError(TommerError):
    """An input file is malformed; the message names the file and line."""

    def __init__(self, path: str | Path, line: int | None, message: str) -> None:
        self.path = str(path)
        self.line = line
        self.detail = message
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")

    def __reduce__(self):  # picklable (Ray sends errors between processes)
        return type(self), (self.path, self.line, self.detail)


class ConfigError(TommerError):
    """An option or configuration value is invalid."""


class ModelFileError(TommerError):
    """A model file is missing, unreadable, corrupted, or does not match the model's config."""


class OutputError(TommerError):
    """An output file could not be written (full disk, file size limit, permissions)."""


class Stopped(TommerError):
    """A run was stopped by a signal after its last whole chunk (``--resume`` continues it)."""

    def __init__(self, signum: int, message: str) -> None:
        self.signum = signum
        super().__init__(message)

    def __reduce__(self):
        return type(self), (self.signum, str(self))
