"""A real SMTP server (aiosmtpd) for tests that follow mail all the way out."""

from __future__ import annotations

import email
import socket
from email import policy

from aiosmtpd.controller import Controller


class Collector:
    """An aiosmtpd handler that keeps every envelope it accepts."""

    def __init__(self):
        self.envelopes = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        self.envelopes.append(envelope)
        return "250 Message accepted"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class SmtpServer:
    """A real SMTP server on a fixed local port that the test can stop and start again."""

    def __init__(self):
        self.port = _free_port()
        self.collector = Collector()
        self._controller = None

    def start(self):
        self._controller = Controller(self.collector, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self):
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def messages(self) -> list[email.message.EmailMessage]:
        return [
            email.message_from_bytes(e.original_content or e.content, policy=policy.default)
            for e in self.collector.envelopes
        ]
