"""Dispatch throughput: the full pipeline against a raw client loop, same sink, same run.

    .venv/bin/python scripts/bench_dispatch.py [--count 20000] [--workers 2] [--threads 3]

For email: an aiosmtpd sink runs as its own process; a raw ``smtplib`` loop (one
connection, ``sendmail`` per message) sends ``count`` messages to it; then a campaign of
``count`` recipients is dispatched by ``workers`` Celery worker processes on Redis
(each ``--pool=threads`` with ``threads`` threads, or ``--pool=solo`` for 1) against
PostgreSQL, with every piece of bookkeeping (outbox, claims, send-time checks,
rendering, hand-off markers, results, events, unsubscribe tokens), timed from the
start (the transaction creating the delivery rows and the outbox) to the last row
final.  The same for SMS into the test SMSC (``smpp34``) against a raw ``smpplib``
submit loop.  The sink's own count is checked.

The last lines are JSON, one per figure:
``{"name", "value", "unit", "baseline", "ratio", "target"}``.
"""

from __future__ import annotations

import argparse
import json
import secrets
import smtplib
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402

from tests.conftest import POSTGRES_URL, REDIS_URL, free_port  # noqa: E402
from tests.dispatch_cluster import Cluster  # noqa: E402

TARGET_RATE = 1000.0
TARGET_RATIO = 0.5


def raw_smtp(port: int, count: int) -> float:
    mail = EmailMessage()
    mail["From"] = "news@ledgerline.example"
    mail["Subject"] = "Your offer"
    mail.set_content("Hello, this is a raw benchmark message.")
    mail.add_alternative("<p>Hello, this is a raw benchmark message.</p>", subtype="html")
    started = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as conn:
        for n in range(count):
            del mail["To"]
            mail["To"] = f"raw{n}@example.com"
            conn.sendmail("news@ledgerline.example", [f"raw{n}@example.com"], mail.as_bytes())
    return count / (time.perf_counter() - started)


def raw_smpp(port: int, count: int) -> float:
    import smpplib.client

    client = smpplib.client.Client("127.0.0.1", port, timeout=10)
    done = [0]
    client.set_message_sent_handler(lambda pdu: done.__setitem__(0, done[0] + 1))
    client.set_message_received_handler(lambda pdu: None)
    client.connect()
    client.bind_transceiver(system_id="raw", password="raw")
    started = time.perf_counter()
    for n in range(count):
        client.send_message(
            source_addr_ton=5,
            source_addr="Ledgerline",
            dest_addr_ton=1,
            dest_addr_npi=1,
            destination_addr=f"3162{n:07d}",
            short_message=b"Hello, campaign 1",
            registered_delivery=1,
        )
        target = n + 1
        while done[0] < target:
            client.read_once()
    rate = count / (time.perf_counter() - started)
    client.disconnect()
    return rate


def make_app(url: str, cluster: Cluster) -> Any:
    from flask_migrate import upgrade

    from app import MIGRATIONS_DIR, create_app

    app = create_app({**cluster.app_settings(), "DATABASE_URL": url})
    with app.app_context():
        upgrade(directory=str(MIGRATIONS_DIR))
    return app


def dispatch_run(app: Any, campaign_id: int, channel: str, count: int) -> tuple[float, int]:
    from tests import dispatch_support as ds

    with app.app_context():
        from app.dispatch import services

        audience = ds.make_audience(count, prefix=f"b{campaign_id}")
        started = time.perf_counter()
        ds.approve_directly(campaign_id, audience, [channel])
        while True:
            progress = services.progress(campaign_id)
            from app.extensions import db

            db.session.commit()
            if progress["final"] + progress["by_status"].get("needs-review", 0) >= count:
                break
            time.sleep(0.2)
        elapsed = time.perf_counter() - started
        return count / elapsed, progress["by_status"].get("sent", 0) + progress["by_status"].get(
            "delivered", 0
        )


