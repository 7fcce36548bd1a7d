"""The settlement demo's data, without a chain: deterministic for a seed, believable."""

from __future__ import annotations

from app.settlement.demo import OPERATORS, demo_accounts, plan_obligations
from ledger.settlement import ServiceType


def _plan(seed: int, count: int = 120) -> list[tuple[str, str, str, int, str, str]]:
    members = OPERATORS[:8]
    addresses = {m.code: a.member for m, a in zip(members, demo_accounts(seed), strict=False)}
    return [
        (p.debtor, p.creditor, p.record.currency, p.record.amount, p.reference, p.fate)
        for p in plan_obligations(seed, members, count, addresses)
    ]


def test_the_demo_accounts_are_the_same_for_the_same_seed() -> None:
    first = demo_accounts(seed=11)
    assert first == demo_accounts(seed=11)
    assert first != demo_accounts(seed=12)
    assert len(first) == 9 and len({a.member for a in first}) == 9
    assert first[0].email == "ops@nordicmobile.example" and first[0].role == "operator"
    assert first[-1].role == "clearing_agent"
    assert all(len(a.password) >= 12 for a in first)


def test_the_demo_obligations_are_deterministic_and_varied() -> None:
    plan = _plan(5)
    assert plan == _plan(5) and plan != _plan(6)
    assert {currency for _, _, currency, _, _, _ in plan} == {"EUR", "USD"}
    fates = [fate for *_, fate in plan]
    assert fates.count("amend") == 1
    assert 2 <= fates.count("dispute") + 1 <= 6
    assert fates.count("pending") == 12
    assert all(debtor != creditor for debtor, creditor, *_ in plan)
    assert len({reference for *_, reference, _ in plan}) == len(plan)
    members = OPERATORS[:8]
    addresses = {m.code: a.member for m, a in zip(members, demo_accounts(5), strict=False)}
    services = {p.record.service for p in plan_obligations(5, members, 120, addresses)}
    assert ServiceType.ROAMING in services and ServiceType.INTERCONNECT in services
