"""Real processes for the crash test and the benchmark: Celery workers and beat on
Redis against PostgreSQL, and the SMTP sink / SMSC as processes of their own.

Everything a process needs comes through ``LEDGERLINE_*`` variables, exactly as in
production; each run uses a Celery queue of its own so concurrent runs never mix.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


class Cluster:
    def __init__(
        self,
        workdir: Path,
        database_url: str,
        redis_url: str,
        *,
        settings: Mapping[str, Any] | None = None,
    ) -> None:
        self.workdir = workdir
        self.queue = f"ll-dispatch-{secrets.token_hex(4)}"
        self.env = {
            **os.environ,
            "LEDGERLINE_DATABASE_URL": database_url,
            "LEDGERLINE_BROKER_URL": redis_url,
            "LEDGERLINE_INSTANCE": str(workdir / "instance"),
            "LEDGERLINE_CHAIN_URL": "http://127.0.0.1:9",
            "LEDGERLINE_SECRET_KEY": "dispatch-cluster-secret",
            "LEDGERLINE_DISPATCH_QUEUE": self.queue,
            "LEDGERLINE_DISPATCH_CONTROL_QUEUE": f"{self.queue}.control",
            "PYTHONPATH": str(ROOT),
        }
        for key, value in (settings or {}).items():
            text = json.dumps(value) if isinstance(value, (dict, list)) else str(value)
            self.env[f"LEDGERLINE_{key}"] = text
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.logs: list[Any] = []

    def app_settings(self) -> dict[str, Any]:
        """The same settings as a dict for create_app (the test process's own app)."""
        from app.config import settings_from_env

        return settings_from_env(self.env)

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        log = (self.workdir / f"{name}.log").open("ab")
        self.logs.append(log)
        process = subprocess.Popen(argv, cwd=ROOT, env=self.env, stdout=log, stderr=log)
        self.processes[name] = process
        return process

    def start_server(self, kind: str, port: int, *extra: str) -> Path:
        """The SMTP sink or SMSC as a process; returns its message log."""
        log = self.workdir / f"{kind}-messages.log"
        ready = self.workdir / f"{kind}.ready"
        ready.unlink(missing_ok=True)
        self._spawn(
            kind,
            [sys.executable, "-m", "tests.dispatch_servers", kind, str(port), str(log), *extra],
        )
        deadline = time.monotonic() + 20
        while not ready.exists():
            if time.monotonic() > deadline:
                raise RuntimeError(f"the {kind} server did not start; see {self.workdir}")
            time.sleep(0.05)
        return log

    def start_worker(
        self, name: str, *, pool: str = "solo", concurrency: int = 1
    ) -> subprocess.Popen[bytes]:
        """One Celery worker process (``--pool=threads`` runs ``concurrency`` threads in
        it; ``solo`` runs one task at a time)."""
        return self._spawn(
            name,
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "app.worker",
                "worker",
                f"--pool={pool}",
                f"--concurrency={concurrency}",
                "-Q",
                f"{self.queue}.control,{self.queue}",
                "-n",
                f"{name}@%h",
                "--loglevel=WARNING",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--prefetch-multiplier=1",
            ],
        )

    def wait_for_workers(self, names: list[str], timeout: float = 90) -> None:
        """Block until every named worker answers a control ping (imports done, consuming)."""
        import socket

        from celery import Celery

        probe = Celery(broker=self.env["LEDGERLINE_BROKER_URL"])
        wanted = {f"{name}@{socket.gethostname()}" for name in names}
        deadline = time.monotonic() + timeout
        try:
            while True:
                replies = probe.control.ping(destination=sorted(wanted), timeout=0.5) or []
                if wanted <= {worker for reply in replies for worker in reply}:
                    return
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"workers {sorted(wanted)} did not start; see {self.workdir}"
                    )
        finally:
            probe.close()

    def start_beat(self) -> subprocess.Popen[bytes]:
        return self._spawn(
            "beat",
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "app.worker",
                "beat",
                "--loglevel=WARNING",
                "-s",
                str(self.workdir / "beat-schedule"),
            ],
        )

    def kill(self, name: str) -> None:
        """SIGKILL: no shutdown, no acknowledgement, no cleanup."""
        process = self.processes.pop(name)
        process.send_signal(signal.SIGKILL)
        process.wait()

    def stop(self) -> None:
        for process in list(self.processes.values()):
            process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes.clear()
        for log in self.logs:
            log.close()
        self.purge()

    def purge(self) -> None:
        import redis

        client = redis.Redis.from_url(self.env["LEDGERLINE_BROKER_URL"])
        try:
            client.delete(self.queue, f"{self.queue}.control")
        finally:
            client.close()
