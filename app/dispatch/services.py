"""Dispatch use cases: start behind the approval gate, relay the outbox, pause, resume,
cancel, review, bounces, one-click unsubscribe, and the numbers the dashboard shows.

Each function is one transaction.  Sending itself is :mod:`app.dispatch.sending`.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from hashlib import sha256
from typing import Any

from flask import Flask, current_app
from sqlalchemy import bindparam, func, select, text, update

from app.accounts.models import Role, User
from app.audience.models import Consent, Suppression
from app.database import UTCDateTime, utcnow
from app.dispatch import sending
from app.dispatch.bounces import Verdict, parse_dsn
from app.dispatch.models import (
    CLAIMABLE,
    FINAL,
    Delivery,
    DeliveryEvent,
    DeliveryStatus,
    Dispatch,
    DispatchSettings,
    DispatchState,
    OutboxMessage,
    UnsubscribeToken,
)
from app.dispatch.policy import backoff_delay
from app.dispatch.runtime import runtime
from app.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from app.extensions import db

log = logging.getLogger(__name__)

DELIVERIES = Delivery.__table__
CHANNELS = ("email", "sms", "webhook")
INSERT_CHUNK = 1000


class DispatchRefusedError(ConflictError):
    """The approval gate refused the dispatch; ``details["failures"]`` says why."""

    code = "dispatch_refused"


@dataclass(frozen=True)
class Member:
    """One approved recipient on one channel, as the snapshot recorded it."""

    contact_id: int
    channel: str
    address: str


@dataclass(frozen=True)
class ApprovedDispatch:
    """What the gate approved: the version to render and the members to send to."""

    campaign_id: int
    campaign_version_id: int
    snapshot_id: int | None
    members: Sequence[Member]


# -- starting -----------------------------------------------------------------------------


def _require_sender(user: User) -> None:
    if not user.has_role(Role.MARKETER, Role.ADMIN):
        raise PermissionDeniedError(
            "starting, pausing or cancelling a dispatch needs the marketer role"
        )


def load_approved(campaign_id: int) -> ApprovedDispatch:
    """The approved version and the members of its combined recipient snapshot."""
    from app.approvals.gate import approved_snapshot, approved_version
    from app.campaigns import recipients

    version = approved_version(campaign_id)
    snapshot = approved_snapshot(campaign_id)
    channels = set(version.channels)
    members = [
        Member(int(m.contact_id), str(m.channel), str(m.address or ""))
        for m in recipients.combined_members(snapshot)
        if m.channel in channels
    ]
    return ApprovedDispatch(campaign_id, version.id, int(snapshot.id), members)


def start_dispatch(campaign_id: int, user: User) -> Dispatch:
    """Start sending campaign ``campaign_id`` if the approval gate passes now.

    DispatchRefusedError lists every failed gate check; ConflictError when the campaign
    was already dispatched.
    """
    from app.approvals.gate import check_dispatch_gate

    _require_sender(user)
    existing = dispatch_for(campaign_id)
    if existing is not None:
        raise ConflictError(
            f"campaign {campaign_id} was already dispatched on "
            f"{existing.started_at:%Y-%m-%d %H:%M} UTC; pause, resume or cancel it instead"
        )
    verdict = check_dispatch_gate(campaign_id)
    if not verdict.ok:
        raise DispatchRefusedError(
            f"campaign {campaign_id} may not be sent: " + "; ".join(verdict.failures),
            details={"failures": list(verdict.failures)},
        )
    approved = load_approved(campaign_id)
    dispatch = enqueue_approved(approved, user.id)
    _mark_campaign_dispatched(campaign_id)
    db.session.commit()
    kick()
    return dispatch


def _mark_campaign_dispatched(campaign_id: int) -> None:
    from app.campaigns.models import Campaign, CampaignStatus

    db.session.execute(
        update(Campaign)
        .where(Campaign.id == campaign_id)
        .values(status=CampaignStatus.DISPATCHED.value, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def enqueue_approved(approved: ApprovedDispatch, user_id: int | None) -> Dispatch:
    """In one transaction: the dispatch, one delivery per member, and the outbox rows.

    Deliveries are inserted with ON CONFLICT DO NOTHING on (campaign, contact, channel),
    so members repeated in the snapshot, or a retried start, add nothing twice.  The
    caller commits (``start_dispatch`` does) and then kicks the relay.
    """
    settings = db.session.get(DispatchSettings, approved.campaign_id)
    now = utcnow()
    dispatch = Dispatch(
        campaign_id=approved.campaign_id,
        campaign_version_id=approved.campaign_version_id,
        snapshot_id=approved.snapshot_id,
        state=DispatchState.RUNNING.value,
        fallback=dict(settings.fallback) if settings else {},
        total=0,
        started_by_id=user_id,
        started_at=now,
    )
    db.session.add(dispatch)
    db.session.flush()
    values = [
        {
            "dispatch_id": dispatch.id,
            "campaign_id": approved.campaign_id,
            "contact_id": m.contact_id,
            "channel": m.channel,
            "address": m.address,
            "status": DeliveryStatus.QUEUED.value,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
            "updated_at": now,
        }
        for m in approved.members
        if m.channel in CHANNELS
    ]
    created: list[int] = []
    if db.session.get_bind().dialect.name == "postgresql":
        created.extend(_insert_deliveries_postgresql(values, dispatch.id, approved, now))
    else:
        stmt = sending._insert(DELIVERIES).on_conflict_do_nothing(
            index_elements=["campaign_id", "contact_id", "channel"]
        )
        for start in range(0, len(values), INSERT_CHUNK):
            chunk = values[start : start + INSERT_CHUNK]
            created.extend(db.session.execute(stmt.returning(DELIVERIES.c.id), chunk).scalars())
    created.sort()
    dispatch.total = len(created)
    sending.add_outbox(created)
    db.session.flush()
    return dispatch


def _insert_deliveries_postgresql(
    values: list[dict[str, Any]], dispatch_id: int, approved: ApprovedDispatch, now: datetime
) -> list[int]:
    """One ``INSERT … SELECT FROM unnest(arrays) ON CONFLICT DO NOTHING RETURNING id``:
    three array parameters instead of ten parameters per row (a 20,000-row start is one
    short statement, not twenty 10,000-parameter ones)."""
    if not values:
        return []
    return list(
        db.session.execute(
            text(
                "INSERT INTO deliveries (dispatch_id, campaign_id, contact_id, channel, "
                "address, status, attempts, next_attempt_at, created_at, updated_at) "
                "SELECT :dispatch_id, :campaign_id, m.contact_id, m.channel, m.address, "
                ":status, 0, :now, :now, :now "
                "FROM unnest(CAST(:contacts AS integer[]), CAST(:channels AS text[]), "
                "CAST(:addresses AS text[])) AS m(contact_id, channel, address) "
                "ON CONFLICT (campaign_id, contact_id, channel) DO NOTHING RETURNING id"
            ).bindparams(bindparam("now", type_=UTCDateTime())),
            {
                "dispatch_id": dispatch_id,
                "campaign_id": approved.campaign_id,
                "status": DeliveryStatus.QUEUED.value,
                "now": now,
                "contacts": [v["contact_id"] for v in values],
                "channels": [v["channel"] for v in values],
                "addresses": [v["address"] for v in values],
            },
        ).scalars()
    )


def save_settings(campaign_id: int, fallback: dict[str, str], user: User) -> DispatchSettings:
    """Set the campaign's fallback channels (before the dispatch starts)."""
    _require_sender(user)
    problems = {
        first: f"{first} → {then}: both must be one of {', '.join(CHANNELS)} and differ"
        for first, then in fallback.items()
        if first not in CHANNELS or then not in CHANNELS or first == then
    }
    if problems:
        raise ValidationError("the fallback settings are invalid", details=problems)
    if dispatch_for(campaign_id) is not None:
        raise ConflictError(
            f"campaign {campaign_id} is already being dispatched; fallback is fixed at start"
        )
    settings = db.session.get(DispatchSettings, campaign_id) or DispatchSettings(
        campaign_id=campaign_id
    )
    settings.fallback = dict(fallback)
    settings.updated_by_id = user.id
    db.session.add(settings)
    db.session.commit()
    return settings


