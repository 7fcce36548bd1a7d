"""Fault test: Redis, the broker, is shut down for a few seconds in the middle of a dispatch.

A private ``redis-server`` (its own free port, nothing persisted) carries Celery for a
real worker and beat against PostgreSQL; the SMTP sink is a process of its own that
logs every message it accepts.  Mid-dispatch Redis is shut down, which loses every
queued and unacknowledged task with it, and started again on the same port a few
seconds later, empty.  The transactional outbox, the relay and the sweep must bring the
lost work back: in the end every recipient has exactly one message at the sink and the
campaign is finished.  A row whose hand-off marker was written but whose result was not
(fate unknown to the database) is ``needs-review``; the test resolves such rows as an
operator does, from the sink's log, after checking that nothing was sent twice.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text

from app import MIGRATIONS_DIR, create_app
from tests.conftest import free_port, service_missing
from tests.dispatch_cluster import Cluster
from tests.integration.app_fixtures import dispose, postgres_schema_url
from tests.integration.test_dispatch_crash import sent, sink_counts, sink_message_ids, wait_for

RECIPIENTS = 400
OUTAGE_SECONDS = 4.0
pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.postgres]


class PrivateRedis:
    """A ``redis-server`` of this test alone, on its own port, persisting nothing."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            service_missing("Redis", "the redis-server binary is not installed")
        self.binary = str(binary)
        self.workdir = workdir
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self):  # type: ignore[no-untyped-def]
        import redis

        return redis.Redis.from_url(self.url, socket_timeout=2, socket_connect_timeout=2)

    def start(self) -> None:
        log = (self.workdir / "redis.log").open("ab")
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        from redis.exceptions import ConnectionError as RedisConnectionError

        deadline = time.monotonic() + 15
        while True:
            client = self.client()
            try:
                if client.ping():
                    return
            except RedisConnectionError:
                pass  # still starting
            finally:
                client.close()
            if self.process.poll() is not None or time.monotonic() > deadline:
                service_missing("Redis", f"redis-server did not start; see {self.workdir}")
            time.sleep(0.05)

    def shutdown(self) -> None:
        """SIGTERM: Redis exits at once; with nothing persisted its data is gone."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=15)
        self.process = None

    def run_id(self) -> str:
        client = self.client()
        try:
            return str(client.info("server")["run_id"])
        finally:
            client.close()


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.shutdown()


@pytest.fixture
def outage_db(postgres_url: str) -> Iterator[str]:
    schema = f"ll_redis_outage_{secrets.token_hex(4)}"
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield postgres_schema_url(postgres_url, schema)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def test_a_redis_outage_mid_dispatch_neither_loses_nor_duplicates_a_message(
    outage_db: str, private_redis: PrivateRedis, tmp_path: Path
) -> None:
    port = free_port()
    cluster = Cluster(
        tmp_path,
        outage_db,
        private_redis.url,
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
            "DISPATCH_RATE_LIMITS": {"email": 50},  # ~8 s of sending: the outage lands inside
            "QUIET_HOURS": "off",
            "DISPATCH_BATCH_SIZE": 20,
            "DISPATCH_HANDOFF_GROUP": 1,
            "DISPATCH_LEASE_SECONDS": 8,
            "DISPATCH_RETRY_BASE_SECONDS": 1,
            "CELERY_VISIBILITY_TIMEOUT": 10,
        },
    )
    app = create_app({**cluster.app_settings(), "TESTING": True})
    started = time.monotonic()
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
        cluster.start_beat()
        with app.app_context():
            ds.approve_directly(1, audience, ["email"])

        before = wait_for(app, 1, lambda p: sent(p) >= RECIPIENTS // 4, timeout=60)
        first_run = private_redis.run_id()
        private_redis.shutdown()
        time.sleep(OUTAGE_SECONDS)
        private_redis.start()
        assert private_redis.run_id() != first_run  # a new, empty Redis on the same port
        with app.app_context():
            during = services.progress(1)
            db.session.commit()
        # The outage really landed mid-dispatch.
        assert sent(before) < RECIPIENTS and not during["finished"]

        settled = wait_for(
            app,
            1,
            lambda p: p["final"] + p["by_status"].get("needs-review", 0) == RECIPIENTS,
            timeout=90,
        )
        counts = sink_counts(log)
        assert max(counts.values()) == 1  # nothing sent twice, whatever the rows say
        with app.app_context():
            review = (
                db.session.execute(select(Delivery).where(Delivery.status == "needs-review"))
                .scalars()
                .all()
            )
            # Only rows handed to the SMTP server whose result the run could not record:
            # at most the one group the worker was sending when Redis went away.
            assert all(row.handed_off_at is not None for row in review)
            assert len(review) <= 1
            resolved: dict[int, str] = {}
            user = db.session.get(User, reviewer_id)
            for row in review:
                outcome = "sent" if counts.get(row.address) == 1 else "resend"
                resolved[row.id] = outcome
                services.resolve_review(row.id, outcome, user, "checked the sink's log")
        final = wait_for(app, 1, lambda p: p["finished"], timeout=60)
        assert final["by_status"] == {"sent": RECIPIENTS}

        counts = sink_counts(log)
        assert len(counts) == RECIPIENTS and set(counts.values()) == {1}
        with app.app_context():
            rows = db.session.execute(
                select(Delivery.id, Delivery.address, Delivery.provider_message_id)
            ).all()
        assert {r.address for r in rows} == set(audience.emails.values()) == set(counts)
        ids_at_sink = sink_message_ids(log)
        for row in rows:
            [at_sink] = ids_at_sink[row.address]
            assert at_sink.startswith(f"<ll.{row.id}.")
            expected = None if resolved.get(row.id) == "sent" else at_sink
            assert row.provider_message_id == expected
        print(
            f"sent before the outage: {sent(before)}; after it: {settled['by_status']}; "
            f"resolved by review: {resolved}; {time.monotonic() - started:.1f} s"
        )
    finally:
        cluster.stop()
        dispose(app)
