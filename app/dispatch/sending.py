"""The worker side of dispatch: claim, check, send, record.

One call of :func:`send_batch` handles a list of delivery ids:

1. **Claim** (one transaction): ``UPDATE deliveries SET status='sending', claimed_by=<run>
   WHERE id IN (...) AND status IN (queued, deferred, failed-temporary) AND
   next_attempt_at <= now AND the dispatch is running RETURNING id`` (PostgreSQL locks the
   candidates ``FOR UPDATE SKIP LOCKED``; SQLite has one writer).  Rows another run owns
   are skipped, so a duplicate task sends nothing twice.
2. **Check at send time** (one transaction): consent and suppression (→ suppressed),
   quiet hours in the contact's zone and the frequency cap (→ deferred with
   ``next_attempt_at`` when they allow), then render the approved version.
3. **Send** per channel over one session, in hand-off groups of
   ``DISPATCH_HANDOFF_GROUP`` messages: the group's ``handed_off_at`` is committed
   (synchronously, one statement) just before the first message's point of no return,
   only for rows still claimed by this run; the rows held back by the checks and the
   unsubscribe tokens are recorded in the first such commit.
4. **Record** each group's results right after its last message, in one commit (one
   bulk ``UPDATE … FROM unnest(…)`` on PostgreSQL, one multi-row event insert).  Every
   update is conditional on ``claimed_by`` = this run.

:func:`sweep` (Celery beat) handles runs that died: an expired claim *without*
``handed_off_at`` was provably never handed over and is requeued; one *with* it goes to
``needs-review``.  See ``docs/dispatch.md`` for the resulting guarantee.
"""

from __future__ import annotations

import json
import logging
import math
import os
import socket
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from hashlib import sha256
from typing import Any
from urllib.parse import quote

from sqlalchemy import (
    Integer,
    and_,
    any_,
    bindparam,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from app.audience.models import Consent, Contact, Suppression
from app.database import UTCDateTime, utcnow
from app.dispatch.channels.base import Channel, Outcome, OutgoingMessage, SendResult
from app.dispatch.models import (
    CLAIMABLE,
    FALLBACK_TRIGGERS,
    FINAL,
    CapturedMessage,
    Delivery,
    DeliveryEvent,
    DeliveryStatus,
    Dispatch,
    DispatchState,
    OutboxMessage,
    SmsPart,
    UnsubscribeToken,
)
from app.dispatch.policy import DispatchConfig, backoff_delay, frequency_cap_release
from app.dispatch.runtime import DispatchRuntime, runtime
from app.extensions import db

log = logging.getLogger(__name__)

SEND_TASK = "ledgerline.dispatch.send_batch"
DELIVERIES = Delivery.__table__
CLAIMABLE_VALUES = [s.value for s in CLAIMABLE]
OWNED_VALUES = [DeliveryStatus.SENDING.value, DeliveryStatus.NEEDS_REVIEW.value]
FINAL_VALUES = [s.value for s in FINAL]
#: Retries and deferrals due within this many seconds share one outbox message.
OUTBOX_GROUPING_SECONDS = 5
THROTTLE_PAUSE = timedelta(seconds=2)
#: SMS receipt states that end a part; anything else (ENROUTE, ACCEPTD) is progress.
RECEIPT_DELIVERED = "DELIVRD"
RECEIPT_FAILED = frozenset({"UNDELIV", "EXPIRED", "DELETED", "REJECTD"})


@dataclass
class ClaimedRow:
    id: int
    dispatch_id: int
    campaign_id: int
    campaign_version_id: int
    contact_id: int
    channel: str
    address: str
    attempts: int


@dataclass
class Record:
    """The new state of one claimed row."""

    row: ClaimedRow
    status: DeliveryStatus
    detail: str | None = None
    tried: bool = False  # counts as an attempt
    provider_message_id: str | None = None
    next_attempt_at: datetime | None = None
    sent: bool = False
    part_ids: list[str] = field(default_factory=list)
    captured: dict[str, Any] | None = None


@dataclass
class BatchReport:
    claim_id: str
    claimed: int = 0
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    released: int = 0
    aborted: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "claim_id": self.claim_id,
            "claimed": self.claimed,
            "counts": dict(self.counts),
            "released": self.released,
            "aborted": self.aborted,
        }


def new_claim_id() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:16]}"


def id_in(column: Any, ids: Sequence[int]) -> Any:
    """``column IN ids``: on PostgreSQL ``= ANY(:array)``, one parameter however many
    ids (a long ``IN (…)`` list is slow to build, send and parse)."""
    if db.session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, list(ids), type_=postgresql.ARRAY(Integer)))
    return column.in_(list(ids))


def _insert(table: Any) -> Any:
    """INSERT with ON CONFLICT support on the session's dialect."""
    if db.session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


# -- outbox -------------------------------------------------------------------------------


def add_outbox(delivery_ids: Sequence[int], available_at: datetime | None = None) -> None:
    """Write "send these deliveries" into the outbox, in the caller's transaction."""
    if not delivery_ids:
        return
    now = utcnow()
    when = available_at or now
    db.session.execute(
        insert(OutboxMessage.__table__),
        [
            {
                "task": SEND_TASK,
                "payload": {"delivery_ids": list(chunk)},
                "available_at": when,
                "created_at": now,
            }
            for chunk in _chunks(list(delivery_ids), runtime().config.batch_size)
        ],
    )
    db.session.execute(
        update(DELIVERIES)
        .where(id_in(DELIVERIES.c.id, delivery_ids))
        .values(enqueued_at=when)
        .execution_options(synchronize_session=False)
    )


