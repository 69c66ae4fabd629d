"""Exceptions raised by diffver, mapped from the Rust error kinds."""

from __future__ import annotations

from typing import Optional


class DiffverError(Exception):
    """Base class of every diffver error."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ParseError(DiffverError):
    """The diff could not be parsed: ``kind`` is ``"no-patch"`` (not a diff; ``mails``
    counts mail messages without a diff), ``"empty"``, ``"combined-diff"`` or ``"limit"``."""

    def __init__(
        self,
        message: str,
        *,
        offset: Optional[int] = None,
        kind: Optional[str] = None,
        mails: Optional[int] = None,
    ) -> None:
        super().__init__(message)
        self.offset = offset
        self.kind = kind
        self.mails = mails


class LimitExceeded(ParseError):
    """The diff breaks a configured limit (input size, files, hunks, line length)."""

    def __init__(self, message: str, *, limit: str, max: int, offset: int) -> None:
        super().__init__(message, offset=offset, kind="limit")
        self.limit = limit
        self.max = max


class RuleError(DiffverError):
    """A rule file is invalid: `rule` and `field` name what is wrong; for a
    regex, `offset` is the byte in the pattern where the error starts."""

    def __init__(
        self,
        message: str,
        *,
        rule: Optional[str] = None,
        field: Optional[str] = None,
        line: Optional[int] = None,
        offset: Optional[int] = None,
    ) -> None:
        super().__init__(message)
        self.rule = rule
        self.field = field
        self.line = line
        self.offset = offset


class PolicyError(DiffverError):
    """A policy is invalid: `field` names what is wrong (`rule`: an unknown rule id)."""

    def __init__(
        self,
        message: str,
        *,
        field: Optional[str] = None,
        line: Optional[int] = None,
        column: Optional[int] = None,
        name: Optional[str] = None,
        rule: Optional[str] = None,
    ) -> None:
        super().__init__(message)
        self.field = field
        self.line = line
        self.column = column
        self.name = name
        self.rule = rule


class SignatureError(DiffverError):
    """An artifact could not be signed or did not verify; `kind` says which check failed."""

    def __init__(self, message: str, *, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


class BaselineError(DiffverError):
    """A baseline file is invalid."""
