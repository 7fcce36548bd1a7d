"""The picture of an indexed cycle: :func:`app.settlement.svg.cycle_picture` fed with the
cycle's members, gross flows and plan."""

from __future__ import annotations

from app.settlement.queries import CycleView, member_label
from app.settlement.svg import Arrow, Node, cycle_picture


def cycle_svg(view: CycleView) -> str:
    """The SVG of ``view``: every operator with a position or a flow, in the order they
    joined the cycle."""
    order: list[str] = [p.member for p in view.positions]
    for flow in view.flows:
        for member in (flow.debtor, flow.creditor):
            if member not in order:
                order.append(member)
    nodes = [
        Node(
            m,
            member_label(m, view.names),
            view.names[m].legal_name if m in view.names else m,
        )
        for m in order
    ]
    c = view.cycle
    return cycle_picture(
        nodes,
        [Arrow(f.debtor, f.creditor, f.amount, f.count) for f in view.flows],
        [Arrow(t.payer, t.payee, t.amount) for t in view.plan],
        currency=c.currency,
        metrics=view.metrics,
        positions={p.member: p.position for p in view.positions},
        title=f"Cycle {c.id} ({c.currency}, {c.status})",
        plan_label="After netting" if view.plan_submitted else "After netting (computed plan)",
    )