def add_outbox_by_time(due: Iterable[tuple[int, datetime]]) -> None:
    """Outbox messages for rows due at different times, grouped into short windows."""
    now = utcnow()
    groups: dict[int, list[int]] = defaultdict(list)
    for delivery_id, when in due:
        if when <= now:
            groups[0].append(delivery_id)
            continue
        slot = math.ceil(when.timestamp() / OUTBOX_GROUPING_SECONDS) * OUTBOX_GROUPING_SECONDS
        groups[slot].append(delivery_id)
    for slot, ids in groups.items():
        add_outbox(ids, datetime.fromtimestamp(slot, tz=now.tzinfo) if slot else now)


def _chunks(items: list[int], size: int) -> Iterable[list[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# -- claim --------------------------------------------------------------------------------


def claim(delivery_ids: Sequence[int], claim_id: str, now: datetime) -> list[ClaimedRow]:
    """Claim the claimable rows among ``delivery_ids`` for this run; commits."""
    running = select(Dispatch.id).where(Dispatch.state == DispatchState.RUNNING.value)
    candidates = (
        select(DELIVERIES.c.id)
        .where(
            id_in(DELIVERIES.c.id, delivery_ids),
            DELIVERIES.c.status.in_(CLAIMABLE_VALUES),
            DELIVERIES.c.next_attempt_at <= now,
            DELIVERIES.c.dispatch_id.in_(running),
        )
        .with_for_update(skip_locked=True)
    )
    claimed = db.session.execute(
        update(DELIVERIES)
        .where(DELIVERIES.c.id.in_(candidates.scalar_subquery()))
        .values(
            status=DeliveryStatus.SENDING.value,
            claimed_by=claim_id,
            claimed_at=now,
            handed_off_at=None,
            updated_at=now,
        )
        .returning(
            DELIVERIES.c.id,
            DELIVERIES.c.dispatch_id,
            DELIVERIES.c.campaign_id,
            DELIVERIES.c.contact_id,
            DELIVERIES.c.channel,
            DELIVERIES.c.address,
            DELIVERIES.c.attempts,
        )
        .execution_options(synchronize_session=False)
    ).all()
    if not claimed:
        db.session.commit()
        return []
    versions = dict(
        db.session.execute(
            select(Dispatch.id, Dispatch.campaign_version_id).where(
                Dispatch.id.in_({row.dispatch_id for row in claimed})
            )
        ).all()
    )
    db.session.commit()
    return sorted(
        (
            ClaimedRow(
                row.id,
                row.dispatch_id,
                row.campaign_id,
                versions[row.dispatch_id],
                row.contact_id,
                row.channel,
                row.address,
                row.attempts,
            )
            for row in claimed
        ),
        key=lambda row: row.id,
    )


# -- send-time checks ---------------------------------------------------------------------


def send_time_checks(
    rows: list[ClaimedRow], config: DispatchConfig, now: datetime
) -> tuple[list[ClaimedRow], list[Record]]:
    """Split claimed rows into those to send now and the records of those that may not."""
    contact_ids = sorted({r.contact_id for r in rows})
    zones = dict(
        db.session.execute(
            select(Contact.id, Contact.timezone).where(id_in(Contact.id, contact_ids))
        ).all()
    )
    consents = {
        (contact_id, channel): status
        for contact_id, channel, status in db.session.execute(
            select(Consent.contact_id, Consent.channel, Consent.status).where(
                id_in(Consent.contact_id, contact_ids)
            )
        )
    }
    suppressions = {
        (address, channel)
        for address, channel in db.session.execute(
            select(Suppression.address, Suppression.channel).where(
                Suppression.address.in_(sorted({r.address for r in rows}))
            )
        )
    }
    history: dict[int, list[datetime]] = defaultdict(list)
    if config.frequency_cap > 0:
        for contact_id, sent_at in db.session.execute(
            select(Delivery.contact_id, Delivery.sent_at).where(
                id_in(Delivery.contact_id, contact_ids),
                Delivery.sent_at > now - timedelta(days=7),
            )
        ):
            history[contact_id].append(sent_at)

    to_send: list[ClaimedRow] = []
    held: list[Record] = []
    for row in rows:
        consent = consents.get((row.contact_id, row.channel))
        if (row.address, None) in suppressions or (row.address, row.channel) in suppressions:
            held.append(Record(row, DeliveryStatus.SUPPRESSED, "the address is suppressed"))
            continue
        if consent != "granted":
            reason = f"consent {consent}" if consent else "no consent recorded"
            held.append(Record(row, DeliveryStatus.SUPPRESSED, f"{reason} for {row.channel}"))
            continue
        if row.contact_id not in zones:
            held.append(Record(row, DeliveryStatus.FAILED_PERMANENT, "the contact was deleted"))
            continue
        if config.quiet_hours is not None:
            until = config.quiet_hours.next_allowed(now, zones[row.contact_id])
            if until is not None:
                detail = f"quiet hours in {zones[row.contact_id]} until {until.isoformat()}"
                held.append(Record(row, DeliveryStatus.DEFERRED, detail, next_attempt_at=until))
                continue
        release = frequency_cap_release(history[row.contact_id], config.frequency_cap, now)
        if release is not None:
            detail = (
                f"frequency cap: {config.frequency_cap} messages in 7 days; "
                f"next slot {release.isoformat()}"
            )
            held.append(Record(row, DeliveryStatus.DEFERRED, detail, next_attempt_at=release))
            continue
        history[row.contact_id].append(now)
        to_send.append(row)
    return to_send, held


# -- rendering ----------------------------------------------------------------------------


def render_rows(
    rt: DispatchRuntime, rows: list[ClaimedRow]
) -> tuple[dict[int, OutgoingMessage], list[Record], list[dict[str, Any]]]:
    """Messages for ``rows`` (by delivery id), failed records for unrenderable rows, and
    the unsubscribe tokens to store."""
    from app.campaigns.rendering import unsubscribe_url

    render = rt.renderer()
    messages: dict[int, OutgoingMessage] = {}
    failed: list[Record] = []
    tokens: list[dict[str, Any]] = []
    groups: dict[tuple[int, str], list[ClaimedRow]] = defaultdict(list)
    for row in rows:
        groups[(row.campaign_version_id, row.channel)].append(row)
    for (version_id, channel), members in groups.items():
        try:
            rendered = dict(render(version_id, [r.contact_id for r in members], channel))
        except Exception:  # one recipient's data must not sink the batch
            rendered = {}
            for row in members:
                try:
                    rendered.update(render(version_id, [row.contact_id], channel))
                except Exception as exc:  # recorded on the row, never lost
                    log.warning("cannot render delivery %s: %s", row.id, exc)
                    failed.append(
                        Record(row, DeliveryStatus.FAILED_PERMANENT, f"cannot render: {exc}")
                    )
        failed_ids = {r.row.id for r in failed}
        for row in members:
            if row.id in failed_ids:
                continue
            message = rendered.get(row.contact_id)
            if message is None:
                failed.append(
                    Record(row, DeliveryStatus.FAILED_PERMANENT, "the contact no longer exists")
                )
                continue
            token = message.unsubscribe_token
            mailto = None
            if rt.config.unsubscribe_mailto:
                mailto = (
                    f"mailto:{rt.config.unsubscribe_mailto}?subject={quote('unsubscribe ' + token)}"
                )
            payload = json.loads(message.payload_json) if message.payload_json else None
            messages[row.id] = OutgoingMessage(
                delivery_id=row.id,
                campaign_id=row.campaign_id,
                contact_id=row.contact_id,
                channel=row.channel,
                address=row.address,
                subject=message.subject,
                text=message.text,
                html=message.html,
                sms_text=message.sms_text,
                payload=payload,
                unsubscribe_url=unsubscribe_url(token) if token else None,
                unsubscribe_mailto=mailto,
            )
            tokens.append(
                {
                    "token_hash": sha256(token.encode()).hexdigest(),
                    "campaign_id": row.campaign_id,
                    "contact_id": row.contact_id,
                    "channel": row.channel,
                    "address": row.address,
                    "created_at": utcnow(),
                }
            )
    return messages, failed, tokens


def store_tokens(tokens: list[dict[str, Any]]) -> None:
    """Remember issued unsubscribe tokens (by hash) so the endpoint can find them."""
    if tokens:
        stmt = _insert(UnsubscribeToken.__table__).on_conflict_do_nothing(
            index_elements=["token_hash"]
        )
        db.session.execute(stmt, tokens)


# -- recording ----------------------------------------------------------------------------


def record_for(
    row: ClaimedRow, result: SendResult, config: DispatchConfig, now: datetime
) -> Record:
    """The new state of ``row`` after ``result``."""
    outcome = result.outcome
    if outcome is Outcome.SENT:
        return Record(
            row,
            DeliveryStatus.SENT,
            result.detail,
            tried=True,
            provider_message_id=result.provider_message_id,
            sent=True,
            part_ids=result.part_ids,
            captured=result.captured,
        )
    if outcome is Outcome.BOUNCED:
        return Record(row, DeliveryStatus.BOUNCED, result.detail, tried=True)
    if outcome is Outcome.PERMANENT:
        return Record(
            row,
            DeliveryStatus.FAILED_PERMANENT,
            result.detail,
            tried=True,
            provider_message_id=result.provider_message_id,
            part_ids=result.part_ids,
        )
    if outcome is Outcome.INVALID_ADDRESS:
        return Record(row, DeliveryStatus.FAILED_PERMANENT, f"skipped: {result.detail}")
    if outcome is Outcome.UNKNOWN:
        return Record(
            row,
            DeliveryStatus.NEEDS_REVIEW,
            result.detail,
            tried=True,
            provider_message_id=result.provider_message_id,
        )
    if outcome is Outcome.THROTTLED:
        return Record(
            row,
            DeliveryStatus.DEFERRED,
            f"throttled by the provider: {result.detail}",
            next_attempt_at=now + THROTTLE_PAUSE,
        )
    # TEMPORARY
    attempt = row.attempts + 1
    if attempt >= config.max_attempts:
        return Record(
            row,
            DeliveryStatus.FAILED_PERMANENT,
            f"gave up after {attempt} attempts; last error: {result.detail}",
            tried=True,
        )
    wait = backoff_delay(attempt, config.retry_base, config.retry_cap)
    return Record(
        row,
        DeliveryStatus.FAILED_TEMPORARY,
        result.detail,
        tried=True,
        next_attempt_at=now + wait,
    )


def apply_records(records: list[Record], claim_id: str) -> list[Record]:
    """Write ``records`` for rows this run still owns; the records applied.  No commit.

    PostgreSQL: one ``UPDATE deliveries … FROM (VALUES …) … RETURNING id`` that checks
    ownership and writes every row; SQLite: the ownership check, then one executemany.
    """
    if not records:
        return []
    now = utcnow()
    params = [
        {
            "b_id": r.row.id,
            "b_status": r.status.value,
            "b_error": r.detail if r.status is not DeliveryStatus.SENT else None,
            "b_tried": 1 if r.tried else 0,
            "b_provider": r.provider_message_id,
            "b_next": r.next_attempt_at,
            "b_sent_at": now if r.sent else None,
        }
        for r in records
    ]
    if db.session.get_bind().dialect.name == "postgresql":
        owned = _apply_records_postgresql(params, claim_id, now)
    else:
        owned = _apply_records_generic(params, claim_id, now)
    applied = [r for r in records if r.row.id in owned]
    if not applied:
        return []
    add_events(
        [(r.row.id, r.row.campaign_id, r.row.channel, r.status.value, r.detail) for r in applied],
        now,
    )
    captured = [r.captured for r in applied if r.captured is not None]
    if captured:
        db.session.execute(
            insert(CapturedMessage.__table__), [{**c, "created_at": now} for c in captured]
        )
    parts = [
        {"message_id": mid, "delivery_id": r.row.id, "part": n, "parts": len(r.part_ids)}
        for r in applied
        for n, mid in enumerate(r.part_ids, start=1)
    ]
    if parts:
        _attach_parts(parts)
    later = [(r.row.id, r.next_attempt_at) for r in applied if r.next_attempt_at is not None]
    if later:
        add_outbox_by_time(later)  # type: ignore[arg-type]
    finals = [r.row.id for r in applied if r.status in FALLBACK_TRIGGERS]
    if finals:
        start_fallbacks(finals)
    return applied


_APPLY_RECORDS_POSTGRESQL = text(
    "UPDATE deliveries SET status = v.status, last_error = v.error, "
    "attempts = deliveries.attempts + v.tried, "
    "provider_message_id = coalesce(v.provider, deliveries.provider_message_id), "
    "next_attempt_at = coalesce(v.next_at, deliveries.next_attempt_at), "
    "sent_at = coalesce(v.sent_at, deliveries.sent_at), updated_at = :now "
    "FROM unnest(CAST(:ids AS integer[]), CAST(:statuses AS text[]), "
    "CAST(:errors AS text[]), CAST(:tried AS integer[]), CAST(:providers AS text[]), "
    "CAST(:next_at AS timestamptz[]), CAST(:sent_at AS timestamptz[])) "
    "AS v(id, status, error, tried, provider, next_at, sent_at) "
    "WHERE deliveries.id = v.id AND deliveries.claimed_by = :claim_id "
    "AND deliveries.status IN ('sending', 'needs-review') "
    "RETURNING deliveries.id"
).bindparams(bindparam("now", type_=UTCDateTime()))


def _apply_records_postgresql(
    params: list[dict[str, Any]], claim_id: str, now: datetime
) -> set[int]:
    """One short statement with one array per column (compiled and prepared once):
    the new state of every row this run still owns; their ids."""
    assert OWNED_VALUES == ["sending", "needs-review"]  # spelled out in the statement
    return set(
        db.session.execute(
            _APPLY_RECORDS_POSTGRESQL,
            {
                "now": now,
                "claim_id": claim_id,
                "ids": [p["b_id"] for p in params],
                "statuses": [p["b_status"] for p in params],
                "errors": [p["b_error"] for p in params],
                "tried": [p["b_tried"] for p in params],
                "providers": [p["b_provider"] for p in params],
                "next_at": [p["b_next"] for p in params],
                "sent_at": [p["b_sent_at"] for p in params],
            },
        ).scalars()
    )


def _apply_records_generic(params: list[dict[str, Any]], claim_id: str, now: datetime) -> set[int]:
    """The ownership check, then one executemany for the rows owned; their ids."""
    owned = set(
        db.session.execute(
            update(DELIVERIES)
            .where(
                DELIVERIES.c.id.in_([p["b_id"] for p in params]),
                DELIVERIES.c.claimed_by == claim_id,
                DELIVERIES.c.status.in_(OWNED_VALUES),
            )
            .values(updated_at=now)
            .returning(DELIVERIES.c.id)
            .execution_options(synchronize_session=False)
        ).scalars()
    )
    mine = [p for p in params if p["b_id"] in owned]
    if mine:
        db.session.execute(
            update(DELIVERIES)
            .where(DELIVERIES.c.id == bindparam("b_id"))
            .values(
                status=bindparam("b_status"),
                last_error=bindparam("b_error"),
                attempts=DELIVERIES.c.attempts + bindparam("b_tried"),
                provider_message_id=func.coalesce(
                    bindparam("b_provider", type_=DELIVERIES.c.provider_message_id.type),
                    DELIVERIES.c.provider_message_id,
                ),
                next_attempt_at=func.coalesce(
                    bindparam("b_next", type_=DELIVERIES.c.next_attempt_at.type),
                    DELIVERIES.c.next_attempt_at,
                ),
                sent_at=func.coalesce(
                    bindparam("b_sent_at", type_=DELIVERIES.c.sent_at.type), DELIVERIES.c.sent_at
                ),
                updated_at=now,
            )
            .execution_options(synchronize_session=False),
            mine,
        )
    return owned


def add_events(events: list[tuple[int, int, str, str, str | None]], now: datetime) -> None:
    if events:
        db.session.execute(
            insert(DeliveryEvent.__table__),
            [
                {
                    "delivery_id": delivery_id,
                    "campaign_id": campaign_id,
                    "channel": channel,
                    "status": status,
                    "detail": (detail or "")[:2000] or None,
                    "created_at": now,
                }
                for delivery_id, campaign_id, channel, status, detail in events
            ],
        )


def _attach_parts(parts: list[dict[str, Any]]) -> None:
    """Store submitted SMS parts; a receipt that came first is attached and applied."""
    stmt = _insert(SmsPart.__table__)
    stmt = stmt.on_conflict_do_update(
        index_elements=["message_id"],
        set_={
            "delivery_id": stmt.excluded.delivery_id,
            "part": stmt.excluded.part,
            "parts": stmt.excluded.parts,
        },
    )
    db.session.execute(stmt, parts)
    early = (
        db.session.execute(
            select(SmsPart.delivery_id)
            .where(SmsPart.message_id.in_([p["message_id"] for p in parts]))
            .where(SmsPart.receipt.is_not(None))
        )
        .scalars()
        .all()
    )
    if early:
        settle_sms_deliveries(set(early))


# -- fallback -----------------------------------------------------------------------------

ADDRESS_COLUMNS = {
    "email": Contact.email,
    "sms": Contact.phone,
    "webhook": Contact.messenger_handle,
}


def start_fallbacks(delivery_ids: list[int]) -> list[int]:
    """Create the fallback delivery of each row that ended bounced or failed-permanent.

    The fallback row has its own unique key (campaign, contact, fallback channel), so it
    is created at most once whatever calls this; its id is returned and enqueued.
    """
    rows = db.session.execute(
        select(
            Delivery.id,
            Delivery.dispatch_id,
            Delivery.campaign_id,
            Delivery.contact_id,
            Delivery.channel,
            Dispatch.fallback,
        )
        .join(Dispatch, Dispatch.id == Delivery.dispatch_id)
        .where(Delivery.id.in_(delivery_ids), Delivery.fallback_of_id.is_(None))
    ).all()
    wanted = [(r, (r.fallback or {}).get(r.channel)) for r in rows]
    wanted = [(r, ch) for r, ch in wanted if ch and ch != r.channel]
    if not wanted:
        return []
    contacts = {
        c.id: c
        for c in db.session.execute(
            select(Contact.id, Contact.email, Contact.phone, Contact.messenger_handle).where(
                Contact.id.in_([r.contact_id for r, _ in wanted])
            )
        )
    }
    now = utcnow()
    values = []
    for row, channel in wanted:
        contact = contacts.get(row.contact_id)
        address = getattr(contact, ADDRESS_COLUMNS[channel].key, None) if contact else None
        if not address:
            add_events(
                [
                    (
                        row.id,
                        row.campaign_id,
                        row.channel,
                        "fallback-skipped",
                        f"no {channel} address for the fallback",
                    )
                ],
                now,
            )
            continue
        values.append(
            {
                "dispatch_id": row.dispatch_id,
                "campaign_id": row.campaign_id,
                "contact_id": row.contact_id,
                "channel": channel,
                "address": address,
                "status": DeliveryStatus.QUEUED.value,
                "attempts": 0,
                "next_attempt_at": now,
                "fallback_of_id": row.id,
                "created_at": now,
                "updated_at": now,
            }
        )
    if not values:
        return []
    stmt = _insert(DELIVERIES).on_conflict_do_nothing(
        index_elements=["campaign_id", "contact_id", "channel"]
    )
    created = list(db.session.execute(stmt.returning(DELIVERIES.c.id), values).scalars())
    if created:
        origin = {(v["campaign_id"], v["contact_id"], v["channel"]): v for v in values}
        made = db.session.execute(
            select(Delivery.id, Delivery.campaign_id, Delivery.contact_id, Delivery.channel).where(
                Delivery.id.in_(created)
            )
        ).all()
        add_events(
            [
                (
                    m.id,
                    m.campaign_id,
                    m.channel,
                    DeliveryStatus.QUEUED.value,
                    "fallback for delivery "
                    f"{origin[(m.campaign_id, m.contact_id, m.channel)]['fallback_of_id']}",
                )
                for m in made
            ],
            now,
        )
        db.session.execute(
            update(Dispatch)
            .where(Dispatch.id.in_({v["dispatch_id"] for v in values}))
            .values(total=Dispatch.total + len(created), finished_at=None)
            .execution_options(synchronize_session=False)
        )
        add_outbox(created)
    return created


# -- SMS receipts -------------------------------------------------------------------------


def apply_receipts(receipts: Sequence[Any]) -> None:
    """Store delivery receipts on their SMS parts and settle the deliveries.  No commit."""
    if not receipts:
        return
    stmt = _insert(SmsPart.__table__)
    stmt = stmt.on_conflict_do_update(
        index_elements=["message_id"],
        set_={
            "receipt": stmt.excluded.receipt,
            "receipt_error": stmt.excluded.receipt_error,
            "received_at": stmt.excluded.received_at,
        },
    )
    db.session.execute(
        stmt,
        [
            {
                "message_id": r.message_id,
                "receipt": r.state,
                "receipt_error": r.error,
                "received_at": r.received_at,
            }
            for r in receipts
        ],
    )
    ids = (
        db.session.execute(
            select(SmsPart.delivery_id).where(
                SmsPart.message_id.in_([r.message_id for r in receipts]),
                SmsPart.delivery_id.is_not(None),
            )
        )
        .scalars()
        .all()
    )
    if ids:
        settle_sms_deliveries(set(ids))


def settle_sms_deliveries(delivery_ids: set[int]) -> None:
    """delivered when every part is DELIVRD; failed-permanent when any part failed."""
    parts: dict[int, list[tuple[int, str | None, str | None]]] = defaultdict(list)
    for delivery_id, total, receipt, error in db.session.execute(
        select(SmsPart.delivery_id, SmsPart.parts, SmsPart.receipt, SmsPart.receipt_error).where(
            SmsPart.delivery_id.in_(delivery_ids)
        )
    ):
        parts[delivery_id].append((total, receipt, error))
    now = utcnow()
    delivered: list[int] = []
    failed: list[tuple[int, str]] = []
    for delivery_id, items in parts.items():
        bad = [(r, e) for _, r, e in items if r in RECEIPT_FAILED]
        if bad:
            failed.append((delivery_id, f"SMSC receipt {bad[0][0]} (err {bad[0][1]})"))
        elif len(items) >= items[0][0] and all(r == RECEIPT_DELIVERED for _, r, _ in items):
            delivered.append(delivery_id)
    changes = [(i, DeliveryStatus.DELIVERED, "SMSC receipt DELIVRD") for i in delivered]
    changes += [(i, DeliveryStatus.FAILED_PERMANENT, d) for i, d in failed]
    set_after_send(changes, now)


_SET_AFTER_SEND_POSTGRESQL = text(
    "UPDATE deliveries SET status = v.status, last_error = v.error, "
    "sent_at = coalesce(deliveries.sent_at, :now), updated_at = :now "
    "FROM unnest(CAST(:ids AS integer[]), CAST(:statuses AS text[]), "
    "CAST(:errors AS text[])) AS v(id, status, error) WHERE deliveries.id = v.id"
).bindparams(bindparam("now", type_=UTCDateTime()))


def set_after_send(changes: list[tuple[int, DeliveryStatus, str]], now: datetime) -> list[int]:
    """Apply news from the provider after the send (receipt, DSN) to sent rows.

    Only rows in ``sent``/``delivered`` (or ``needs-review``, which the news resolves)
    change; rows ending bounced or failed-permanent start their fallback.  No commit.
    """
    if not changes:
        return []
    news = {i: (status, detail) for i, status, detail in changes}
    current = db.session.execute(
        select(Delivery.id, Delivery.campaign_id, Delivery.channel, Delivery.status)
        .where(Delivery.id.in_(list(news)))
        .with_for_update()
    ).all()
    movable = {
        DeliveryStatus.SENT.value,
        DeliveryStatus.DELIVERED.value,
        DeliveryStatus.NEEDS_REVIEW.value,
    }
    applied = [row for row in current if row.status in movable and row.status != news[row.id][0]]
    if not applied:
        return []
    changed = [
        {
            "b_id": row.id,
            "b_status": news[row.id][0].value,
            "b_error": None if news[row.id][0] is DeliveryStatus.DELIVERED else news[row.id][1],
        }
        for row in applied
    ]
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(
            _SET_AFTER_SEND_POSTGRESQL,
            {
                "now": now,
                "ids": [c["b_id"] for c in changed],
                "statuses": [c["b_status"] for c in changed],
                "errors": [c["b_error"] for c in changed],
            },
        )
    else:
        db.session.execute(
            update(DELIVERIES)
            .where(DELIVERIES.c.id == bindparam("b_id"))
            .values(
                status=bindparam("b_status"),
                last_error=bindparam("b_error"),
                sent_at=func.coalesce(DELIVERIES.c.sent_at, now),
                updated_at=now,
            )
            .execution_options(synchronize_session=False),
            changed,
        )
    add_events(
        [(r.id, r.campaign_id, r.channel, news[r.id][0].value, news[r.id][1]) for r in applied],
        now,
    )
    finals = [r.id for r in applied if news[r.id][0] in FALLBACK_TRIGGERS]
    if finals:
        start_fallbacks(finals)
    return [r.id for r in applied]


def poll_sms_receipts(seconds: float) -> int:
    """Listen on each SMPP channel for ``seconds``, apply the receipts read; commits."""
    rt = runtime()
    total = 0
    for name, options in rt.config.channels.items():
        if (options or {}).get("backend") != "smpp":
            continue
        channel = rt.channel(name)
        receipts = channel.poll_receipts(seconds)  # type: ignore[attr-defined]
        apply_receipts(receipts)
        db.session.commit()
        total += len(receipts)
    return total


# -- the batch ----------------------------------------------------------------------------


class _Run:
    """One batch run: its claim id, pending records and hand-off groups."""

    def __init__(self, rt: DispatchRuntime, claim_id: str, started: float) -> None:
        self.rt = rt
        self.claim_id = claim_id
        self.started = started
        self.pending: list[Record] = []
        self.marked: set[int] = set()
        self.tokens: list[dict[str, Any]] = []
        self.report = BatchReport(claim_id)

    def flush(
        self, mark: Sequence[int] = (), channel: Channel | None = None, durable: bool = True
    ) -> None:
        """Record pending results and mark ``mark`` handed off, in one commit.

        A hand-off marker must be durable before the send.  A commit of results alone
        may skip waiting for the WAL flush (PostgreSQL ``synchronous_commit = off``):
        should the database lose it in a crash, the row still carries its durable marker
        and goes to needs-review; it is never sent again.
        """
        if not durable and not mark and db.session.get_bind().dialect.name == "postgresql":
            db.session.execute(text("SET LOCAL synchronous_commit TO OFF"))
        applied = apply_records(self.pending, self.claim_id)
        for record in applied:
            self.report.counts[record.status.value] += 1
        self.pending = []
        store_tokens(self.tokens)
        self.tokens = []
        if channel is not None:
            take = getattr(channel, "take_receipts", None)
            if take is not None:
                apply_receipts(take())
        if mark:
            now = utcnow()
            self.marked.update(
                db.session.execute(
                    update(DELIVERIES)
                    .where(
                        id_in(DELIVERIES.c.id, mark),
                        DELIVERIES.c.claimed_by == self.claim_id,
                        DELIVERIES.c.status == DeliveryStatus.SENDING.value,
                    )
                    .values(handed_off_at=now)
                    .returning(DELIVERIES.c.id)
                    .execution_options(synchronize_session=False)
                ).scalars()
            )
        db.session.commit()

    def out_of_time(self) -> bool:
        return time.monotonic() - self.started > self.rt.config.lease.total_seconds() / 2

    def release(self, rows: Sequence[ClaimedRow]) -> None:
        """Give back rows never handed off: queued again, enqueued now."""
        if not rows:
            return
        now = utcnow()
        released = (
            db.session.execute(
                update(DELIVERIES)
                .where(
                    id_in(DELIVERIES.c.id, [r.id for r in rows]),
                    DELIVERIES.c.claimed_by == self.claim_id,
                    DELIVERIES.c.status == DeliveryStatus.SENDING.value,
                    DELIVERIES.c.handed_off_at.is_(None),
                )
                .values(
                    status=DeliveryStatus.QUEUED.value,
                    claimed_by=None,
                    claimed_at=None,
                    next_attempt_at=now,
                    updated_at=now,
                )
                .returning(DELIVERIES.c.id)
                .execution_options(synchronize_session=False)
            )
            .scalars()
            .all()
        )
        add_outbox(list(released))
        db.session.commit()
        self.report.released += len(released)

    def send_channel(
        self, channel: Channel, rows: list[ClaimedRow], messages: dict[int, OutgoingMessage]
    ) -> None:
        config = self.rt.config
        bucket = self.rt.limiter.bucket(channel.provider)
        size = len(rows) if channel.transactional else config.handoff_group
        groups = [rows[i : i + size] for i in range(0, len(rows), size)]
        with channel.open() as session:
            for index, group in enumerate(groups):
                if self.out_of_time():
                    self.flush(channel=channel)
                    self.release([r for g in groups[index:] for r in g])
                    return
                if bucket is not None:
                    bucket.take(len(group))
                successes = 0
                throttled = False
                handoffs = {row.id: self._handoff(row, group, channel) for row in group}
                results = session.send_group(
                    [messages[row.id] for row in group], _by_delivery(handoffs)
                )
                for row, result in zip(group, results, strict=True):
                    if result.outcome is Outcome.ABORTED:
                        self.report.aborted += 1
                        continue
                    throttled |= result.outcome is Outcome.THROTTLED
                    successes += result.outcome is Outcome.SENT
                    self.pending.append(record_for(row, result, config, utcnow()))
                # Record right away: the window in which a dead run leaves a row
                # needs-review is the group's send, not the next group's preparation.
                # The limiter is told only afterwards, so a limiter that fails (Redis
                # down) cannot lose the outcome of messages already handed over.
                self.flush(channel=channel, durable=channel.transactional)
                if bucket is not None:
                    if throttled:
                        bucket.throttled()
                    if successes:
                        bucket.succeeded(successes)
            self.flush(channel=channel)

    def _handoff(
        self, row: ClaimedRow, group: list[ClaimedRow], channel: Channel
    ) -> Callable[[], bool]:
        if channel.transactional:
            return lambda: True

        def handoff() -> bool:
            if row.id not in self.marked:
                # First hand-off of this group: record what came before, mark the group.
                done = {r.row.id for r in self.pending}
                self.flush(mark=[r.id for r in group if r.id not in done], channel=channel)
            return row.id in self.marked

        return handoff


def _by_delivery(
    handoffs: dict[int, Callable[[], bool]],
) -> Callable[[OutgoingMessage], bool]:
    """``handoff(message)`` for :meth:`ChannelSession.send_group`: the row's own."""

    def handoff(message: OutgoingMessage) -> bool:
        return handoffs[message.delivery_id]()

    return handoff


def send_batch(delivery_ids: Sequence[int]) -> BatchReport:
    """Claim, check, send and record ``delivery_ids``; the report of what happened."""
    rt = runtime()
    config = rt.config
    claim_id = new_claim_id()
    run = _Run(rt, claim_id, time.monotonic())
    now = utcnow()
    rows = claim(delivery_ids, claim_id, now)
    run.report.claimed = len(rows)
    if not rows:
        return run.report
    to_send, held = send_time_checks(rows, config, now)
    messages, unrenderable, run.tokens = render_rows(rt, to_send)
    run.pending.extend(held + unrenderable)
    to_send = [r for r in to_send if r.id in messages]
    if not to_send:
        run.flush()
    # Otherwise the held rows and the tokens are recorded in the commit of the first
    # hand-off marker, before the first message goes (one synchronous commit, not two).
    by_channel: dict[str, list[ClaimedRow]] = defaultdict(list)
    for row in to_send:
        by_channel[row.channel].append(row)
    for name, channel_rows in by_channel.items():
        channel = rt.channel(name)
        try:
            run.send_channel(channel, channel_rows, messages)
        except BaseException:
            db.session.rollback()
            raise
    mark_finished({r.dispatch_id for r in rows})
    db.session.commit()
    return run.report


def mark_finished(dispatch_ids: Iterable[int]) -> None:
    """Stamp ``finished_at`` on dispatches whose every row is final.  No commit."""
    for dispatch_id in dispatch_ids:
        open_row = db.session.execute(
            select(Delivery.id)
            .where(Delivery.dispatch_id == dispatch_id, Delivery.status.not_in(FINAL_VALUES))
            .limit(1)
        ).first()
        if open_row is None:
            db.session.execute(
                update(Dispatch)
                .where(Dispatch.id == dispatch_id, Dispatch.finished_at.is_(None))
                .values(finished_at=utcnow())
                .execution_options(synchronize_session=False)
            )


# -- sweeping -----------------------------------------------------------------------------


@dataclass
class SweepReport:
    requeued: int = 0
    needs_review: int = 0
    reenqueued: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "requeued": self.requeued,
            "needs_review": self.needs_review,
            "reenqueued": self.reenqueued,
        }


def sweep(now: datetime | None = None) -> SweepReport:
    """Recover what dead runs left behind; commits.

    * ``sending`` past the lease without ``handed_off_at``: never handed over, so it is
      queued again (its attempt is not counted);
    * ``sending`` past the lease with ``handed_off_at``: fate unknown → ``needs-review``;
    * claimable rows due, and not enqueued, for longer than the broker's visibility
      timeout: enqueued again (their task was lost, not merely waiting in a backlog).
    """
    rt = runtime()
    moment = now or utcnow()
    expired = moment - rt.config.lease
    report = SweepReport()
    requeued = db.session.execute(
        update(DELIVERIES)
        .where(
            DELIVERIES.c.status == DeliveryStatus.SENDING.value,
            DELIVERIES.c.claimed_at < expired,
            DELIVERIES.c.handed_off_at.is_(None),
        )
        .values(
            status=DeliveryStatus.QUEUED.value,
            claimed_by=None,
            claimed_at=None,
            next_attempt_at=moment,
            updated_at=moment,
        )
        .returning(DELIVERIES.c.id, DELIVERIES.c.campaign_id, DELIVERIES.c.channel)
        .execution_options(synchronize_session=False)
    ).all()
    review = db.session.execute(
        update(DELIVERIES)
        .where(
            DELIVERIES.c.status == DeliveryStatus.SENDING.value,
            DELIVERIES.c.claimed_at < expired,
            DELIVERIES.c.handed_off_at.is_not(None),
        )
        .values(
            status=DeliveryStatus.NEEDS_REVIEW.value,
            last_error="the sending run stopped after handing the message over; "
            "check the provider's logs and resolve",
            updated_at=moment,
        )
        .returning(DELIVERIES.c.id, DELIVERIES.c.campaign_id, DELIVERIES.c.channel)
        .execution_options(synchronize_session=False)
    ).all()
    add_events(
        [
            (r.id, r.campaign_id, r.channel, "queued", "claim expired before hand-off; requeued")
            for r in requeued
        ]
        + [
            (r.id, r.campaign_id, r.channel, "needs-review", "claim expired after hand-off")
            for r in review
        ],
        moment,
    )
    add_outbox([r.id for r in requeued])
    # A relayed task that died with its worker comes back from the broker once the
    # visibility timeout passes; only rows still waiting after that are enqueued again.
    forgotten = moment - timedelta(seconds=rt.config.visibility_timeout)
    running = select(Dispatch.id).where(Dispatch.state == DispatchState.RUNNING.value)
    stale = (
        db.session.execute(
            select(Delivery.id)
            .where(
                Delivery.status.in_(CLAIMABLE_VALUES),
                Delivery.next_attempt_at <= forgotten,
                or_(Delivery.enqueued_at.is_(None), Delivery.enqueued_at < forgotten),
                Delivery.dispatch_id.in_(running),
            )
            .limit(10_000)
        )
        .scalars()
        .all()
    )
    add_outbox(list(stale))
    report.requeued, report.needs_review, report.reenqueued = len(requeued), len(review), len(stale)
    touched = (
        db.session.execute(select(Dispatch.id).where(Dispatch.finished_at.is_(None)))
        .scalars()
        .all()
    )
    mark_finished(touched)
    db.session.commit()
    return report


def due_outbox_filter(now: datetime) -> Any:
    return and_(OutboxMessage.relayed_at.is_(None), OutboxMessage.available_at <= now)
