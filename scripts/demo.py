"""``make run``: initialise and seed the demo instance, print the accounts, serve the app.

The embedded default: the instance folder ``instance/`` (``LEDGERLINE_INSTANCE``), a
SQLite file, the embedded chain, Celery eager, the capture channel.  The first run seeds
(a couple of minutes); later runs find the data and start at once.  The server is
gunicorn with one worker (the embedded chain has one owner: one process) and threads;
Ctrl-C stops it.

    .venv/bin/python scripts/demo.py [--port 5000] [--orgs 5000] [--seed-only]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "5000")))
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--orgs", type=int, default=5000, help="demo organisations to seed")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--seed-only", action="store_true", help="seed, print, do not serve")
    args = parser.parse_args(argv)

    os.environ.setdefault("LEDGERLINE_INSTANCE", str(ROOT / "instance"))
    from app import create_app
    from app.demo import seed_demo
    from app.errors import AppError
    from app.extensions import chain
    from ledger.errors import LedgerError

    print(f"Ledgerline demo: instance {os.environ['LEDGERLINE_INSTANCE']}", flush=True)
    try:
        app = create_app()
        report = seed_demo(app, n_orgs=args.orgs, log=lambda m: print(f"  {m}", flush=True))
        chain.close(app)  # the server process opens the embedded chain itself
    except (AppError, LedgerError, ValueError) as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    state = "seeded" if report.created else "found the demo data"
    print(f"\n{state} in {report.seconds:.0f} s\n", flush=True)
    url = f"http://{args.host}:{args.port}/"
    print(f"Open {url} and sign in with one of these demo accounts:\n")
    print(report.table())
    print("\nThe passwords are demo passwords: never use this instance for real data.")
    if args.seed_only:
        return 0
    print("Serving (Ctrl-C to stop) ...\n", flush=True)
    gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent)) or "gunicorn"
    command = [
        gunicorn,
        "-w",
        "1",
        "--threads",
        str(args.threads),
        "-b",
        f"{args.host}:{args.port}",
        "--graceful-timeout",
        "5",
        "app:create_app()",
    ]
    os.chdir(ROOT)
    os.execv(gunicorn, command)  # replaces this process: Ctrl-C reaches gunicorn directly


if __name__ == "__main__":
    sys.exit(main())
