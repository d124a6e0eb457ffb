"""The exception hierarchy every layer raises.

Callers (the CLI, the API) catch :class:`ShelfwiseError` and show its message as it is, so each
message must say what went wrong, where, and what to do about it.
"""

from __future__ import annotations


class ShelfwiseError(Exception):
    """Base of every error shelfwise raises on purpose."""


class ConfigError(ShelfwiseError):
    """A setting is missing, malformed or unsafe."""


class InputError(ShelfwiseError):
    """Input that cannot be used: a file, a request field, a command-line value."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 field: str | None = None) -> None:
        self.file = file
        self.line = line
        self.field = field
        where = ""
        if file is not None:
            where = f"{file}"
            if line is not None:
                where += f", line {line}"
            where += ": "
        super().__init__(where + message)
        self.detail = message


class SchemaError(InputError):
    """A whole file does not fit the shop format (missing required column, not a table, bad encoding).

    Raised before anything is written, so the store stays as it was.
    """


class StoreError(ShelfwiseError):
    """The store cannot be opened or written."""


class ModelNotFound(ShelfwiseError):
    """A model that a command needs has not been trained or cannot be found on disk."""


class NotFittedError(ShelfwiseError):
    """A model was used before ``fit``."""


class UnknownIdError(ShelfwiseError, KeyError):
    """An item or user id that the store or a model does not know."""

    def __str__(self) -> str:  # KeyError would wrap the message in quotes
        return str(self.args[0]) if self.args else ""
