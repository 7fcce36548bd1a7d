"""Real servers for the dispatch tests and benchmark: an SMTP sink (aiosmtpd), a test
SMSC (``smpp34``'s SMPP 3.4 server) and an HTTPS webhook receiver that checks the
HMAC signature itself.  Each listens on 127.0.0.1 on a free port.

The SMTP sink and the SMSC can also run as their own process (``python -m
tests.dispatch_servers smtp|smsc PORT LOG``) appending one line per message to LOG, so a
test or benchmark can kill workers freely and still count, at the server, what arrived.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import hmac
import http.server
import ipaddress
import json
import os
import re
import ssl
import sys
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

# -- a self-signed certificate ------------------------------------------------------------


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost / 127.0.0.1 (cert file, key file)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def server_tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


# -- SMTP ---------------------------------------------------------------------------------


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    tls: bool = False
    login: str | None = None

    @property
    def message(self) -> Any:
        return message_from_bytes(self.data, policy=policy.SMTP)


@dataclass
class SmtpBehaviour:
    """How the sink answers: refused recipients (550 5.1.1) and throttling (421)."""

    reject: set[str] = field(default_factory=set)
    throttle_first: int = 0  # the first N DATA commands get 421 and a closed connection


class SinkHandler:
    def __init__(self, behaviour: SmtpBehaviour, log: Path | None = None) -> None:
        self.behaviour = behaviour
        self.received: list[Received] = []
        self.throttled = 0
        self.lock = threading.Lock()
        self.log = log.open("a", buffering=1) if log else None

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address.lower() in self.behaviour.reject:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            if self.throttled < self.behaviour.throttle_first:
                self.throttled += 1
                return "421 4.7.0 Too many messages, slow down"
            data = bytes(envelope.content)
            login = session.auth_data.decode() if isinstance(session.auth_data, bytes) else None
            self.received.append(
                Received(
                    envelope.mail_from,
                    list(envelope.rcpt_tos),
                    data,
                    tls=session.ssl is not None,
                    login=login,
                )
            )
            if self.log is not None:
                match = re.search(rb"(?im)^Message-ID:\s*(\S+)", data)
                message_id = match.group(1).decode() if match else "-"
                self.log.write(f"{','.join(envelope.rcpt_tos)} {message_id}\n")
        return "250 2.0.0 Message accepted"


class SmtpSink:
    """aiosmtpd on 127.0.0.1:port; optional STARTTLS (required) and AUTH LOGIN/PLAIN."""

    def __init__(
        self,
        port: int,
        *,
        tls: tuple[Path, Path] | None = None,
        credentials: tuple[str, str] | None = None,
        behaviour: SmtpBehaviour | None = None,
        log: Path | None = None,
    ) -> None:
        self.port = port
        self.handler = SinkHandler(behaviour or SmtpBehaviour(), log)
        self.credentials = credentials
        kwargs: dict[str, Any] = {}
        if tls is not None:
            kwargs.update(tls_context=server_tls_context(*tls), require_starttls=True)
        if credentials is not None:
            kwargs.update(
                authenticator=self._authenticate,
                auth_required=True,
                auth_require_tls=tls is not None,
            )
        self.controller = Controller(
            self.handler,
            hostname="127.0.0.1",
            port=port,
            server_hostname="localhost",
            **kwargs,
        )

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and self.credentials == (
            auth_data.login.decode(),
            auth_data.password.decode(),
        )
        return AuthResult(success=ok, handled=False, auth_data=auth_data.login if ok else None)

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    def start(self) -> SmtpSink:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()


# -- SMSC ---------------------------------------------------------------------------------


@dataclass
class Submitted:
    destination: str
    source: str
    data_coding: int
    esm_class: int
    short_message: bytes
    message_id: str


@dataclass
class SmscBehaviour:
    """How the SMSC answers: invalid numbers, throttled first submits, failed receipts."""

    invalid: set[str] = field(default_factory=set)  # ESME_RINVDSTADR
    throttle_first: int = 0  # ESME_RTHROTTLED for the first N submits
    undeliverable: set[str] = field(default_factory=set)  # receipt stat:UNDELIV
    receipts: bool = True


class TestSmsc:
    """``smpp34.Server`` in a thread: accepts binds, answers submits, pushes receipts."""

    __test__ = False  # not a pytest class

    def __init__(
        self,
        port: int,
        behaviour: SmscBehaviour | None = None,
        log: Path | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self.port = port
        self.host = host
        self.behaviour = behaviour or SmscBehaviour()
        self.submitted: list[Submitted] = []
        self.binds = 0
        self.throttled = 0
        self.lock = threading.Lock()
        self.log = log.open("a", buffering=1) if log else None
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: Any = None
        self._thread = threading.Thread(target=self._run, daemon=True, name="test-smsc")
        self._pending: set[Any] = set()

    def start(self) -> TestSmsc:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError(f"the test SMSC did not start on port {self.port}")
        return self

    def stop(self) -> None:
        if self._loop is None or self._server is None:
            return
        server = self._server

        async def shutdown() -> None:
            await server.stop()

        future = asyncio.run_coroutine_threadsafe(shutdown(), self._loop)
        with contextlib.suppress(Exception):  # shutting down a test server
            future.result(5)

    def _run(self) -> None:
        import smpp34

        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._server = smpp34.Server(host=self.host, port=self.port, system_id="TestSMSC")
            await self._server.start()
            self._ready.set()
            sessions: dict[str, Any] = {}
            counter = 0
            while True:
                try:
                    event = await self._server.next()
                except Exception:
                    return
                if isinstance(event, smpp34.Esme):
                    sessions[event.session_id] = event
                    self.binds += 1
                elif isinstance(event, smpp34.SubmitSmEvent):
                    destination = "+" + event.destination_addr.lstrip("+")
                    with self.lock:
                        if self.throttled < self.behaviour.throttle_first:
                            self.throttled += 1
                            event.reject(smpp34.ESME_RTHROTTLED)
                            continue
                    if destination in self.behaviour.invalid:
                        event.reject(smpp34.ESME_RINVDSTADR)
                        continue
                    counter += 1
                    message_id = f"smsc{counter:08d}"
                    event.accept(message_id)
                    with self.lock:
                        self.submitted.append(
                            Submitted(
                                destination,
                                event.source_addr,
                                event.data_coding,
                                event.esm_class,
                                bytes(event.short_message),
                                message_id,
                            )
                        )
                        if self.log is not None:
                            self.log.write(f"{destination} {message_id}\n")
                    if self.behaviour.receipts and event.session_id in sessions:
                        stat = (
                            "UNDELIV"
                            if destination in self.behaviour.undeliverable
                            else ("DELIVRD")
                        )
                        err = "001" if stat == "UNDELIV" else "000"
                        text = (
                            f"id:{message_id} sub:001 dlvrd:001 submit date:2401011200 "
                            f"done date:2401011201 stat:{stat} err:{err} text:"
                        )
                        self._pending.add(
                            asyncio.ensure_future(
                                sessions[event.session_id].deliver_sm(
                                    source_addr=event.destination_addr,
                                    destination_addr=event.source_addr,
                                    esm_class=0x04,
                                    short_message=text.encode(),
                                )
                            )
                        )
                elif isinstance(event, smpp34.Unbound):
                    sessions.pop(event.session_id, None)

        asyncio.run(main())


# -- webhook receiver ---------------------------------------------------------------------


@dataclass
class WebhookRequest:
    path: str
    headers: dict[str, str]
    body: bytes
    signature_valid: bool


class WebhookReceiver:
    """HTTPS receiver.  ``/ok`` → 200, ``/gone`` → 410, ``/fail`` → 503, ``/hang`` sleeps
    ``hang_seconds`` before answering 200.  It verifies the signature independently:
    HMAC-SHA256(secret, timestamp + "." + body) and a timestamp within 5 minutes."""

    def __init__(
        self,
        port: int,
        secret: str,
        tls: tuple[Path, Path] | None = None,
        hang_seconds: float = 5.0,
    ) -> None:
        self.port = port
        self.secret = secret
        self.requests: list[WebhookRequest] = []
        self.hang_seconds = hang_seconds
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                timestamp = self.headers.get("X-Ledgerline-Timestamp", "")
                expected = (
                    "sha256="
                    + hmac.new(
                        receiver.secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256
                    ).hexdigest()
                )
                fresh = timestamp.isdigit() and abs(time.time() - int(timestamp)) < 300
                valid = fresh and hmac.compare_digest(
                    expected, self.headers.get("X-Ledgerline-Signature", "")
                )
                receiver.requests.append(WebhookRequest(self.path, dict(self.headers), body, valid))
                if self.path == "/hang":
                    time.sleep(receiver.hang_seconds)
                status = {"/ok": 200, "/gone": 410, "/fail": 503, "/hang": 200}.get(self.path, 404)
                if not valid:
                    status = 401
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.send_header("X-Request-Id", f"rcv-{len(receiver.requests)}")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        if tls is not None:
            self.server.socket = server_tls_context(*tls).wrap_socket(
                self.server.socket, server_side=True
            )
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> WebhookReceiver:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def documents(self) -> list[dict[str, Any]]:
        return [json.loads(r.body) for r in self.requests]


# -- as a process -------------------------------------------------------------------------


def main(argv: list[str]) -> None:
    kind, port, log = argv[0], int(argv[1]), Path(argv[2])
    if kind == "smtp":
        server: Any = SmtpSink(port, log=log).start()
    elif kind == "smsc":
        # LEDGERLINE_TEST_SERVER_HOST=0.0.0.0: reachable from other containers (compose dev).
        host = os.environ.get("LEDGERLINE_TEST_SERVER_HOST", "127.0.0.1")
        behaviour = SmscBehaviour(receipts="--receipts" in argv)
        server = TestSmsc(port, behaviour, log=log, host=host).start()
    else:
        raise SystemExit(f"unknown server {kind!r}; use smtp or smsc")
    (log.parent / f"{kind}.ready").write_text(str(os.getpid()))
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
