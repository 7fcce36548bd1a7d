"""``/healthz``: database, broker and chain, each with its status and error message."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.chain_setup import ensure_contracts
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]


def test_the_database_and_eager_broker_are_ok_and_an_unreachable_chain_makes_it_503(
    client: FlaskClient, app: Flask
) -> None:
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json
    assert body["status"] == "error"
    database = body["components"]["database"]
    assert database["status"] == "ok"
    assert database["backend"] == app.config["SQLALCHEMY_DATABASE_URI"].split(":")[0].split("+")[0]
    assert body["components"]["broker"] == {"status": "ok", "mode": "eager"}
    url = app.config["CHAIN_URL"]
    assert body["components"]["chain"] == {
        "status": "error",
        "url": url,
        "error": (
            f"cannot reach the chain at {url}: Connection refused; check the URL or start the node"
        ),
    }


def test_a_broken_broker_url_is_reported_503_with_the_reason(
    make_app: Callable[..., Flask],
) -> None:
    port = free_port()
    app = make_app(BROKER_URL=f"redis://127.0.0.1:{port}/0")
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    broker = response.json["components"]["broker"]
    assert broker["status"] == "error"
    assert broker["mode"] == "broker"
    assert broker["error"].startswith(f"cannot reach the broker at redis://127.0.0.1:{port}/0: ")
    assert "Connection refused" in broker["error"]


def test_a_broker_password_is_never_shown(make_app: Callable[..., Flask]) -> None:
    port = free_port()
    app = make_app(BROKER_URL=f"redis://:s3cret@127.0.0.1:{port}/0")
    body = app.test_client().get("/healthz").get_data(as_text=True)
    assert "s3cret" not in body
    assert f"redis://:***@127.0.0.1:{port}/0" in body


@pytest.mark.redis
def test_a_reachable_redis_broker_is_ok(make_app: Callable[..., Flask], redis_url: str) -> None:
    app = make_app(BROKER_URL=redis_url)
    broker = app.test_client().get("/healthz").json["components"]["broker"]
    assert broker == {"status": "ok", "mode": "broker", "url": redis_url}


def test_an_unreachable_database_is_reported_503(
    make_app: Callable[..., Flask], app: Flask, tmp_path: Path
) -> None:
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        url = f"sqlite:///{tmp_path / 'no' / 'such' / 'dir' / 'x.db'}"
        reason = "unable to open database file"
    else:
        url = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/test"
        reason = "Connection refused"
    broken = make_app(DATABASE_URL=url)
    response = broken.test_client().get("/healthz")
    assert response.status_code == 503
    database = response.json["components"]["database"]
    assert database["status"] == "error"
    assert reason in database["error"]


def test_an_embedded_chain_without_contracts_is_reported_with_what_to_do(
    chain_app: Flask,
) -> None:
    response = chain_app.test_client().get("/healthz")
    assert response.status_code == 503
    chain = response.json["components"]["chain"]
    assert chain["status"] == "error"
    assert chain["kind"] == "embedded"
    assert chain["head_block"] == 0
    assert chain["error"] == (
        f"no contracts deployed: {chain_app.config['DEPLOYMENT_FILE']} does not exist; "
        "run `flask --app app init`"
    )


def test_everything_ok_on_a_deployed_embedded_chain_gives_200(chain_app: Flask) -> None:
    report = ensure_contracts(chain_app)
    assert report.created[0] == "OperatorRegistry"
    response = chain_app.test_client().get("/healthz")
    assert response.status_code == 200, response.json
    body = response.json
    assert body["status"] == "ok"
    chain = body["components"]["chain"]
    recorded = json.loads(Path(chain_app.config["DEPLOYMENT_FILE"]).read_text())
    assert chain["chain_id"] == recorded["chainId"] == report.chain_id
    assert chain["head_block"] >= len(report.created)
    assert chain["contracts"]["deployed"] == {
        name: entry["address"] for name, entry in recorded["contracts"].items()
    }


def test_a_deployment_file_for_another_chain_is_reported(chain_app: Flask) -> None:
    path = Path(chain_app.config["DEPLOYMENT_FILE"])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"version": 1, "chainId": 31337, "contracts": {}}))
    chain = chain_app.test_client().get("/healthz").json["components"]["chain"]
    assert chain["status"] == "error"
    assert chain["error"].startswith(f"deployment file {path} is for chain id 31337 but ")


@pytest.fixture
def chain_owned_elsewhere(chain_app: Flask) -> Iterator[str]:
    """Another process that owns the app's embedded chain file."""
    url = chain_app.config["CHAIN_URL"]
    code = (
        "import sys\nfrom ledger.chain import connect\n"
        f"c = connect({url!r})\nprint('ready', flush=True)\nsys.stdin.read()\n"
    )
    owner = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        assert owner.stdout is not None
        while time.monotonic() < deadline:
            if owner.stdout.readline().strip() == "ready":
                break
        yield str(owner.pid)
    finally:
        if owner.stdin:
            owner.stdin.close()
        owner.wait(timeout=30)


def test_a_chain_owned_by_another_process_is_reported_with_the_json_rpc_hint(
    chain_app: Flask, chain_owned_elsewhere: str
) -> None:
    response = chain_app.test_client().get("/healthz")
    assert response.status_code == 503
    chain = response.json["components"]["chain"]
    path = chain_app.config["CHAIN_URL"].removeprefix("embedded://")
    assert chain["error"] == (
        f"embedded chain {path} is already open in process {chain_owned_elsewhere}; "
        "use a JSON-RPC node (--rpc http://…) to share a chain between processes"
    )
