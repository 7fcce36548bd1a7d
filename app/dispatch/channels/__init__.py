"""Channel backends.  Importing this package registers every built-in backend."""

from app.dispatch.channels import capture, email, sms, webhook
from app.dispatch.channels.base import (
    BACKENDS,
    Channel,
    ChannelConfigError,
    ChannelSession,
    Outcome,
    OutgoingMessage,
    SendResult,
    build_channel,
    register_backend,
)

__all__ = [
    "BACKENDS",
    "Channel",
    "ChannelConfigError",
    "ChannelSession",
    "Outcome",
    "OutgoingMessage",
    "SendResult",
    "build_channel",
    "capture",
    "email",
    "register_backend",
    "sms",
    "webhook",
]
