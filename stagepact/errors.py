"""The one kind of refusal a domain rule raises.

A rule in `accounts`, `admin`, `workflow` or another domain module that refuses its input
raises a DomainError (or its own subclass: `AccountError`, `WorkflowError`) with a
translated message and the name of the input it is about. A view puts the message beside
that form field; a command prints it, with the option to correct.
"""

from __future__ import annotations


class DomainError(Exception):
    def __init__(self, message, field: str | None = None):
        super().__init__(str(message))
        self.message = message
        self.field = field
