"""Per-request log context: a request id, echoed back, and one access line per request.

The id is the client's ``X-Request-ID`` when it is a sane token (a load balancer's or a
caller's, so one id follows a request across systems), else a new random one.  It is
bound to every log record of the request and returned in the ``X-Request-ID`` header.
A URL that names a campaign (``<int:campaign_id>``) or a settlement cycle binds that id
too.  Health probes and scrapes are logged at DEBUG so they do not drown the rest.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from flask import Flask, Response, g, request

from app.observability.logging import bind_log_context, reset_log_context

REQUEST_ID_HEADER = "X-Request-ID"
# Letters, digits and the punctuation of common trace ids; anything else is replaced.
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:;=+/-]{1,128}")
#: URL variables bound to the log context when a route has them.
BOUND_VIEW_ARGS = ("campaign_id", "cycle_id")
QUIET_PATHS = ("/healthz", "/metrics", "/static/")

access_log = logging.getLogger("ledgerline.access")


def request_id_from(header: str | None) -> str:
    """The caller's request id if it is acceptable, else a new one (32 hex digits)."""
    if header and _VALID_REQUEST_ID.fullmatch(header):
        return header
    return uuid.uuid4().hex


def _start() -> None:
    reset_log_context()
    g.request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))
    g.request_started = time.perf_counter()
    ids = {name: (request.view_args or {}).get(name) for name in BOUND_VIEW_ARGS}
    bind_log_context(request_id=g.request_id, **ids)


def _finish(response: Response) -> Response:
    request_id = g.get("request_id")
    if request_id is None:  # a request that failed before our before_request ran
        return response
    response.headers[REQUEST_ID_HEADER] = request_id
    elapsed = time.perf_counter() - g.get("request_started", time.perf_counter())
    level = logging.DEBUG if request.path.startswith(QUIET_PATHS) else logging.INFO
    access_log.log(
        level,
        "%s %s %s",
        request.method,
        request.full_path.rstrip("?"),
        response.status_code,
        extra={
            "method": request.method,
            "path": request.path,
            "status": response.status_code,
            "duration_ms": round(elapsed * 1000, 2),
            "remote_addr": request.remote_addr,
        },
    )
    return response


def _teardown(_error: BaseException | None) -> None:
    reset_log_context()


def init_request_logging(app: Flask) -> None:
    """Register the hooks first, so the id is bound before any other hook logs."""
    app.before_request_funcs.setdefault(None, []).insert(0, _start)
    app.after_request(_finish)
    app.teardown_request(_teardown)
