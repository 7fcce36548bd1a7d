"""Benchmark the segment count: 1,000,000 organisations, 3,000,000 contacts.

Generates the audience in SQL (SQLite: ``INSERT ... SELECT`` over a recursive counting
CTE; PostgreSQL: ``generate_series``) with the same deterministic arithmetic on both, so
both databases hold identical data: 1M organisations, 3M contacts, ~2.5M subscriptions,
~4.8M consents and ~40k suppressions.  Indexes are the models' own (created after the
load, then ``ANALYZE``).  It then times the count of a segment with four predicates
(region and monthly spend of the organisation, an active cloud subscription, the
contact's role), targeted at contacts reachable by email, i.e. with granted consent and
no suppression: one SQL statement from :mod:`app.segments.compiler`.

The naive baseline, measured in the same run, loads the rows (organisations,
subscriptions, contacts, consents, suppressions) and filters them in Python with the
engine's in-memory evaluator.  It runs on a 10% sample (the first tenth of the
organisations and their rows) and is extrapolated linearly to the full size; the SQL
count of the same sample is checked against the Python result.

    .venv/bin/python scripts/bench_segments.py [--scale 0.01] [--postgres URL | --no-postgres]

The last lines are one JSON object per figure for ``make bench``:
``{"name", "value", "unit", "baseline", "ratio", "target"}``.
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
FULL_ORGANISATIONS = 1_000_000
CONTACTS_PER_ORGANISATION = 3
SAMPLE_FRACTION = 10  # the naive baseline runs on 1/10 of the organisations
TODAY = date(2026, 1, 15)
TARGETS = {"sqlite": 3.0, "postgresql": 1.0}

RULES: dict[str, Any] = {
    "combinator": "and",
    "not": False,
    "rules": [
        {"field": "region", "operator": "in", "value": ["North", "West"]},
        {"field": "monthly_spend", "operator": ">=", "value": "2500"},
        {"field": "subscription.active_product", "operator": "=", "value": "cloud"},
        {"field": "contact.role", "operator": "in", "value": ["decision_maker", "technical"]},
    ],
}
TARGET: dict[str, Any] = {"level": "contacts", "channel": "email"}

REGIONS = ("North", "South", "East", "West", "Central", "Capital", "Coast", "Islands")
INDUSTRIES = ("61.10", "61.20", "62.01", "62.02", "64.19", "47.11", "10.11", "86.10")
EMPLOYEE_BANDS = ("1-9", "10-49", "50-249", "250-999", "1000+")
REVENUE_BANDS = ("<1M", "1M-10M", "10M-50M", "50M-250M", "250M+")
PRODUCTS = (
    "voice", "mobile", "internet", "vpn", "cloud", "iot", "sms_gateway", "data_center",
    "security",
)  # fmt: skip
ROLES = ("decision_maker", "billing", "technical", "legal", "other")
LANGUAGES = ("en", "de", "fr", "ru")
TIMEZONES = ("UTC", "Europe/Berlin", "Europe/Paris", "Europe/Moscow")


# -- deterministic data, the same SQL on both databases ---------------------------------------


def h(column: str, multiplier: int) -> str:
    """A pseudo-random integer in [0, 2**31 - 1) from an id: ``id * multiplier`` modulo a
    prime, with multipliers near 2**30 so consecutive ids land far apart (64-bit safe for
    ids below 4e9)."""
    return f"(({column} * {multiplier}) % 2147483647)"


def pick(column: str, multiplier: int, values: tuple[str, ...]) -> str:
    whens = " ".join(f"WHEN {i} THEN '{value}'" for i, value in enumerate(values))
    return f"(CASE {h(column, multiplier)} % {len(values)} {whens} END)"


class Dialect:
    """The few expressions that differ between SQLite and PostgreSQL."""

    def __init__(self, name: str) -> None:
        self.name = name

    def series(self, n: int) -> tuple[str, str]:
        """(WITH clause, FROM item) producing ``i`` = 1..n as a 64-bit integer."""
        if self.name == "sqlite":
            return (
                f"WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq "
                f"WHERE i < {n})",
                "seq",
            )
        return "", f"(SELECT g::bigint AS i FROM generate_series(1, {n}) AS g) AS seq"

    def day(self, base: str, offset: str) -> str:
        if self.name == "sqlite":
            return f"date('{base}', '+' || ({offset}) || ' days')"
        return f"(DATE '{base}' + ({offset})::int)"

    def boolean(self, condition: str) -> str:
        return (
            f"(CASE WHEN {condition} THEN 1 ELSE 0 END)"
            if self.name == "sqlite"
            else (f"({condition})")
        )

    def money(self, cents: str) -> str:
        if self.name == "sqlite":
            return f"round(({cents}) / 100.0, 2)"
        return f"(({cents})::numeric / 100)"

    def text(self, expression: str) -> str:
        return expression if self.name == "sqlite" else f"({expression})::text"


NOW = "'2026-01-01 00:00:00+00:00'"


def generate(engine: Engine, n_orgs: int, log: Callable[[str], None]) -> dict[str, int]:
    """Fill the audience tables with ``n_orgs`` organisations and their rows."""
    d = Dialect(engine.dialect.name)
    n_contacts = n_orgs * CONTACTS_PER_ORGANISATION
    statements: list[tuple[str, str]] = []

    with_orgs, from_orgs = d.series(n_orgs)
    start = d.day("2019-01-01", f"{h('i', 1103515245)} % 2400")
    end_offset = f"{h('i', 1103515245)} % 2400 + 365 + {h('i', 1140671485)} % 1460"
    statements.append(
        (
            "organisations",
            f"""{with_orgs}
            INSERT INTO organisations (id, external_id, legal_name, tax_id, industry_code,
                region, employee_band, revenue_band, is_key_account, account_manager_id,
                contract_start, contract_end, monthly_spend, created_at, updated_at)
            SELECT i, {d.text("'ORG-' || i")}, {d.text("'Company ' || i")},
                CASE WHEN {h("i", 1013904223)} % 5 = 0 THEN NULL ELSE {d.text("'VAT' || i")} END,
                {pick("i", 1201654819, INDUSTRIES)}, {pick("i", 1140671485, REGIONS)},
                {pick("i", 1013904223, EMPLOYEE_BANDS)}, {pick("i", 1586411213, REVENUE_BANDS)},
                {d.boolean(f"{h('i', 1828053737)} % 10 = 0")}, NULL,
                CASE WHEN {h("i", 1958512187)} % 10 = 0 THEN NULL ELSE {start} END,
                CASE WHEN {h("i", 1958512187)} % 10 < 2 THEN NULL
                     ELSE {d.day("2019-01-01", end_offset)} END,
                {d.money(f"{h('i', 1371549977)} % 1000000")}, {NOW}, {NOW}
            FROM {from_orgs}""",
        )
    )
    # 1 to 4 subscriptions per organisation, distinct products.
    slots = " UNION ALL ".join(f"SELECT {s} AS s" for s in range(1, 5))
    statements.append(
        (
            "subscriptions",
            f"""{with_orgs}
            INSERT INTO subscriptions (organisation_id, product, status, start_date, mrr)
            SELECT i,
                CASE ({h("i", 1779033703)} + s) % 9 {
                " ".join(f"WHEN {k} THEN '{p}'" for k, p in enumerate(PRODUCTS))
            } END,
                CASE {h("(i * 4 + s)", 1227061453)} % 10 WHEN 7 THEN 'suspended'
                    WHEN 8 THEN 'cancelled' WHEN 9 THEN 'pending' ELSE 'active' END,
                {d.day("2021-01-01", "s")},
                {d.money(f"{h('(i * 4 + s)', 1406932606)} % 50000")}
            FROM {from_orgs} CROSS JOIN ({slots}) AS slots
            WHERE s <= 1 + {h("i", 1779033703)} % 4""",
        )
    )
    with_contacts, from_contacts = d.series(n_contacts)
    statements.append(
        (
            "contacts",
            f"""{with_contacts}
            INSERT INTO contacts (id, organisation_id, first_name, last_name, job_title, role,
                email, phone, messenger_handle, language, timezone, created_at, updated_at)
            SELECT i, (i - 1) / {CONTACTS_PER_ORGANISATION} + 1, {d.text("'First' || i")},
                {d.text("'Last' || i")}, NULL, {pick("i", 1140671485, ROLES)},
                CASE WHEN {h("i", 1103515245)} % 10 = 0 THEN NULL
                     ELSE {d.text("'c' || i || '@example.test'")} END,
                CASE WHEN {h("i", 1103515245)} % 10 < 6 THEN {d.text("'+49' || (3000000000 + i)")}
                     ELSE NULL END,
                CASE WHEN {h("i", 1013904223)} % 10 = 0
                     THEN {d.text("'https://hooks.example.test/' || i")} ELSE NULL END,
                {pick("i", 1201654819, LANGUAGES)}, {pick("i", 1586411213, TIMEZONES)}, {NOW}, {NOW}
            FROM {from_contacts}""",
        )
    )
    consent_rows = [
        # (channel, which contacts have a record, status choice)
        ("email", f"{h('i', 1828053737)} % 20 <> 0",
         f"CASE {h('i', 1958512187)} % 20 WHEN 0 THEN 'denied' WHEN 1 THEN 'withdrawn' "
         "ELSE 'granted' END"),
        ("sms", f"{h('i', 1371549977)} % 2 = 0",
         f"CASE {h('i', 1779033703)} % 4 WHEN 0 THEN 'denied' ELSE 'granted' END"),
        ("webhook", f"{h('i', 1013904223)} % 10 = 0", "'granted'"),
    ]  # fmt: skip
    for channel, which, status in consent_rows:
        statements.append(
            (
                f"consents ({channel})",
                f"""{with_contacts}
                INSERT INTO consents (contact_id, channel, status, source, recorded_at)
                SELECT i, '{channel}', {status}, 'bench', {NOW}
                FROM {from_contacts} WHERE {which}""",
            )
        )
    statements.append(
        (
            "suppressions",
            f"""{with_contacts}
            INSERT INTO suppressions (address, channel, reason, created_at, created_by)
            SELECT {d.text("'c' || i || '@example.test'")}, NULL, 'bounced', {NOW}, NULL
            FROM {from_contacts}
            WHERE {h("i", 1103515245)} % 10 <> 0 AND {h("i", 1227061453)} % 100 = 0""",
        )
    )
    with engine.begin() as connection:
        for label, sql in statements:
            started = time.perf_counter()
            connection.execute(text(sql))
            log(f"  {label:<20} {time.perf_counter() - started:6.1f} s")
        return {
            table: int(connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())
            for table in ("organisations", "subscriptions", "contacts", "consents", "suppressions")
        }


# -- schema ---------------------------------------------------------------------------------------


def audience_tables() -> list[Any]:
    import app.accounts.models
    import app.audience.models as audience

    assert app.accounts.models
    return [
        model.__table__
        for model in (
            audience.Organisation,
            audience.Subscription,
            audience.Contact,
            audience.Consent,
            audience.Suppression,
        )
    ]


def build_schema(engine: Engine, n_orgs: int, log: Callable[[str], None]) -> dict[str, int]:
    """The models' tables, loaded before their indexes are built, then analysed."""
    from app.accounts.models import User

    tables = audience_tables()
    User.__table__.create(engine)
    for table in tables:
        table.create(engine)
        with engine.begin() as connection:
            for index in table.indexes:
                connection.execute(text(f'DROP INDEX "{index.name}"'))
    started = time.perf_counter()
    counts = generate(engine, n_orgs, log)
    log(f"  generated in {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    for table in tables:
        for index in table.indexes:
            index.create(engine)
    with engine.begin() as connection:
        connection.execute(text("ANALYZE"))
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE"))
    log(f"  indexed and analysed in {time.perf_counter() - started:.1f} s")
    return counts


# -- timing ----------------------------------------------------------------------------------------


def definition(level: str = "contacts") -> tuple[Any, Any]:
    from app.segments.rules import parse_rules
    from app.segments.targets import parse_target

    return parse_rules(RULES).root, parse_target({**TARGET, "level": level})


def time_count(engine: Engine, runs: int, level: str = "contacts") -> tuple[int, list[float]]:
    from app.segments.compiler import count_query

    root, target = definition(level)
    timings: list[float] = []
    count = -1
    for _ in range(runs):
        with Session(engine) as session:
            started = time.perf_counter()
            count = int(session.scalar(count_query(root, target, TODAY)) or 0)
            timings.append(time.perf_counter() - started)
    return count, timings


def explain(engine: Engine) -> str:
    from app.segments.compiler import count_query

    root, target = definition()
    # The benchmark's own constants, inlined so the plan can be asked for.
    compiled = count_query(root, target, TODAY).compile(
        dialect=engine.dialect, compile_kwargs={"literal_binds": True}
    )
    prefix = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN (ANALYZE) "
    with engine.connect() as connection:
        rows = connection.exec_driver_sql(prefix + str(compiled)).all()
    return "\n".join("    " + " | ".join(str(c) for c in row) for row in rows)


def naive_baseline(engine: Engine, n_orgs: int) -> tuple[float, int, int]:
    """Load the sample's rows and filter in Python; (seconds, python count, sql count)."""
    from app.audience.models import Organisation
    from app.segments.compiler import count_query
    from app.segments.evaluator import load_facts, load_suppressions, select_target_ids

    root, target = definition()
    last = max(n_orgs // SAMPLE_FRACTION, 1)
    with Session(engine) as session:
        started = time.perf_counter()
        contacts = load_facts(session, (1, last))
        suppressions = load_suppressions(session)
        found = select_target_ids(root, target, contacts, suppressions, TODAY)
        elapsed = time.perf_counter() - started
        sql = session.scalar(count_query(root, target, TODAY).where(Organisation.id <= last))
    return elapsed, len(found), int(sql or 0)


# -- backends -------------------------------------------------------------------------------------


def sqlite_engines(path: Path) -> Callable[[bool], Any]:
    """Engines on the SQLite file: fast, unsafe pragmas for the bulk load, and the app's
    own connection pragmas (``app._sqlite_pragmas``: foreign keys, busy timeout, WAL,
    default page cache) for every timed query."""

    @contextmanager
    def open_engine(loading: bool) -> Iterator[Engine]:
        from app import _sqlite_pragmas

        engine = create_engine(f"sqlite:///{path}")
        if loading:

            @event.listens_for(engine, "connect")
            def _load_pragmas(dbapi_connection: Any, _record: Any) -> None:
                cursor = dbapi_connection.cursor()
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=OFF")
                cursor.execute("PRAGMA cache_size=-262144")  # 256 MB
                cursor.execute("PRAGMA temp_store=MEMORY")
                cursor.close()

        else:
            event.listen(engine, "connect", _sqlite_pragmas)
        try:
            yield engine
        finally:
            engine.dispose()

    return open_engine


@contextmanager
def postgres_engines(url: str) -> Iterator[Callable[[bool], Any]]:
    """Engines on a fresh schema of their own, dropped at the end."""
    schema = f"bench_segments_{secrets.token_hex(4)}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in url else "?"
    engine = create_engine(f"{url}{separator}options=-csearch_path%3D{schema}")

    @contextmanager
    def open_engine(loading: bool) -> Iterator[Engine]:
        yield engine

    try:
        yield open_engine
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def run_backend(
    name: str, open_engine: Callable[[bool], Any], n_orgs: int, runs: int, show_plan: bool
) -> dict[str, Any]:
    def log(line: str) -> None:
        print(line, flush=True)

    print(f"\n== {name}: {n_orgs:,} organisations, {n_orgs * CONTACTS_PER_ORGANISATION:,} contacts")
    with open_engine(True) as engine:
        rows = build_schema(engine, n_orgs, log)
    print("  rows: " + ", ".join(f"{table} {count:,}" for table, count in rows.items()))
    with open_engine(False) as engine:
        return _measure(name, engine, rows, n_orgs, runs, show_plan)


def _measure(
    name: str, engine: Engine, rows: dict[str, int], n_orgs: int, runs: int, show_plan: bool
) -> dict[str, Any]:
    count, timings = time_count(engine, runs + 1)
    cold, warm = timings[0], timings[1:]
    median = statistics.median(warm)
    print(
        f"  count = {count:,}: first run {cold * 1000:.0f} ms, then median {median * 1000:.0f} ms "
        f"of {len(warm)} (min {min(warm) * 1000:.0f} ms)"
    )
    if show_plan:
        print("  plan:\n" + explain(engine))
    organisations, org_timings = time_count(engine, runs, "organisations")
    print(
        f"  the same segment at organisation level: {organisations:,} organisations, "
        f"median {statistics.median(org_timings) * 1000:.0f} ms of {runs}"
    )
    sample_seconds, python_count, sql_count = naive_baseline(engine, n_orgs)
    if python_count != sql_count:
        raise SystemExit(
            f"{name}: the naive baseline found {python_count} on the sample, SQL {sql_count}"
        )
    baseline = sample_seconds * SAMPLE_FRACTION
    print(
        f"  naive baseline (load rows + filter in Python) on a 1/{SAMPLE_FRACTION} sample: "
        f"{sample_seconds:.2f} s for {python_count:,} matches (SQL agrees), "
        f"extrapolated linearly x{SAMPLE_FRACTION}: {baseline:.1f} s"
    )
    return {
        "backend": name,
        "count": (count, organisations),
        "rows": rows,
        "figure": {
            "name": f"segment count, 4 predicates, 1M orgs / 3M contacts, {name}"
            if n_orgs == FULL_ORGANISATIONS
            else f"segment count, 4 predicates, {n_orgs:,} orgs, {name}",
            "value": round(median, 4),
            "unit": "s",
            "baseline": round(baseline, 3),
            "ratio": round(baseline / median, 1) if median else None,
            "target": TARGETS[name],
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = 1M organisations")
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES, help="PostgreSQL URL")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    parser.add_argument("--runs", type=int, default=3, help="timed runs after the first")
    parser.add_argument("--explain", action="store_true", help="print the query plans")
    parser.add_argument(
        "--sqlite-file", help="keep the SQLite database at this new path (default: a temp file)"
    )
    args = parser.parse_args(argv)
    n_orgs = max(int(FULL_ORGANISATIONS * args.scale), 10)

    results: list[dict[str, Any]] = []
    if not args.no_sqlite:
        with tempfile.TemporaryDirectory(prefix="bench-segments-") as tmp:
            path = Path(args.sqlite_file) if args.sqlite_file else Path(tmp) / "bench.db"
            if path.exists():
                raise SystemExit(f"{path} exists; remove it or choose another --sqlite-file")
            engines = sqlite_engines(path)
            results.append(run_backend("sqlite", engines, n_orgs, args.runs, args.explain))
    if not args.no_postgres:
        with postgres_engines(args.postgres) as engines:
            results.append(run_backend("postgresql", engines, n_orgs, args.runs, args.explain))

    if len({r["count"] for r in results}) > 1:
        print(
            "\nThe backends disagree: " + ", ".join(f"{r['backend']}={r['count']}" for r in results)
        )
        return 1
    print()
    failed = False
    for result in results:
        figure = result["figure"]
        failed |= figure["value"] > figure["target"]
        print(json.dumps(figure))
    return 1 if failed and n_orgs == FULL_ORGANISATIONS else 0


if __name__ == "__main__":
    raise SystemExit(main())
