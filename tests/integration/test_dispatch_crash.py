"""The crash test: workers killed with SIGKILL mid-campaign never lose or duplicate mail.

A 5,000-recipient campaign goes to an SMTP sink (its own process, logging every message
it accepts) through two real Celery workers and celery beat on Redis, against
PostgreSQL.  Each worker is killed with SIGKILL once while sending and restarted.  In
the end the sink holds exactly one message per recipient, with the Message-ID the
delivery row recorded.

A kill that lands between a hand-off group's marker and its recorded results leaves
that group's rows ``needs-review`` (their fate is unknown to the database).  The test
then does what an operator does: look the message up at the provider (here: the sink's
log) and resolve the row as sent, or as never received (send again).  The sink count before that
resolution already proves the rows were not sent twice.
"""

from __future__ import annotations

import secrets
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import create_engine, select, text

from app import MIGRATIONS_DIR, create_app
from tests.conftest import free_port
from tests.dispatch_cluster import Cluster
from tests.integration.app_fixtures import dispose, postgres_schema_url

RECIPIENTS = 5000
BATCH = 50
#: Two hand-off groups per batch: a kill leaves at most one group in needs-review, and
#: the unmarked rows of the batch's other group go back to queued.
HANDOFF_GROUP = 25
pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.postgres]


@pytest.fixture
def crash_db(postgres_url: str) -> Iterator[str]:
    schema = f"ll_crash_{secrets.token_hex(4)}"
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield postgres_schema_url(postgres_url, schema)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def sink_counts(log: Path) -> Counter[str]:
    """Messages at the sink per recipient."""
    return Counter(line.split()[0] for line in log.read_text().splitlines() if line.strip())


def sink_message_ids(log: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in log.read_text().splitlines():
        rcpt, message_id = line.split()
        found.setdefault(rcpt, []).append(message_id)
    return found


def wait_for(app: Flask, campaign_id: int, predicate, timeout: float) -> dict:  # type: ignore[no-untyped-def]
    from app.dispatch import services
    from app.extensions import db

    deadline = time.monotonic() + timeout
    with app.app_context():
        while True:
            progress = services.progress(campaign_id)
            db.session.commit()
            if predicate(progress):
                return progress
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; progress: {progress}")
            time.sleep(0.25)


def sent(progress: dict) -> int:  # type: ignore[type-arg]
    return progress["by_status"].get("sent", 0)


def test_sigkilled_workers_neither_lose_nor_duplicate_a_message(
    crash_db: str, redis_url: str, tmp_path: Path
) -> None:
    port = free_port()
    cluster = Cluster(
        tmp_path,
        crash_db,
        redis_url,
        settings={
            "DISPATCH_CHANNELS": {
                "email": {
                    "backend": "smtp",
                    "host": "127.0.0.1",
                    "port": port,
                    "starttls": False,
                    "sender": "news@ledgerline.example",
                }
            },
            "DISPATCH_RENDERER": "tests.dispatch_support:render_many",
            "QUIET_HOURS": "off",
            "DISPATCH_LEASE_SECONDS": 8,
            "CELERY_VISIBILITY_TIMEOUT": 30,
            "DISPATCH_BATCH_SIZE": BATCH,
            "DISPATCH_HANDOFF_GROUP": HANDOFF_GROUP,
        },
    )
    app = create_app({**cluster.app_settings(), "TESTING": True})
    try:
        from flask_migrate import upgrade

        from app.accounts import services as accounts
        from app.accounts.models import User
        from app.dispatch import services
        from app.dispatch.models import Delivery
        from app.extensions import db
        from tests import dispatch_support as ds

        with app.app_context():
            upgrade(directory=str(MIGRATIONS_DIR))
            reviewer_id = accounts.create_user(
                "ops@example.com", "Ops", "correct horse battery", ("marketer",), None
            ).id
            audience = ds.make_audience(RECIPIENTS)
        log = cluster.start_server("smtp", port)
        cluster.start_worker("w0")
        cluster.start_worker("w1")
        cluster.start_beat()
        with app.app_context():
            ds.approve_directly(1, audience, ["email"])

        kills = 0
        for name, threshold in (("w0", 1200), ("w1", 2800)):
            wait_for(app, 1, lambda p, t=threshold: sent(p) >= t, timeout=120)
            cluster.kill(name)
            kills += 1
            time.sleep(0.5)
            cluster.start_worker(name)
        assert kills == 2

        settled = wait_for(
            app,
            1,
            lambda p: p["final"] + p["by_status"].get("needs-review", 0) == RECIPIENTS,
            timeout=150,
        )
        counts = sink_counts(log)
        # None duplicated, whatever the state of the rows.
        assert max(counts.values()) == 1
        with app.app_context():
            review = (
                db.session.execute(select(Delivery).where(Delivery.status == "needs-review"))
                .scalars()
                .all()
            )
            # Each ambiguous row was claimed by a killed run and marked handed off.
            assert all(row.handed_off_at is not None for row in review)
            # At most one in-flight hand-off group per kill (solo workers: one task each).
            assert len(review) <= kills * HANDOFF_GROUP
            resolved: dict[int, str] = {}
            user = db.session.get(User, reviewer_id)
            for row in review:
                outcome = "sent" if counts.get(row.address) == 1 else "resend"
                resolved[row.id] = outcome
                services.resolve_review(row.id, outcome, user, "checked the sink's log")
        final = wait_for(app, 1, lambda p: p["finished"], timeout=60)
        assert final["by_status"] == {"sent": RECIPIENTS}
        print(f"after the kills: {settled['by_status']}; resolved by review: {resolved}")

        counts = sink_counts(log)
        assert len(counts) == RECIPIENTS and set(counts.values()) == {1}
        with app.app_context():
            rows = db.session.execute(
                select(Delivery.id, Delivery.address, Delivery.provider_message_id)
            ).all()
        ids_at_sink = sink_message_ids(log)
        assert {r.address for r in rows} == set(audience.emails.values()) == set(counts)
        for row in rows:
            # The Message-ID names the delivery; a row settled as sent by review has no
            # recorded one (its run died before recording), a resent one has its own.
            [at_sink] = ids_at_sink[row.address]
            assert at_sink.startswith(f"<ll.{row.id}.")
            expected = None if resolved.get(row.id) == "sent" else at_sink
            assert row.provider_message_id == expected
    finally:
        cluster.stop()
        dispose(app)
