"""The dispatch pipeline on the embedded default (capture channel), on SQLite and
PostgreSQL: idempotent enqueueing, claims, send-time rules, pause/resume/cancel, the
sweeper's recovery of dead runs, review, and the start behind the approval gate."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select, update

from app.audience.models import Suppression
from app.database import utcnow
from app.dispatch import sending, services
from app.dispatch.models import CapturedMessage, Delivery, OutboxMessage
from app.errors import PermissionDeniedError
from app.extensions import db
from tests import dispatch_support as ds
from tests.integration.dispatch_fixtures import *  # noqa: F403


def test_members_repeated_in_the_snapshot_get_one_delivery_and_one_capture(
    dispatch_app: Callable[..., Flask],
) -> None:
    app = dispatch_app()
    with app.app_context():
        audience = ds.make_audience(3)
        twice = services.ApprovedDispatch(
            1,
            1,
            None,
            [services.Member(c, "email", audience.emails[c]) for c in audience.contact_ids] * 2,
        )
        dispatch = services.enqueue_approved(twice, None)
        db.session.commit()
        assert dispatch.total == 3
        outbox = db.session.execute(select(OutboxMessage)).scalars().all()
        assert [o.payload["delivery_ids"] for o in outbox] == [[r.id for r in ds.delivery_rows(1)]]
        services.kick()
        assert ds.statuses(1) == {"sent": 3}
        assert db.session.execute(select(func.count(CapturedMessage.id))).scalar_one() == 3


def test_a_duplicate_task_sends_nothing_twice_because_rows_are_claimed(
    dispatch_app: Callable[..., Flask],
) -> None:
    app = dispatch_app()
    with app.app_context():
        ds.approve_directly(1, ds.make_audience(2), ["email"], kick=False)
        ids = [r.id for r in ds.delivery_rows(1)]
        first = sending.send_batch(ids)
        again = sending.send_batch(ids)
        assert first.claimed == 2 and dict(first.counts) == {"sent": 2}
        assert again.claimed == 0
        assert db.session.execute(select(func.count(CapturedMessage.id))).scalar_one() == 2


def test_suppression_and_consent_are_checked_at_send_time(
    dispatch_app: Callable[..., Flask],
) -> None:
    app = dispatch_app()
    with app.app_context():
        audience = ds.make_audience(3, consent=("email",))
        ds.approve_directly(1, audience, ["email", "sms"], kick=False)
        suppressed = audience.emails[audience.contact_ids[0]]
        db.session.add(Suppression(address=suppressed, channel=None, reason="asked by phone"))
        db.session.commit()
        services.kick()
        rows = {(r.contact_id, r.channel): r for r in ds.delivery_rows(1)}
        first = audience.contact_ids[0]
        assert rows[(first, "email")].status == "suppressed"
        assert rows[(first, "email")].last_error == "the address is suppressed"
        assert all(rows[(c, "sms")].status == "suppressed" for c in audience.contact_ids)
        assert rows[(audience.contact_ids[1], "sms")].last_error == "no consent recorded for sms"
        assert ds.statuses(1) == {"sent": 2, "suppressed": 4}


def test_quiet_hours_defer_to_the_end_of_the_window_in_the_contacts_zone_and_never_drop(
    dispatch_app: Callable[..., Flask],
) -> None:
    hour = datetime.now(UTC).astimezone(__import__("zoneinfo").ZoneInfo("Asia/Tokyo")).hour
    window = f"{hour:02d}-{(hour + 2) % 24:02d}"
    app = dispatch_app(QUIET_HOURS=window)
    with app.app_context():
        audience = ds.make_audience(1, timezone="Asia/Tokyo")
        ds.approve_directly(1, audience, ["email"])
        [row] = ds.delivery_rows(1)
        assert row.status == "deferred" and row.attempts == 0
        local_end = row.next_attempt_at.astimezone(__import__("zoneinfo").ZoneInfo("Asia/Tokyo"))
        assert (local_end.hour, local_end.minute) == ((hour + 2) % 24, 0)
        assert timedelta(hours=1) < row.next_attempt_at - utcnow() <= timedelta(hours=2)
        assert row.last_error.startswith("quiet hours in Asia/Tokyo until ")
        pending = (
            db.session.execute(
                select(OutboxMessage.available_at).where(OutboxMessage.relayed_at.is_(None))
            )
            .scalars()
            .all()
        )
        assert pending and min(pending) >= row.next_attempt_at
    later = dispatch_app(QUIET_HOURS="off")  # the same rows, once the window is over
    with later.app_context():
        ds.make_due(1)
        services.relay_all()
        assert [r.status for r in ds.delivery_rows(1)] == ["sent"]


def test_the_frequency_cap_defers_a_contact_until_the_rolling_week_frees_a_slot(
    dispatch_app: Callable[..., Flask],
) -> None:
    app = dispatch_app(FREQUENCY_CAP=2)
    with app.app_context():
        audience = ds.make_audience(1)
        ds.approve_directly(1, audience, ["email", "sms"])
        assert ds.statuses(1) == {"sent": 2}
        first_sent = min(r.sent_at for r in ds.delivery_rows(1))
        ds.approve_directly(2, audience, ["email"])
        [row] = ds.delivery_rows(2)
        assert row.status == "deferred"
        assert row.next_attempt_at == first_sent + timedelta(days=7)
        assert row.last_error.startswith("frequency cap: 2 messages in 7 days; next slot ")


def test_pause_stops_claims_resume_sends_and_cancel_finishes_the_campaign(
    dispatch_app: Callable[..., Flask], make_user: Callable[..., int]
) -> None:
    app = dispatch_app()
    user_id = make_user(roles=("marketer",))
    with app.app_context():
        from app.accounts.services import get_user

        user = get_user(user_id)
        ds.approve_directly(1, ds.make_audience(3), ["email"], kick=False)
        services.pause(1, user)
        services.relay_all()
        assert ds.statuses(1) == {"queued": 3}
        assert services.progress(1)["state"] == "paused"
        services.resume(1, user)
        assert ds.statuses(1) == {"sent": 3}
        assert services.progress(1)["state"] == "finished"
        ds.approve_directly(2, ds.make_audience(2, prefix="d"), ["email"], kick=False)
        services.cancel(2, user)
        assert ds.statuses(2) == {"cancelled": 2}
        progress = services.progress(2)
        assert progress["finished"] is True and progress["dispatch_state"] == "cancelled"
        services.relay_all()
        assert ds.statuses(2) == {"cancelled": 2}
        viewer = get_user(make_user(email="viv@example.com", roles=("auditor",)))
        with pytest.raises(PermissionDeniedError):
            services.pause(1, viewer)


def test_a_dead_runs_rows_are_requeued_before_hand_off_and_flagged_for_review_after(
    dispatch_app: Callable[..., Flask], make_user: Callable[..., int]
) -> None:
    app = dispatch_app(DISPATCH_LEASE_SECONDS=30)
    user_id = make_user(roles=("marketer",))
    with app.app_context():
        from app.accounts.services import get_user

        ds.approve_directly(1, ds.make_audience(3), ["email"], kick=False)
        ids = [r.id for r in ds.delivery_rows(1)]
        now = utcnow()
        claimed = sending.claim(ids, "dead-run", now)
        assert [r.id for r in claimed] == ids
        # The dead run had handed the first message over; the others never left.
        db.session.execute(update(Delivery).where(Delivery.id == ids[0]).values(handed_off_at=now))
        db.session.commit()
        assert sending.send_batch(ids).claimed == 0  # a live run cannot take them
        report = sending.sweep(now + timedelta(seconds=5))
        assert report.as_dict() == {"requeued": 0, "needs_review": 0, "reenqueued": 0}
        report = sending.sweep(now + timedelta(seconds=31))
        assert (report.requeued, report.needs_review) == (2, 1)
        ds.make_due(1)  # back from the future the sweep was run in
        services.relay_all()
        rows = ds.delivery_rows(1)
        assert [r.status for r in rows] == ["needs-review", "sent", "sent"]
        assert services.progress(1)["state"] == "needs-review"
        services.resolve_review(ids[0], "resend", get_user(user_id), "not in the provider's log")
        assert ds.statuses(1) == {"sent": 3}
        assert services.progress(1)["finished"] is True
        assert db.session.execute(select(func.count(CapturedMessage.id))).scalar_one() == 3


def test_start_dispatch_refuses_users_without_the_marketer_role(
    dispatch_app: Callable[..., Flask], make_user: Callable[..., int]
) -> None:
    app = dispatch_app()
    user_id = make_user(roles=("compliance",))
    with app.app_context():
        from app.accounts.services import get_user

        with pytest.raises(PermissionDeniedError) as refused:
            services.start_dispatch(1, get_user(user_id))
        assert str(refused.value) == (
            "starting, pausing or cancelling a dispatch needs the marketer role"
        )