def figure(name: str, value: float, baseline: float | None, target: str) -> dict[str, Any]:
    return {
        "name": name,
        "value": round(value, 1),
        "unit": "msg/s",
        "baseline": round(baseline, 1) if baseline else None,
        "ratio": round(value / baseline, 3) if baseline else None,
        "target": target,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=2, help="Celery worker processes")
    parser.add_argument(
        "--threads", type=int, default=3, help="threads per worker process (1: --pool=solo)"
    )
    parser.add_argument("--skip-sms", action="store_true")
    parser.add_argument(
        "--handoff-group", type=int, default=None, help="DISPATCH_HANDOFF_GROUP (default: app's)"
    )
    parser.add_argument(
        "--batch-size", type=int, default=None, help="DISPATCH_BATCH_SIZE (default: the app's)"
    )
    args = parser.parse_args()
    pool = f"threads x {args.threads}" if args.threads > 1 else "solo"
    print(f"{args.workers} worker processes, pool {pool}; {args.count} messages", flush=True)

    schema = f"ll_bench_{secrets.token_hex(4)}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    work = Path(tempfile.mkdtemp(prefix="ll-bench-dispatch-"))
    smtp_port, smsc_port = free_port(), free_port()
    cluster = Cluster(
        work,
        url,
        REDIS_URL,
        settings={
            "DISPATCH_CHANNELS": {
                "email": {
                    "backend": "smtp",
                    "host": "127.0.0.1",
                    "port": smtp_port,
                    "starttls": False,
                    "sender": "news@ledgerline.example",
                },
                "sms": {
                    "backend": "smpp",
                    "host": "127.0.0.1",
                    "port": smsc_port,
                    "system_id": "ledgerline",
                    "password": "secret",
                },
            },
            "DISPATCH_RENDERER": "tests.dispatch_support:render_many",
            "QUIET_HOURS": "off",
            **({"DISPATCH_HANDOFF_GROUP": args.handoff_group} if args.handoff_group else {}),
            **({"DISPATCH_BATCH_SIZE": args.batch_size} if args.batch_size else {}),
        },
    )
    figures: list[dict[str, Any]] = []
    try:
        sink_log = cluster.start_server("smtp", smtp_port)
        smsc_log = cluster.start_server("smsc", smsc_port)
        raw_email = raw_smtp(smtp_port, args.count)
        print(f"raw smtplib loop: {raw_email:.0f} msg/s", flush=True)
        app = make_app(url, cluster)
        for n in range(args.workers):
            if args.threads > 1:
                cluster.start_worker(f"bench{n}", pool="threads", concurrency=args.threads)
            else:
                cluster.start_worker(f"bench{n}")
        cluster.start_beat()
        cluster.wait_for_workers([f"bench{n}" for n in range(args.workers)])
        time.sleep(1)  # beat's first relay/sweep round
        email_rate, email_sent = dispatch_run(app, 1, "email", args.count)
        lines = [ln for ln in sink_log.read_text().splitlines() if not ln.startswith("raw")]
        print(
            f"dispatch email: {email_rate:.0f} msg/s end to end; {email_sent} sent, "
            f"{len(lines)} at the sink, {len(set(lines))} distinct",
            flush=True,
        )
        figures.append(
            figure(
                "dispatch_email_end_to_end",
                email_rate,
                raw_email,
                f">= {TARGET_RATE:.0f} msg/s and >= {TARGET_RATIO:.0%} of raw",
            )
        )
        figures.append(figure("raw_smtplib_loop", raw_email, None, "baseline"))
        if not args.skip_sms:
            raw_sms = raw_smpp(smsc_port, args.count)
            print(f"raw smpplib loop: {raw_sms:.0f} msg/s", flush=True)
            sms_rate, sms_sent = dispatch_run(app, 2, "sms", args.count)
            submitted = len(smsc_log.read_text().splitlines()) - args.count
            print(
                f"dispatch sms: {sms_rate:.0f} msg/s end to end; {sms_sent} sent, "
                f"{submitted} at the SMSC",
                flush=True,
            )
            figures.append(
                figure(
                    "dispatch_sms_end_to_end", sms_rate, raw_sms, f">= {TARGET_RATIO:.0%} of raw"
                )
            )
            figures.append(figure("raw_smpplib_loop", raw_sms, None, "baseline"))
    finally:
        cluster.stop()
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()
    for item in figures:
        print(json.dumps(item))


if __name__ == "__main__":
    main()
