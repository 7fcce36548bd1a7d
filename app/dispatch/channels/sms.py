"""SMS over SMPP 3.4 with ``smpplib``: a bound transceiver kept alive per process.

* One link per process and SMSC (``bind_transceiver``), reused across batches and kept
  alive with ``enquire_link`` when idle; a dead link is rebound before the hand-off.
* Each message is encoded per :mod:`app.dispatch.sms_pdu` (GSM-7 or UCS-2, split with a
  UDH) and every part asks for a delivery receipt (``registered_delivery=1``).
* ``submit_sm_resp``: every part's ``message_id`` is kept (:class:`~app.dispatch.models.
  SmsPart`); ``ESME_RTHROTTLED`` / ``ESME_RMSGQFUL`` slow the rate, ``ESME_RSYSERR`` is
  temporary, any other error is a permanent rejection with its name.
* ``deliver_sm`` delivery receipts read while sending or polling become
  :class:`Receipt` values; the pipeline applies them to the deliveries.
"""

from __future__ import annotations

import logging
import re
import select
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import smpplib.client
import smpplib.consts
import smpplib.exceptions
import smpplib.smpp

from app.database import utcnow
from app.dispatch.channels.base import (
    Channel,
    ChannelSession,
    Handoff,
    Outcome,
    OutgoingMessage,
    SendResult,
    register_backend,
)
from app.dispatch.sms_pdu import encode_sms

log = logging.getLogger(__name__)

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
THROTTLE_STATUSES = frozenset({0x58, 0x14})  # ESME_RTHROTTLED, ESME_RMSGQFUL
TEMPORARY_STATUSES = frozenset({0x08})  # ESME_RSYSERR
_RECEIPT_FIELD = re.compile(rb"(id|stat|err):(\S+)", re.IGNORECASE)
TLV_MESSAGE_STATES = {
    1: "ENROUTE",
    2: "DELIVRD",
    3: "EXPIRED",
    4: "DELETED",
    5: "UNDELIV",
    6: "ACCEPTD",
    7: "UNKNOWN",
    8: "REJECTD",
}


@dataclass(frozen=True)
class Receipt:
    """A delivery receipt: the part's ``message_id``, its final ``stat`` and ``err``."""

    message_id: str
    state: str
    error: str | None
    received_at: datetime


def status_name(status: int) -> str:
    text = smpplib.consts.DESCRIPTIONS.get(status, "unknown status")
    return f"0x{status:08X} {text}"


def parse_receipt(pdu: Any) -> Receipt | None:
    """The receipt carried by a ``deliver_sm``, or None when it is not a receipt."""
    if not int(getattr(pdu, "esm_class", 0) or 0) & 0x04:
        return None
    fields = {k.lower(): v for k, v in _RECEIPT_FIELD.findall(pdu.short_message or b"")}
    tlv_id = getattr(pdu, "receipted_message_id", None)
    tlv_state = getattr(pdu, "message_state", None)
    raw_id = tlv_id or fields.get(b"id")
    if raw_id is None:
        return None
    message_id = raw_id.decode() if isinstance(raw_id, bytes) else str(raw_id)
    if tlv_state:
        state = TLV_MESSAGE_STATES.get(int(tlv_state), "UNKNOWN")
    else:
        state = fields.get(b"stat", b"UNKNOWN").decode().upper()
    error = fields.get(b"err")
    return Receipt(message_id.strip("\x00"), state, error.decode() if error else None, utcnow())


