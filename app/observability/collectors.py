"""The metric collectors the app registers by default (see :mod:`app.observability.metrics`).

* :func:`chain_metrics`: is the chain answering, and its head block;
* :func:`anchoring_metrics`: the approval log's size, what waits to be anchored and for
  how long, the last anchor and the outbox's failed attempts (the ``approval_log_*``
  tables);
* :func:`dispatch_metrics`: messages by channel and status, send attempts, and the
  dispatch outbox's backlog (the ``deliveries`` and ``dispatch_outbox`` tables);
* :func:`queue_metrics`: the depth of every Celery queue in Redis.

Each reads shared state only, so every process reports the same values.
"""

from __future__ import annotations

from collections.abc import Iterator

from flask import current_app
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from sqlalchemy import func, select

from app.database import utcnow
from app.extensions import db
from ledger.errors import LedgerError


def chain_metrics() -> Iterator[Metric]:
    from app.extensions import chain

    up = GaugeMetricFamily(
        "ledgerline_chain_up", "1 when the chain (JSON-RPC node or embedded) answers."
    )
    try:
        connected = chain.get()
        head, chain_id = connected.block_number(), connected.chain_id
    except LedgerError:  # unreachable or owned by another process: reported as down
        up.add_metric([], 0)
        yield up
        return
    up.add_metric([], 1)
    yield up
    block = GaugeMetricFamily(
        "ledgerline_chain_head_block", "The chain's latest block number.", labels=["chain_id"]
    )
    block.add_metric([str(chain_id)], head)
    yield block


def anchoring_metrics() -> Iterator[Metric]:
    from app.audit.services import anchoring_status

    status = anchoring_status()
    now = utcnow()

    def gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
        return GaugeMetricFamily(name, documentation, value=value)

    yield gauge("ledgerline_approval_log_entries", "Entries in the approval log.", status.log_size)
    yield gauge(
        "ledgerline_approval_log_anchored_entries",
        "Entries covered by the latest anchored checkpoint.",
        status.anchored_size,
    )
    yield gauge(
        "ledgerline_anchoring_pending_entries",
        "Entries waiting to be anchored on-chain.",
        status.pending_entries,
    )
    oldest = status.oldest_pending_at
    yield gauge(
        "ledgerline_anchoring_oldest_pending_age_seconds",
        "How long the oldest unanchored entry has waited (0 when none waits).",
        max((now - oldest).total_seconds(), 0.0) if oldest else 0.0,
    )
    last = status.last_anchor
    if last is not None and last.anchored_at is not None:
        yield gauge(
            "ledgerline_anchoring_last_anchor_timestamp_seconds",
            "Unix time of the latest anchored checkpoint.",
            last.anchored_at.timestamp(),
        )
        yield gauge(
            "ledgerline_anchoring_seconds_since_last_anchor",
            "Seconds since the latest anchored checkpoint.",
            max((now - last.anchored_at).total_seconds(), 0.0),
        )
        if last.block_number is not None:
            yield gauge(
                "ledgerline_anchoring_last_anchor_block",
                "Block of the latest anchoring transaction.",
                last.block_number,
            )
    failures = status.outbox.attempts if status.failing and status.outbox is not None else 0
    yield gauge(
        "ledgerline_anchoring_consecutive_failures",
        "Failed anchoring attempts since the last success (0 while anchoring works).",
        failures,
    )


def dispatch_metrics() -> Iterator[Metric]:
    from app.dispatch.models import CHANNEL_VALUES, STATUS_VALUES, Delivery, OutboxMessage

    counts = {(channel, status): 0 for channel in CHANNEL_VALUES for status in STATUS_VALUES}
    attempts = dict.fromkeys(CHANNEL_VALUES, 0)
    rows = db.session.execute(
        select(
            Delivery.channel,
            Delivery.status,
            func.count(),
            func.coalesce(func.sum(Delivery.attempts), 0),
        ).group_by(Delivery.channel, Delivery.status)
    ).all()
    for channel, status, count, tries in rows:
        counts[(channel, status)] = int(count)
        attempts[channel] = attempts.get(channel, 0) + int(tries)
    messages = GaugeMetricFamily(
        "ledgerline_messages",
        "Messages (deliveries) by channel and status.",
        labels=["channel", "status"],
    )
    for (channel, status), count in sorted(counts.items()):
        messages.add_metric([channel, status], count)
    yield messages
    sent = CounterMetricFamily(
        "ledgerline_message_attempts",
        "Send attempts made, by channel (retries included).",
        labels=["channel"],
    )
    for channel, total in sorted(attempts.items()):
        sent.add_metric([channel], total)
    yield sent
    waiting, oldest = db.session.execute(
        select(func.count(), func.min(OutboxMessage.available_at)).where(
            OutboxMessage.relayed_at.is_(None)
        )
    ).one()
    yield GaugeMetricFamily(
        "ledgerline_dispatch_outbox_pending",
        "Send tasks written to the dispatch outbox, not yet relayed to the broker.",
        value=int(waiting),
    )
    lag = max((utcnow() - oldest).total_seconds(), 0.0) if oldest is not None else 0.0
    yield GaugeMetricFamily(
        "ledgerline_dispatch_outbox_lag_seconds",
        "How long the oldest unrelayed outbox row has been due (0 when none waits).",
        value=lag,
    )


def queue_metrics() -> Iterator[Metric]:
    from redis import RedisError

    from app.observability.queues import read_queue_depths, redis_broker

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if redis_broker(app) is None:
        return  # eager mode, or a broker whose queues are not measured
    up = GaugeMetricFamily("ledgerline_broker_up", "1 when the Redis broker answers.")
    try:
        depths = read_queue_depths(app)
    except (RedisError, OSError):
        up.add_metric([], 0)
        yield up
        return
    up.add_metric([], 1)
    yield up
    queues = GaugeMetricFamily(
        "ledgerline_celery_queue_length", "Tasks waiting in a Celery queue.", labels=["queue"]
    )
    for name, depth in depths.queues.items():
        queues.add_metric([name], depth)
    yield queues
    yield GaugeMetricFamily(
        "ledgerline_celery_unacked_messages",
        "Tasks taken by a worker and not yet acknowledged (running or prefetched).",
        value=depths.unacked,
    )


DEFAULT_COLLECTORS = (chain_metrics, anchoring_metrics, dispatch_metrics, queue_metrics)
