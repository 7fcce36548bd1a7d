"""The settlement JSON API acting on the embedded chain (SQLite and PostgreSQL):
propose, confirm, dispute, a cycle from open to settled, statements, and contract
reverts as 409s that carry one sentence and the custom error's name."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask

from ledger.settlement import ObligationStatus
from tests.settlement_app_support import PASSWORD, Consortium, consortium_app, record


@pytest.fixture
def consortium(make_app: Callable[..., Flask], tmp_path: Path) -> Consortium:
    return consortium_app(make_app, tmp_path)


def test_propose_confirm_and_dispute_through_the_api(consortium: Consortium) -> None:
    a, b, agent = consortium.a, consortium.b, consortium.agent
    api = consortium.app.test_client()
    a_headers, b_headers = consortium.token(a), consortium.token(b)

    opened = api.post(
        "/api/settlement/cycles",
        json={"currency": "EUR", "cutoff": "2099-01-01T00:00:00Z", "password": PASSWORD},
        headers=consortium.token(agent),
    )
    assert opened.status_code == 201, opened.get_json()
    assert opened.get_json()["cycle"]["status"] == "open"

    proposed = api.post(
        "/api/settlement/obligations",
        json={
            "password": PASSWORD,
            "obligations": [
                {
                    "counterparty": "AUTAF",
                    "direction": "receivable",
                    "currency": "EUR",
                    "amount": "1500.00",
                    "service": "roaming",
                    "period": 202510,
                    "reference": "SWENM-1",
                },
                {
                    "counterparty": b.address,
                    "direction": "payable",
                    "currency": "EUR",
                    "amount": "20.25",
                    "service": "sms",
                    "period": "202510",
                    "reference": "AUTAF-7",
                },
            ],
        },
        headers=a_headers,
    )
    assert proposed.status_code == 201, proposed.get_json()
    first = record(b, a, 150_000, "SWENM-1")
    second = record(a, b, 2_025, "AUTAF-7", service="sms")
    assert proposed.get_json()["ids"] == [first.id, second.id]
    assert len(proposed.get_json()["transactions"]) == 1  # one batch transaction

    inbox = api.get("/api/settlement/obligations?box=inbox", headers=b_headers).get_json()
    assert [i["id"] for i in inbox["items"]] == [second.id, first.id]
    assert inbox["items"][1]["reference"] == "SWENM-1"
    assert inbox["index"]["indexedBlock"] == inbox["index"]["headBlock"]

    confirmed = api.post(
        f"/api/settlement/obligations/{first.id}/confirm",
        json={"password": PASSWORD},
        headers=b_headers,
    )
    assert confirmed.status_code == 200, confirmed.get_json()
    disputed = api.post(
        f"/api/settlement/obligations/{second.id}/dispute",
        json={"password": PASSWORD, "reason": "wrong_rate", "comment": "IOT rate 2025"},
        headers=b_headers,
    )
    assert disputed.status_code == 200, disputed.get_json()
    client = consortium.client()
    assert client.obligation_state(first.id).status is ObligationStatus.CONFIRMED
    assert client.obligation_state(second.id).status is ObligationStatus.DISPUTED

    shown = api.get(f"/api/settlement/obligations/{second.id}", headers=a_headers).get_json()
    ob = shown["obligation"]
    assert (ob["status"], ob["disputeReason"], ob["disputeReasonCode"]) == (
        "disputed",
        "wrong_rate",
        5,
    )
    assert ob["disputeComments"] == [
        {"member": b.address, "reason": "wrong_rate", "comment": "IOT rate 2025"}
    ]


def test_a_contract_revert_is_a_409_with_one_sentence_and_the_error_name(
    consortium: Consortium,
) -> None:
    a, b = consortium.a, consortium.b
    ob = record(b, a, 5_000, "SWENM-3")
    consortium.client().propose(a.signer, ob)
    api = consortium.app.test_client()

    own = api.post(
        f"/api/settlement/obligations/{ob.id}/confirm",
        json={"password": PASSWORD},
        headers=consortium.token(a),
    )
    assert own.status_code == 409, own.get_json()
    error = own.get_json()["error"]
    assert error["code"] == "contract_reverted"
    assert error["details"]["error_name"] == "SettlementLedgerNotCounterparty"
    assert error["message"] == (
        f"only the counterparty {b.address} can confirm obligation {ob.id}, not {a.address}"
    )

    no_cycle = api.post(
        "/api/settlement/obligations/confirm",
        json={"ids": [ob.id], "password": PASSWORD},
        headers=consortium.token(b),
    )
    assert no_cycle.status_code == 409
    assert no_cycle.get_json()["error"]["details"]["error_name"] == "SettlementLedgerNoOpenCycle"

    not_agent = api.post(
        "/api/settlement/cycles",
        json={"currency": "EUR", "cutoff": "2099-01-01T00:00:00Z", "password": PASSWORD},
        headers=consortium.token(a),
    )
    assert not_agent.status_code == 403
    assert not_agent.get_json()["error"]["message"] == (
        "this needs the clearing_agent role: only the clearing agent opens and closes cycles "
        "and submits their plans"
    )


def test_a_cycle_from_open_to_settled_through_the_api(consortium: Consortium) -> None:
    a, b, agent = consortium.a, consortium.b, consortium.agent
    api = consortium.app.test_client()
    headers = {p.code: consortium.token(p) for p in (a, b, agent)}
    client = consortium.client()
    cycle_id = client.open_cycle(agent.signer, "USD", client.chain_time() + 86400).cycle.id
    ob = record(a, b, 77_700, "AUTAF-1", currency="USD")
    client.propose(b.signer, ob)
    client.confirm(a.signer, ob)

    def act(party: str, path: str, **body: object) -> dict[str, object]:
        response = api.post(
            f"/api/settlement/cycles/{cycle_id}/{path}",
            json={"password": PASSWORD, **body},
            headers=headers[party],
        )
        assert response.status_code == 200, response.get_json()
        cycle: dict[str, object] = response.get_json()["cycle"]
        return cycle

    assert act("LUXMC", "close")["status"] == "closed"
    planned = act("LUXMC", "plan")
    assert planned["status"] == "planned"
    assert planned["transfers"] == [
        {
            "index": 0,
            "payer": a.address,
            "payerCode": "SWENM",
            "payee": b.address,
            "payeeCode": "AUTAF",
            "amount": 77_700,
            "status": "planned",
            "paymentRef": None,
            "paymentReference": None,
            "paidBlock": None,
            "receivedBlock": None,
        }
    ]
    act("SWENM", "confirm-position")
    assert act("AUTAF", "confirm-position")["status"] == "confirmed"
    missing = api.post(
        f"/api/settlement/cycles/{cycle_id}/transfers/0/paid",
        json={"password": PASSWORD},
        headers=headers["SWENM"],
    )
    assert missing.status_code == 400
    assert missing.get_json()["error"]["details"] == {"reference": "required"}
    act("SWENM", "transfers/0/paid", reference="FED-2025-11-0001")
    twice = api.post(
        f"/api/settlement/cycles/{cycle_id}/transfers/0/paid",
        json={"password": PASSWORD, "reference": "FED-2025-11-0001"},
        headers=headers["SWENM"],
    )
    assert twice.status_code == 409
    assert twice.get_json()["error"]["message"] == (
        f"transfer 0 of cycle {cycle_id} is already marked paid; a transfer is paid only once"
    )
    settled = act("AUTAF", "transfers/0/received")
    assert settled["status"] == "settled"
    assert settled["metrics"] == {
        "gross": 77_700,
        "net": 77_700,
        "savingPct": 0.0,
        "paymentsBefore": 1,
        "paymentsAfter": 1,
    }

    statement = api.get(
        f"/api/settlement/cycles/{cycle_id}/statement/AUTAF", headers=headers["AUTAF"]
    ).get_json()["statement"]
    assert (statement["grossReceivable"], statement["netPosition"]) == (77_700, 77_700)
    assert statement["transfers"][0]["paymentRef"] == "FED-2025-11-0001"
    foreign = api.get(
        f"/api/settlement/cycles/{cycle_id}/statement/AUTAF", headers=headers["SWENM"]
    )
    assert foreign.status_code == 404
    cycles = api.get("/api/settlement/cycles?currency=USD", headers=headers["SWENM"]).get_json()
    assert [(c["id"], c["status"]) for c in cycles["items"]] == [(cycle_id, "settled")]