class _Link:
    """A bound transceiver and what it has read so far."""

    def __init__(self, channel: SmppChannel) -> None:
        self.channel = channel
        self.client: smpplib.client.Client | None = None
        self.responses: dict[int, tuple[int, str | None]] = {}
        self.last_used = 0.0

    def bind(self) -> None:
        ch = self.channel
        client = smpplib.client.Client(
            ch.host, ch.port, timeout=ch.timeout, allow_unknown_opt_params=True
        )
        client.set_message_sent_handler(self._on_submit_resp)
        client.set_message_received_handler(self._on_deliver)
        client.set_error_pdu_handler(lambda pdu: None)  # statuses are read per response
        try:
            client.connect()
            client.bind_transceiver(
                system_id=ch.system_id, password=ch.password, system_type=ch.system_type
            )
        except BaseException:
            client.disconnect()
            raise
        self.client = client
        self.last_used = time.monotonic()

    def _on_submit_resp(self, pdu: Any) -> None:
        raw = getattr(pdu, "message_id", None)
        message_id = raw.decode() if isinstance(raw, bytes) else raw
        self.responses[int(pdu.sequence)] = (int(pdu.status), message_id)

    def _on_deliver(self, pdu: Any) -> int:
        receipt = parse_receipt(pdu)
        if receipt is not None:
            with self.channel._lock:  # links of other threads append too
                self.channel.receipts.append(receipt)
        return 0  # ESME_ROK: the deliver_sm is acknowledged

    def close(self) -> None:
        client, self.client = self.client, None
        if client is None:
            return
        try:
            client.unbind()
        except (smpplib.exceptions.ConnectionError, smpplib.exceptions.PDUError, OSError):
            pass  # the SMSC may drop the link on unbind; either way it is over
        finally:
            client.disconnect()

    def alive(self) -> bool:
        """Keep-alive: an ``enquire_link`` when idle for long; False when the link died."""
        if self.client is None:
            return False
        if time.monotonic() - self.last_used < self.channel.enquire_link_interval:
            return True
        try:
            pdu = smpplib.smpp.make_pdu("enquire_link", client=self.client)
            self.client.send_pdu(pdu)
            self.read_for(0.2)
        except (smpplib.exceptions.ConnectionError, OSError):
            return False
        self.last_used = time.monotonic()
        return True

    def read_for(self, seconds: float, until: Any = None) -> bool:
        """Read PDUs for up to ``seconds`` or until ``until()`` is true; that truth."""
        assert self.client is not None
        deadline = time.monotonic() + seconds
        sock = self.client._socket
        while True:
            if until is not None and until():
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return until is None
            readable, _, _ = select.select([sock], [], [], remaining)
            if readable:
                self.client.read_once(auto_send_enquire_link=False)


