"""Fixtures of the dispatch tests: real SMTP, SMPP and HTTPS servers on free ports, and
apps configured for dispatch (the capture channel unless a test routes a channel to a
server).  Import with ``from tests.integration.dispatch_fixtures import *``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from tests import dispatch_support as ds
from tests.conftest import free_port
from tests.dispatch_servers import (
    SmscBehaviour,
    SmtpBehaviour,
    SmtpSink,
    TestSmsc,
    WebhookReceiver,
    make_certificate,
)

WEBHOOK_SECRET = "webhook-test-secret"
SMTP_LOGIN = ("ledgerline", "smtp-password")


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 / localhost, made with ``cryptography``."""
    return make_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def smtp_sink() -> Iterator[Callable[..., SmtpSink]]:
    started: list[SmtpSink] = []

    def start(**kwargs: Any) -> SmtpSink:
        behaviour = SmtpBehaviour(**kwargs.pop("behaviour", {}))
        sink = SmtpSink(free_port(), behaviour=behaviour, **kwargs).start()
        started.append(sink)
        return sink

    yield start
    for sink in started:
        sink.stop()


@pytest.fixture
def smsc() -> Iterator[Callable[..., TestSmsc]]:
    started: list[TestSmsc] = []

    def start(**behaviour: Any) -> TestSmsc:
        server = TestSmsc(free_port(), SmscBehaviour(**behaviour)).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def webhook_receiver(tls_files: tuple[Path, Path]) -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver(free_port(), WEBHOOK_SECRET, tls=tls_files).start()
    yield receiver
    receiver.stop()


@pytest.fixture
def dispatch_app(make_app: Callable[..., Flask]) -> Callable[..., Flask]:
    """An app for dispatch tests; keyword settings override :func:`ds.settings`."""

    def build(**overrides: Any) -> Flask:
        return make_app(**ds.settings(**overrides))

    return build


def smtp_channel(sink: SmtpSink, **options: Any) -> dict[str, Any]:
    return {
        "backend": "smtp",
        "host": "127.0.0.1",
        "port": sink.port,
        "starttls": False,
        "sender": "Ledgerline <news@ledgerline.example>",
        "timeout": 5,
        **options,
    }


def smpp_channel(server: TestSmsc, **options: Any) -> dict[str, Any]:
    return {
        "backend": "smpp",
        "host": "127.0.0.1",
        "port": server.port,
        "system_id": "ledgerline",
        "password": "secret",
        "timeout": 5,
        **options,
    }


__all__ = [
    "SMTP_LOGIN",
    "WEBHOOK_SECRET",
    "dispatch_app",
    "smpp_channel",
    "smsc",
    "smtp_channel",
    "smtp_sink",
    "tls_files",
    "webhook_receiver",
]