# -- the outbox relay ---------------------------------------------------------------------

_relaying = threading.local()


def relay_outbox(limit: int = 500, now: datetime | None = None) -> int:
    """Publish due outbox rows to the broker and stamp them relayed; how many.

    On a broker, rows are published first and stamped after: a crash in between
    publishes them again, which is harmless (sending claims every row).  Eagerly (no
    broker) the task runs inside ``apply_async``, so the rows are stamped and committed
    first and the sweeper re-enqueues anything a crash lost.
    """
    from app.celery_app import is_eager
    from app.dispatch.tasks import send_batch_task

    moment = now or utcnow()
    rows = db.session.execute(
        select(OutboxMessage.id, OutboxMessage.payload)
        .where(sending.due_outbox_filter(moment))
        .order_by(OutboxMessage.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    if not rows:
        db.session.commit()
        return 0
    eager = is_eager(current_app)
    route = _route()
    if not eager:
        for row in rows:
            send_batch_task.apply_async(args=[row.payload["delivery_ids"]], **route)
    db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_([r.id for r in rows]))
        .values(relayed_at=moment)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    if eager:
        for row in rows:
            send_batch_task.apply_async(args=[row.payload["delivery_ids"]])
    return len(rows)


def _route(control: bool = False) -> dict[str, str]:
    """Where dispatch tasks go: sends to DISPATCH_QUEUE; relay, sweep and receipts to
    DISPATCH_CONTROL_QUEUE, so they never wait behind a backlog of sends."""
    config = current_app.config
    queue = (control and config.get("DISPATCH_CONTROL_QUEUE")) or config.get("DISPATCH_QUEUE")
    return {"queue": str(queue)} if queue else {}


def relay_all(now: datetime | None = None) -> int:
    """Relay until no due row is left (eager mode: that sends everything due)."""
    if getattr(_relaying, "active", False):
        return 0  # a kick from inside an eager send: the running loop picks it up
    _relaying.active = True
    try:
        total = 0
        while True:
            count = relay_outbox(now=now)
            total += count
            if count == 0:
                return total
    finally:
        _relaying.active = False


def kick() -> None:
    """Relay the outbox now, after a commit (the beat relay is the safety net)."""
    from app.celery_app import is_eager

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if not is_eager(app):
        from kombu.exceptions import OperationalError

        from app.dispatch.tasks import relay_task

        try:
            relay_task.apply_async(**_route(control=True))
        except OperationalError as exc:  # the broker is down: beat relays when it is back
            log.warning("cannot kick the dispatch relay: %s", exc)
        return
    if pump_mode(app) == "inline":
        relay_all()
    else:
        Pump.for_app(app).wake()


def pump_mode(app: Flask) -> str:
    """``inline`` (tests: the kick sends before returning) or ``thread`` (the demo)."""
    default = "inline" if app.testing else "thread"
    return str(app.config.get("DISPATCH_PUMP", default))


class Pump:
    """The embedded default's stand-in for Celery beat: one daemon thread per app that
    relays the outbox when kicked (and every second) and sweeps every 15 seconds."""

    _KEY = "ledgerline.dispatch.pump"
    SWEEP_EVERY = 15.0

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.event = threading.Event()
        self.thread = threading.Thread(target=self._run, name="dispatch-pump", daemon=True)
        self.thread.start()

    @classmethod
    def for_app(cls, app: Flask) -> Pump:
        pump: Pump | None = app.extensions.get(cls._KEY)
        if pump is None or not pump.thread.is_alive():
            pump = app.extensions[cls._KEY] = cls(app)
        return pump

    def wake(self) -> None:
        self.event.set()

    def _run(self) -> None:
        import time

        last_sweep = 0.0
        while True:
            self.event.wait(1.0)
            self.event.clear()
            try:
                with self.app.app_context():
                    relay_all()
                    if time.monotonic() - last_sweep > self.SWEEP_EVERY:
                        sending.sweep()
                        last_sweep = time.monotonic()
            except Exception:  # the pump must survive a bad round; the next one retries
                log.exception("the embedded dispatch pump failed a round")


# -- pause, resume, cancel, review --------------------------------------------------------


def dispatch_for(campaign_id: int) -> Dispatch | None:
    return db.session.execute(
        select(Dispatch).where(Dispatch.campaign_id == campaign_id)
    ).scalar_one_or_none()


def _dispatch_or_404(campaign_id: int) -> Dispatch:
    dispatch = dispatch_for(campaign_id)
    if dispatch is None:
        raise NotFoundError(f"campaign {campaign_id} has not been dispatched; start it first")
    return dispatch


def pause(campaign_id: int, user: User) -> Dispatch:
    """Stop claiming new rows; rows being sent finish.  Resume continues."""
    _require_sender(user)
    dispatch = _dispatch_or_404(campaign_id)
    if dispatch.state != DispatchState.RUNNING.value:
        raise ConflictError(f"the dispatch is {dispatch.state}; only a running one can pause")
    dispatch.state = DispatchState.PAUSED.value
    db.session.commit()
    return dispatch


def resume(campaign_id: int, user: User) -> Dispatch:
    """Run again: every claimable row is enqueued anew (claims make duplicates harmless)."""
    _require_sender(user)
    dispatch = _dispatch_or_404(campaign_id)
    if dispatch.state != DispatchState.PAUSED.value:
        raise ConflictError(f"the dispatch is {dispatch.state}; only a paused one can resume")
    dispatch.state = DispatchState.RUNNING.value
    now = utcnow()
    waiting = db.session.execute(
        select(Delivery.id, Delivery.next_attempt_at).where(
            Delivery.dispatch_id == dispatch.id,
            Delivery.status.in_([s.value for s in CLAIMABLE]),
        )
    ).all()
    sending.add_outbox_by_time((i, max(when, now)) for i, when in waiting)
    db.session.commit()
    kick()
    return dispatch


def cancel(campaign_id: int, user: User) -> Dispatch:
    """Cancel every row not yet claimed; rows being sent finish and are recorded."""
    _require_sender(user)
    dispatch = _dispatch_or_404(campaign_id)
    if dispatch.state == DispatchState.CANCELLED.value:
        raise ConflictError("the dispatch is already cancelled")
    dispatch.state = DispatchState.CANCELLED.value
    now = utcnow()
    cancelled = db.session.execute(
        update(DELIVERIES)
        .where(
            DELIVERIES.c.dispatch_id == dispatch.id,
            DELIVERIES.c.status.in_([s.value for s in CLAIMABLE]),
        )
        .values(
            status=DeliveryStatus.CANCELLED.value,
            updated_at=now,
            last_error=f"cancelled by {user.display_name}",
        )
        .returning(DELIVERIES.c.id, DELIVERIES.c.channel)
        .execution_options(synchronize_session=False)
    ).all()
    sending.add_events(
        [
            (
                r.id,
                campaign_id,
                r.channel,
                DeliveryStatus.CANCELLED.value,
                f"cancelled by {user.display_name}",
            )
            for r in cancelled
        ],
        now,
    )
    sending.mark_finished([dispatch.id])
    db.session.commit()
    return dispatch


REVIEW_OUTCOMES = ("sent", "resend", "failed")


def resolve_review(delivery_id: int, outcome: str, user: User, note: str = "") -> Delivery:
    """Settle a needs-review row after checking the provider's logs.

    ``sent``: the provider has it (final); ``resend``: the provider never got it, send it
    again; ``failed``: it will not be sent (final; starts the fallback).
    """
    _require_sender(user)
    if outcome not in REVIEW_OUTCOMES:
        raise ValidationError(
            f"outcome {outcome!r} is not one of {', '.join(REVIEW_OUTCOMES)}",
            details={"outcome": "unknown value"},
        )
    row = db.session.execute(
        select(Delivery).where(Delivery.id == delivery_id).with_for_update()
    ).scalar_one_or_none()
    if row is None:
        raise NotFoundError(f"no delivery {delivery_id}")
    if row.status != DeliveryStatus.NEEDS_REVIEW.value:
        raise ConflictError(f"delivery {delivery_id} is {row.status}, not needs-review")
    now = utcnow()
    detail = f"review by {user.display_name}: {outcome}" + (f" — {note}" if note else "")
    if outcome == "sent":
        row.status, row.sent_at = DeliveryStatus.SENT.value, row.handed_off_at or now
    elif outcome == "resend":
        row.status, row.next_attempt_at = DeliveryStatus.QUEUED.value, now
        row.claimed_by = row.claimed_at = row.handed_off_at = None
    else:
        row.status = DeliveryStatus.FAILED_PERMANENT.value
    row.last_error, row.updated_at = detail, now
    db.session.flush()
    sending.add_events([(row.id, row.campaign_id, row.channel, row.status, detail)], now)
    if outcome == "resend":
        sending.add_outbox([row.id])
    if outcome == "failed":
        sending.start_fallbacks([row.id])
    sending.mark_finished([row.dispatch_id])
    db.session.commit()
    if outcome != "sent":
        kick()
    return row


# -- bounces and unsubscribes -------------------------------------------------------------


@dataclass(frozen=True)
class BounceReport:
    message_id: str | None
    delivery_id: int | None
    verdicts: list[str]
    applied: bool


def process_bounce(raw: bytes) -> BounceReport:
    """Apply a DSN posted to the bounce endpoint to the delivery it names."""
    dsn = parse_dsn(raw)
    verdicts = [f"{r.final_recipient}: {r.action} {r.status}" for r in dsn.recipients]
    row = None
    if dsn.original_message_id:
        row = db.session.execute(
            select(Delivery).where(
                Delivery.provider_message_id == dsn.original_message_id,
                Delivery.channel == "email",
            )
        ).scalar_one_or_none()
    if row is None:
        log.info("DSN for unknown message %s ignored", dsn.original_message_id)
        return BounceReport(dsn.original_message_id, None, verdicts, False)
    mine = [r for r in dsn.recipients if r.final_recipient == row.address.lower()]
    recipient = (mine or dsn.recipients)[0]
    now = utcnow()
    detail = f"DSN {recipient.action} {recipient.status}" + (
        f": {recipient.diagnostic}" if recipient.diagnostic else ""
    )
    applied: list[int] = []
    if recipient.verdict is Verdict.PERMANENT:
        applied = sending.set_after_send([(row.id, DeliveryStatus.BOUNCED, detail)], now)
        if applied and recipient.is_bad_mailbox:
            stmt = sending._insert(Suppression.__table__).on_conflict_do_nothing(
                index_elements=["address"]
            )
            db.session.execute(
                stmt,
                [
                    {
                        "address": row.address.lower(),
                        "channel": "email",
                        "created_at": now,
                        "reason": f"hard bounce {recipient.status} (delivery {row.id})",
                    }
                ],
            )
    elif recipient.verdict is Verdict.TEMPORARY:
        applied = _retry_after_dsn(row, detail, now)
    elif recipient.verdict is Verdict.DELIVERED:
        applied = sending.set_after_send([(row.id, DeliveryStatus.DELIVERED, detail)], now)
    else:
        sending.add_events([(row.id, row.campaign_id, row.channel, "delayed", detail)], now)
    sending.mark_finished([row.dispatch_id])
    db.session.commit()
    if applied:
        kick()
    return BounceReport(dsn.original_message_id, row.id, verdicts, bool(applied))


def _retry_after_dsn(row: Delivery, detail: str, now: datetime) -> list[int]:
    """A 4.x.x DSN: the message was not delivered and the MTA gave up; try again."""
    if row.status not in (DeliveryStatus.SENT.value, DeliveryStatus.NEEDS_REVIEW.value):
        return []
    config = runtime().config
    if row.attempts >= config.max_attempts:
        return sending.set_after_send(
            [(row.id, DeliveryStatus.FAILED_PERMANENT, f"gave up: {detail}")], now
        )
    row.status = DeliveryStatus.FAILED_TEMPORARY.value
    row.next_attempt_at = now + backoff_delay(row.attempts, config.retry_base, config.retry_cap)
    row.last_error, row.updated_at, row.sent_at = detail, now, None
    db.session.flush()
    sending.add_events([(row.id, row.campaign_id, row.channel, row.status, detail)], now)
    sending.add_outbox([row.id], row.next_attempt_at)
    return [row.id]


@dataclass(frozen=True)
class Unsubscribed:
    channel: str
    campaign_id: int


def find_unsubscribe(token: str) -> UnsubscribeToken | None:
    return db.session.get(UnsubscribeToken, sha256(token.encode()).hexdigest())


def unsubscribe(token: str) -> Unsubscribed | None:
    """Withdraw the consent the token stands for; None for an unknown token."""
    row = find_unsubscribe(token)
    if row is None:
        return None
    now = utcnow()
    stmt = sending._insert(Consent.__table__)
    stmt = stmt.on_conflict_do_update(
        index_elements=["contact_id", "channel"],
        set_={
            "status": "withdrawn",
            "source": stmt.excluded.source,
            "recorded_at": stmt.excluded.recorded_at,
        },
    )
    db.session.execute(
        stmt,
        [
            {
                "contact_id": row.contact_id,
                "channel": row.channel,
                "status": "withdrawn",
                "source": f"one-click unsubscribe (campaign {row.campaign_id})",
                "recorded_at": now,
            }
        ],
    )
    if row.used_at is None:
        row.used_at = now
    db.session.commit()
    return Unsubscribed(row.channel, row.campaign_id)


# -- numbers ------------------------------------------------------------------------------

FINAL_VALUES = {s.value for s in FINAL}


def progress(campaign_id: int) -> dict[str, Any]:
    """Counts per status and channel, and whether the campaign is finished."""
    dispatch = _dispatch_or_404(campaign_id)
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    by_status: dict[str, int] = defaultdict(int)
    for channel, status, count in db.session.execute(
        select(Delivery.channel, Delivery.status, func.count())
        .where(Delivery.dispatch_id == dispatch.id)
        .group_by(Delivery.channel, Delivery.status)
    ):
        counts[channel][status] = count
        by_status[status] += count
    total = sum(by_status.values())
    final = sum(n for s, n in by_status.items() if s in FINAL_VALUES)
    review = by_status.get(DeliveryStatus.NEEDS_REVIEW.value, 0)
    if total and final == total:
        state = "finished"
    elif review and final + review == total:
        state = "needs-review"
    else:
        state = dispatch.state
    return {
        "campaign_id": campaign_id,
        "dispatch_id": dispatch.id,
        "state": state,
        "dispatch_state": dispatch.state,
        "finished": state == "finished",
        "total": total,
        "final": final,
        "percent": round(100 * final / total, 1) if total else 100.0,
        "by_status": dict(by_status),
        "by_channel": {k: dict(v) for k, v in counts.items()},
        "fallback": dict(dispatch.fallback or {}),
        "started_at": dispatch.started_at.isoformat(),
        "finished_at": dispatch.finished_at.isoformat() if dispatch.finished_at else None,
    }


TIMELINE_STATUSES = (
    "sent",
    "delivered",
    "bounced",
    "failed-permanent",
    "suppressed",
    "deferred",
    "failed-temporary",
    "needs-review",
)


def timeline(campaign_id: int, buckets: int = 60) -> dict[str, Any]:
    """Status events per time bucket since the start (the dashboard's chart)."""
    dispatch = _dispatch_or_404(campaign_id)
    events = db.session.execute(
        select(DeliveryEvent.created_at, DeliveryEvent.status).where(
            DeliveryEvent.campaign_id == campaign_id
        )
    ).all()
    start = dispatch.started_at
    end = max([start + timedelta(seconds=1)] + [e.created_at for e in events])
    width = (end - start) / buckets
    series = {s: [0] * buckets for s in TIMELINE_STATUSES}
    for created_at, status in events:
        if status in series:
            index = min(buckets - 1, max(0, int((created_at - start) / width)))
            series[status][index] += 1
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "bucket_seconds": width.total_seconds(),
        "series": series,
    }