class _SmppSession(ChannelSession):
    def __init__(self, channel: SmppChannel) -> None:
        self.channel = channel
        self.link: _Link | None = None

    def _link(self) -> _Link:
        if self.link is None:
            self.link = self.channel.checkout()
        if not self.link.alive():
            self.link.close()
            self.link.bind()
        return self.link

    def close(self) -> None:
        link, self.link = self.link, None
        if link is not None:
            self.channel.checkin(link)

    def _prepare(self, message: OutgoingMessage) -> SendResult | Any:
        """The encoded payload of ``message``, or the result that skips it."""
        problem = self.channel.validate_address(message.address)
        if problem:
            return SendResult(Outcome.INVALID_ADDRESS, detail=problem)
        try:
            return encode_sms(message.sms_text or "", reference=message.delivery_id)
        except ValueError as exc:
            return SendResult(Outcome.PERMANENT, detail=str(exc))

    def _bind(self) -> _Link | SendResult:
        ch = self.channel
        try:
            return self._link()
        except (smpplib.exceptions.ConnectionError, smpplib.exceptions.PDUError, OSError) as exc:
            if self.link is not None:
                self.link.close()
            return SendResult(
                Outcome.TEMPORARY, detail=f"SMPP bind to {ch.host}:{ch.port} failed: {exc}"
            )

    def _submit(self, link: _Link, message: OutgoingMessage, payload: Any) -> list[int]:
        """Write every part's ``submit_sm``; their sequence numbers.

        The parts of a long message go one at a time, each after the previous one's
        response, so the SMSC receives them in order whatever its own concurrency."""
        ch = self.channel
        client = link.client
        assert client is not None
        sequences: list[int] = []
        for body in payload.parts:
            if sequences and not link.read_for(
                ch.timeout, until=lambda: sequences[-1] in link.responses
            ):
                raise TimeoutError(f"no submit_sm_resp within {ch.timeout:g}s")
            pdu = client.send_message(
                source_addr_ton=ch.source_ton,
                source_addr_npi=ch.source_npi,
                source_addr=ch.source_addr,
                dest_addr_ton=1,
                dest_addr_npi=1,
                destination_addr=message.address.lstrip("+"),
                short_message=body,
                data_coding=payload.data_coding,
                esm_class=payload.esm_class,
                registered_delivery=1,
            )
            sequences.append(int(pdu.sequence))
        return sequences

    def send(self, message: OutgoingMessage, handoff: Handoff) -> SendResult:
        return self.send_group([message], lambda _message: handoff())[0]

    def send_group(
        self, messages: Sequence[OutgoingMessage], handoff: Callable[[OutgoingMessage], bool]
    ) -> list[SendResult]:
        """Submit ``messages`` with up to ``window`` submits awaiting their response
        (SMPP 3.4 windowing), then collect every ``submit_sm_resp``.

        Each message passes ``handoff`` right before its first ``submit_sm``.  When the
        link breaks, messages already submitted are UNKNOWN (review) and messages not
        yet written are TEMPORARY (provably not sent).
        """
        results: list[SendResult | None] = [None] * len(messages)
        ready: list[tuple[int, OutgoingMessage, Any]] = []
        for index, message in enumerate(messages):
            prepared = self._prepare(message)
            if isinstance(prepared, SendResult):
                results[index] = prepared
            else:
                ready.append((index, message, prepared))
        if ready:
            bound = self._bind()
            if isinstance(bound, SendResult):
                for index, _, _ in ready:
                    results[index] = SendResult(bound.outcome, detail=bound.detail)
            else:
                self._send_window(bound, ready, handoff, results)
        return [
            r if r is not None else SendResult(Outcome.TEMPORARY, detail="not submitted")
            for r in results
        ]

    def _send_window(
        self,
        link: _Link,
        ready: list[tuple[int, OutgoingMessage, Any]],
        handoff: Callable[[OutgoingMessage], bool],
        results: list[SendResult | None],
    ) -> None:
        ch = self.channel
        in_flight: dict[int, list[int]] = {}  # message index -> its parts' sequences

        def waiting() -> int:
            return sum(1 for seqs in in_flight.values() for s in seqs if s not in link.responses)

        def below(limit: int) -> Callable[[], bool]:
            return lambda: waiting() < limit

        def settle(index: int) -> None:
            answers = [link.responses.pop(s) for s in in_flight.pop(index)]
            results[index] = _result_of(answers)

        position = 0
        try:
            for position, (index, message, payload) in enumerate(ready):  # noqa: B007
                if not handoff(message):
                    results[index] = SendResult(
                        Outcome.ABORTED, detail="claim lost before submit_sm; not sent"
                    )
                    continue
                # A long message waits for the window to drain (its parts go in order).
                room = 1 if len(payload.parts) > 1 else ch.window
                full = in_flight and waiting() >= room
                if full and not link.read_for(ch.timeout, until=below(room)):
                    raise TimeoutError(f"no submit_sm_resp within {ch.timeout:g}s")
                in_flight[index] = []
                in_flight[index] = self._submit(link, message, payload)
                for done in [
                    i for i, seqs in in_flight.items() if all(s in link.responses for s in seqs)
                ]:
                    settle(done)
            position = len(ready)
            if in_flight and not link.read_for(
                ch.timeout,
                until=lambda: all(s in link.responses for v in in_flight.values() for s in v),
            ):
                raise TimeoutError(f"no submit_sm_resp within {ch.timeout:g}s")
        except (
            smpplib.exceptions.ConnectionError,
            smpplib.exceptions.PDUError,
            OSError,
        ) as exc:
            link.close()
            lost = (
                f"no submit_sm_resp within {ch.timeout:g}s"
                if isinstance(exc, TimeoutError)
                else f"SMPP link lost after submit_sm was sent: {exc}"
            )
            for index in list(in_flight):
                seqs = in_flight.pop(index)
                if seqs and all(s in link.responses for s in seqs):
                    results[index] = _result_of([link.responses.pop(s) for s in seqs])
                else:
                    results[index] = SendResult(Outcome.UNKNOWN, handed_off=True, detail=lost)
            for index, _, _ in ready[position:]:
                if results[index] is None:
                    results[index] = SendResult(Outcome.TEMPORARY, detail=f"not submitted: {lost}")
            return
        link.last_used = time.monotonic()
        for index in list(in_flight):
            settle(index)


