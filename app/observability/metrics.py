"""``GET /metrics``: Prometheus exposition, computed from shared state at scrape time.

Ledgerline runs as several gunicorn workers and Celery processes, so nothing here is an
in-process counter: each scrape asks the database, the broker and the chain, through
the *collectors* registered on the app.  A collector is a function returning
``prometheus_client`` metric families (``GaugeMetricFamily``, ``CounterMetricFamily``);
a feature adds its own with :func:`register_metric_collector`.  Any process answers the
same numbers, so one scrape target (any web replica) is enough.

A collector that raises is reported, not hidden: its
``ledgerline_metrics_collector_up{collector="…"}`` is 0 and the error is logged with its
traceback; the other collectors' metrics are still served.

With ``LEDGERLINE_METRICS_TOKEN`` set, a scrape must send ``Authorization: Bearer
<token>``; unset, the endpoint is open (keep it on an internal network then).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from flask import Blueprint, Flask, Response, current_app, request
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector, CollectorRegistry

from app.errors import error_response
from app.extensions import db

MetricCollector = Callable[[], Iterable[Metric]]

_KEY = "ledgerline.metric_collectors"
log = logging.getLogger(__name__)

metrics_bp = Blueprint("observability", __name__)


def register_metric_collector(app: Flask, collector: MetricCollector) -> None:
    """Add ``collector`` to every scrape of ``app``'s ``/metrics`` (once)."""
    collectors: list[MetricCollector] = app.extensions.setdefault(_KEY, [])
    if collector not in collectors:
        collectors.append(collector)


def metric_collectors(app: Flask) -> list[MetricCollector]:
    return list(app.extensions.get(_KEY, []))


def collector_name(collector: MetricCollector) -> str:
    module = getattr(collector, "__module__", "") or ""
    name = getattr(collector, "__qualname__", None) or type(collector).__name__
    return f"{module}.{name}" if module else name


class _Scrape(Collector):
    """Runs every registered collector once, inside the app context of the request."""

    def __init__(self, collectors: list[MetricCollector]) -> None:
        self._collectors = collectors

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "ledgerline_metrics_collector_up",
            "1 when the collector answered on this scrape, 0 when it failed (see the log).",
            labels=["collector"],
        )
        for collector in self._collectors:
            name = collector_name(collector)
            try:
                metrics = list(collector())
            except Exception:  # a scrape reports every failure (logged), it never raises
                db.session.rollback()
                log.exception("metric collector %s failed", name)
                up.add_metric([name], 0)
                continue
            yield from metrics
            up.add_metric([name], 1)
        yield up


def render_metrics(accept: str = "") -> tuple[bytes, str]:
    """The exposition of the current app's collectors and its content type, in the
    format ``accept`` asks for (Prometheus text 0.0.4 unless OpenMetrics is asked)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Scrape(metric_collectors(current_app._get_current_object())))  # type: ignore[attr-defined]
    encoder, content_type = choose_encoder(accept)
    return encoder(registry), content_type


def _authorised() -> bool:
    token = current_app.config.get("METRICS_TOKEN")
    if not token:
        return True
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), str(token).encode()
    )


@metrics_bp.get("/metrics")
def metrics() -> Any:
    if not _authorised():
        response = error_response(
            401,
            "authentication_failed",
            "/metrics needs 'Authorization: Bearer <LEDGERLINE_METRICS_TOKEN>'; "
            "set the token in the scraper's configuration",
        )
        response.headers["WWW-Authenticate"] = 'Bearer realm="ledgerline-metrics"'
        return response
    body, content_type = render_metrics(request.headers.get("Accept", ""))
    return Response(body, status=200, content_type=content_type)
