"""Per-app dispatch runtime: the parsed settings, the channel backends, the rate limiter.

Built once per app and process on first use (never at import) and kept in
``app.extensions``; SMPP links and rate-limit clients live as long as the process.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from flask import Flask, current_app

from app.dispatch.channels.base import Channel, build_channel
from app.dispatch.policy import DispatchConfig, DispatchConfigError
from app.dispatch.ratelimit import RateLimiter

_KEY = "ledgerline.dispatch"

#: ``render_many(campaign_version_id, contact_ids, channel) -> {contact_id: message}``
Renderer = Callable[[int, Iterable[int], str], Mapping[int, Any]]


class DispatchRuntime:
    def __init__(self, app: Flask) -> None:
        self.config = DispatchConfig.from_mapping(app.config)
        broker = str(app.config.get("BROKER_URL") or "")
        redis_url = broker if broker.startswith(("redis://", "rediss://")) else None
        self.limiter = RateLimiter(self.config.rate_limits, redis_url)
        self.context = {"secret": str(app.config["SECRET_KEY"])}
        self._channels: dict[str, Channel] = {}
        self._renderer: Renderer | None = None
        self._lock = threading.Lock()

    def channel(self, name: str) -> Channel:
        with self._lock:
            if name not in self._channels:
                self._channels[name] = build_channel(name, self.config.channels, self.context)
            return self._channels[name]

    def channels(self) -> list[Channel]:
        with self._lock:
            return list(self._channels.values())

    def renderer(self) -> Renderer:
        if self._renderer is None:
            module_name, _, attribute = self.config.renderer.partition(":")
            try:
                self._renderer = getattr(importlib.import_module(module_name), attribute)
            except (ImportError, AttributeError) as exc:
                raise DispatchConfigError(
                    f"DISPATCH_RENDERER={self.config.renderer!r} cannot be imported ({exc}); "
                    "use 'module:function'"
                ) from None
        return self._renderer


def runtime(app: Flask | None = None) -> DispatchRuntime:
    target = app if app is not None else current_app._get_current_object()  # type: ignore[attr-defined]
    state = target.extensions.get(_KEY)
    if state is None:
        state = target.extensions.setdefault(_KEY, DispatchRuntime(target))
    return state