def _result_of(answers: list[tuple[int, str | None]]) -> SendResult:
    """The result of one message from its parts' ``(status, message_id)`` answers."""
    ids = [mid for status, mid in answers if status == 0 and mid]
    failures = [(n, status) for n, (status, _) in enumerate(answers, 1) if status != 0]
    if not failures:
        return SendResult(Outcome.SENT, provider_message_id=ids[0], handed_off=True, part_ids=ids)
    part, status = failures[0]
    where = f"part {part} of {len(answers)}: " if len(answers) > 1 else ""
    detail = f"submit_sm refused, {where}{status_name(status)}"
    if not ids and status in THROTTLE_STATUSES:
        outcome = Outcome.THROTTLED
    elif not ids and status in TEMPORARY_STATUSES:
        outcome = Outcome.TEMPORARY
    else:
        outcome = Outcome.PERMANENT
    return SendResult(
        outcome,
        provider_message_id=ids[0] if ids else None,
        handed_off=True,
        part_ids=ids,
        detail=detail,
    )


@register_backend
class SmppChannel(Channel):
    """Options: host, port, system_id, password, system_type, source_addr, source_ton,
    source_npi, timeout, enquire_link_interval (seconds), window (submits in flight)."""

    backend = "smpp"

    def __init__(
        self, channel: str, options: Mapping[str, Any], context: Mapping[str, Any]
    ) -> None:
        super().__init__(channel, options, context)
        self.host = str(self.option("host", required=True))
        self.port = int(self.option("port", 2775))
        self.system_id = str(self.option("system_id", required=True))
        self.password = str(self.option("password", ""))
        self.system_type = str(self.option("system_type", ""))
        self.source_addr = str(self.option("source_addr", "Ledgerline"))
        alphanumeric = not self.source_addr.lstrip("+").isdigit()
        self.source_ton = int(self.option("source_ton", 5 if alphanumeric else 1))
        self.source_npi = int(self.option("source_npi", 0 if alphanumeric else 1))
        self.timeout = float(self.option("timeout", 10))
        self.enquire_link_interval = float(self.option("enquire_link_interval", 30))
        #: submit_sm PDUs awaiting their response at once (SMPP windowing); 1: none.
        self.window = max(1, int(self.option("window", 10)))
        self.receipts: list[Receipt] = []
        self._idle: list[_Link] = []
        self._lock = threading.Lock()

    @property
    def provider(self) -> str:
        return f"{self.channel}:smpp:{self.host}"

    def validate_address(self, address: str) -> str | None:
        if not E164.match(address):
            return f"invalid phone number {address!r}: expected E.164, e.g. +31612345678"
        return None

    def checkout(self) -> _Link:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return _Link(self)

    def checkin(self, link: _Link) -> None:
        with self._lock:
            self._idle.append(link)

    def open(self) -> ChannelSession:
        return _SmppSession(self)

    def take_receipts(self) -> list[Receipt]:
        with self._lock:
            taken, self.receipts = self.receipts, []
        return taken

    def poll_receipts(self, seconds: float) -> list[Receipt]:
        """Listen on an idle (or new) link for ``seconds``; the receipts read meanwhile."""
        session = _SmppSession(self)
        try:
            link = session._link()
            link.read_for(seconds)
        except (smpplib.exceptions.ConnectionError, smpplib.exceptions.PDUError, OSError) as exc:
            log.warning("SMPP receipt polling on %s:%s failed: %s", self.host, self.port, exc)
            if session.link is not None:
                session.link.close()
        finally:
            session.close()
        return self.take_receipts()

    def shutdown(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for link in idle:
            link.close()
