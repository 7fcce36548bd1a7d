"""``POST /rpc``: a read-only JSON-RPC view of the app's own chain, so an auditor of an
embedded-chain deployment (the demo) can run ``ledgerline audit verify --rpc`` against
the running app while the web process owns the chain."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from werkzeug.serving import make_server

from tests.audit_support import deployed_app
from tests.conftest import free_port
from tests.integration.test_audit_cli import export, ledgerline, two_stage_approval


@pytest.fixture
def served(make_app: Callable[..., Flask], tmp_path: Path) -> Iterator[tuple[Flask, str]]:
    app = deployed_app(make_app, tmp_path)
    server = make_server("127.0.0.1", free_port(), app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield app, f"http://127.0.0.1:{server.server_port}/rpc"
    finally:
        server.shutdown()


def rpc(app: Flask, payload: object) -> dict:
    response = app.test_client().post("/rpc", data=json.dumps(payload))
    return response.get_json()


def test_an_auditor_verifies_evidence_against_the_running_app(
    served: tuple[Flask, str], tmp_path: Path
) -> None:
    app, url = served
    final = two_stage_approval(app)
    export(app, final, tmp_path / "evidence.json")

    run = ledgerline("audit", "verify", "evidence.json", "--rpc", url, cwd=tmp_path)

    assert run.code == 0, run.stdout + run.stderr
    assert run.stdout.splitlines()[-1] == "VERIFIED"


def test_reading_methods_answer_like_a_node(served: tuple[Flask, str]) -> None:
    app, _ = served
    with app.app_context():
        from app.extensions import chain

        chain_id = chain.get().chain_id

    answer = rpc(app, {"jsonrpc": "2.0", "id": 7, "method": "eth_chainId", "params": []})

    assert answer["id"] == 7
    assert int(answer["result"], 16) == chain_id


def test_methods_that_change_state_are_refused(served: tuple[Flask, str]) -> None:
    app, _ = served

    answer = rpc(app, {"jsonrpc": "2.0", "id": 1, "method": "eth_sendRawTransaction",
                       "params": ["0x00"]})  # fmt: skip

    assert answer["error"] == {
        "code": -32601,
        "message": "method eth_sendRawTransaction is not available on this read-only endpoint",
    }


def test_a_malformed_body_gets_a_parse_error(served: tuple[Flask, str]) -> None:
    app, _ = served

    response = app.test_client().post("/rpc", data="{not json")

    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == -32700


def test_the_endpoint_is_off_for_a_json_rpc_chain(make_app: Callable[..., Flask]) -> None:
    app = make_app(CHAIN_URL="http://127.0.0.1:9/")

    response = app.test_client().post("/rpc", data=json.dumps({"method": "eth_chainId"}))

    assert response.status_code == 404
