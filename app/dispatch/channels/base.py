"""The channel plugin interface, the send result, and the registry of backends.

A *channel* is what a campaign chooses ("email", "sms", "webhook"); a *backend* is how
this environment delivers it ("smtp", "smpp", "webhook", "capture").  Each environment
maps channels to backends in ``DISPATCH_CHANNELS``; a channel not listed there uses
``capture``, so the embedded default sends nothing outside.

The pipeline opens one :class:`ChannelSession` per batch (connections are reused) and
calls ``send(message, handoff)`` per message.  A backend calls ``handoff()`` right
before its point of no return (SMTP: before ``DATA``; SMPP: before ``submit_sm``; HTTP:
before the request) and must not send when it returns False: the claim was lost.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from types import TracebackType
from typing import Any, ClassVar

from app.errors import ValidationError

Handoff = Callable[[], bool]


class ChannelConfigError(ValidationError):
    """A channel's configuration is missing or wrong; the message says which key."""


class Outcome(enum.StrEnum):
    SENT = "sent"  # the provider accepted the message
    BOUNCED = "bounced"  # the recipient's server refused the recipient (SMTP 5xx at RCPT)
    PERMANENT = "permanent"  # the provider refused it for good (5xx, rejected submit, 4xx)
    TEMPORARY = "temporary"  # try again later (4xx, 5xx, timeout, connection trouble)
    THROTTLED = "throttled"  # the provider asked us to slow down; not the message's fault
    INVALID_ADDRESS = "invalid-address"  # skipped: the address cannot be sent to
    ABORTED = "aborted"  # handoff() returned False: not sent, the claim belongs to another
    UNKNOWN = "unknown"  # the connection broke after the hand-off: fate unknown, review it


@dataclass(frozen=True)
class OutgoingMessage:
    """A rendered message for one delivery row, ready for any channel."""

    delivery_id: int
    campaign_id: int
    contact_id: int
    channel: str
    address: str
    subject: str | None = None
    text: str | None = None
    html: str | None = None
    sms_text: str | None = None
    payload: Any = None
    unsubscribe_url: str | None = None
    unsubscribe_mailto: str | None = None


@dataclass
class SendResult:
    """What happened to one message.  ``handed_off`` says the point of no return passed."""

    outcome: Outcome
    provider_message_id: str | None = None
    detail: str | None = None
    handed_off: bool = False
    part_ids: list[str] = field(default_factory=list)
    # Rows the capture backend adds to the recording transaction.
    captured: dict[str, Any] | None = None


class ChannelSession(ABC):
    """An open connection to a provider, reused for a batch."""

    @abstractmethod
    def send(self, message: OutgoingMessage, handoff: Handoff) -> SendResult: ...

    def send_group(
        self, messages: Sequence[OutgoingMessage], handoff: Callable[[OutgoingMessage], bool]
    ) -> list[SendResult]:
        """Send ``messages`` in order, one result each; ``handoff(message)`` before each
        message's point of no return.  Backends that can keep several messages in flight
        (SMPP windowing) override this; the default sends one after the other."""
        return [self.send(message, partial(handoff, message)) for message in messages]

    def close(self) -> None:  # noqa: B027  (optional hook)
        """Release the connection; never raises."""

    def __enter__(self) -> ChannelSession:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class Channel(ABC):
    """A delivery backend for one channel, built from that channel's settings."""

    backend: ClassVar[str]
    #: True when sending is a database write made in the recording transaction
    #: (capture): then no hand-off marker is needed, the send and its record are atomic.
    transactional: ClassVar[bool] = False

    def __init__(self, channel: str, options: Mapping[str, Any], context: Mapping[str, Any]):
        self.channel = channel
        self.options = dict(options)
        self.context = dict(context)

    @property
    def provider(self) -> str:
        """The rate-limit key: one bucket per channel and provider."""
        return f"{self.channel}:{self.backend}"

    def validate_address(self, address: str) -> str | None:
        """None when ``address`` can be sent to, else why not (the row is skipped)."""
        return None if address.strip() else "the address is empty"

    @abstractmethod
    def open(self) -> ChannelSession:
        """A session for a batch.  Connection errors surface from the first ``send``."""

    def send(self, message: OutgoingMessage, handoff: Handoff | None = None) -> SendResult:
        """Send one message on a session of its own."""
        with self.open() as session:
            return session.send(message, handoff or _always)

    def send_batch(
        self, messages: Iterable[OutgoingMessage], handoff: Handoff | None = None
    ) -> list[SendResult]:
        """Send ``messages`` in order over one session (one connection)."""
        with self.open() as session:
            return [session.send(message, handoff or _always) for message in messages]

    def option(self, key: str, default: Any = None, *, required: bool = False) -> Any:
        if key in self.options:
            return self.options[key]
        if required:
            raise ChannelConfigError(
                f"DISPATCH_CHANNELS[{self.channel!r}] needs {key!r} for the "
                f"{self.backend} backend; add it to the channel's settings"
            )
        return default


def _always() -> bool:
    return True


BACKENDS: dict[str, type[Channel]] = {}


def register_backend(cls: type[Channel]) -> type[Channel]:
    """Class decorator: make ``cls`` available under ``cls.backend``."""
    BACKENDS[cls.backend] = cls
    return cls


def build_channel(
    channel: str, settings: Mapping[str, Mapping[str, Any]], context: Mapping[str, Any]
) -> Channel:
    """The backend configured for ``channel`` (capture when none is)."""
    from app.dispatch import channels  # noqa: F401  (registers the built-in backends)

    options = dict(settings.get(channel) or {"backend": "capture"})
    name = str(options.pop("backend", "capture"))
    try:
        cls = BACKENDS[name]
    except KeyError:
        known = ", ".join(sorted(BACKENDS))
        raise ChannelConfigError(
            f"DISPATCH_CHANNELS[{channel!r}] names backend {name!r}; use one of {known}"
        ) from None
    return cls(channel, options, context)