def deliveries(
    campaign_id: int,
    *,
    status: str | None = None,
    channel: str | None = None,
    page: int = 1,
    per_page: int = 50,
) -> tuple[list[Delivery], int]:
    """One page of the campaign's deliveries (filtered) and the number matching."""
    dispatch = _dispatch_or_404(campaign_id)
    query = select(Delivery).where(Delivery.dispatch_id == dispatch.id)
    if status:
        query = query.where(Delivery.status == status)
    if channel:
        query = query.where(Delivery.channel == channel)
    total = db.session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    rows = (
        db.session.execute(
            query.order_by(Delivery.id).offset((max(page, 1) - 1) * per_page).limit(per_page)
        )
        .scalars()
        .all()
    )
    return list(rows), int(total)


def delivery_detail(delivery_id: int) -> tuple[Delivery, list[DeliveryEvent]]:
    row = db.session.get(Delivery, delivery_id)
    if row is None:
        raise NotFoundError(f"no delivery {delivery_id}")
    events = (
        db.session.execute(
            select(DeliveryEvent)
            .where(DeliveryEvent.delivery_id == delivery_id)
            .order_by(DeliveryEvent.id)
        )
        .scalars()
        .all()
    )
    return row, list(events)


def list_dispatches() -> list[Dispatch]:
    return list(db.session.execute(select(Dispatch).order_by(Dispatch.started_at.desc())).scalars())


def delivery_json(row: Delivery) -> dict[str, Any]:
    return {
        "id": row.id,
        "campaign_id": row.campaign_id,
        "contact_id": row.contact_id,
        "channel": row.channel,
        "address": row.address,
        "status": row.status,
        "attempts": row.attempts,
        "next_attempt_at": row.next_attempt_at.isoformat() if row.next_attempt_at else None,
        "provider_message_id": row.provider_message_id,
        "last_error": row.last_error,
        "fallback_of_id": row.fallback_of_id,
        "sent_at": row.sent_at.isoformat() if row.sent_at else None,
        "updated_at": row.updated_at.isoformat(),
    }


__all__ = [
    "ApprovedDispatch",
    "DispatchRefusedError",
    "Member",
    "cancel",
    "enqueue_approved",
    "kick",
    "pause",
    "process_bounce",
    "progress",
    "relay_all",
    "relay_outbox",
    "resolve_review",
    "resume",
    "save_settings",
    "start_dispatch",
    "timeline",
    "unsubscribe",
]
