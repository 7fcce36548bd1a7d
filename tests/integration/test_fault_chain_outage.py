"""Fault test: the chain node goes away in the middle of anchoring (real Hardhat node).

The app talks to the node through a TCP proxy owned by the test.  Cutting the proxy is,
from the app's side, exactly a node that is down (open connections reset, new ones
refused), while the node keeps its chain; restoring it listens on the same port again.

The cut lands at the worst moment: the anchoring transaction reaches the node and is
mined, and the answer never comes back.  While the node is away approvals keep being
given and wait in the log, every anchoring attempt and its backoff are recorded in the
outbox, ``/healthz`` reports the problem, and dispatch of the unanchored campaign is
refused with the ``anchored`` check named.  Once the node is back the anchoring task
finds the mined checkpoint on the chain (it is not sent twice), anchors the rest, the
gate passes and dispatch starts.
"""

from __future__ import annotations

import contextlib
import re
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from flask import Flask
from sqlalchemy import select as sql_select

from app.approvals import gate
from app.approvals import services as approvals
from app.audit import services as audit
from app.audit.models import Checkpoint
from app.audit.tasks import anchor_pending_task
from app.campaigns.models import Campaign
from app.database import utcnow
from app.dispatch import services as dispatch
from app.extensions import chain as chain_ext
from app.extensions import db
from ledger.approval_log import ApprovalLogClient
from tests.campaigns_support import PASSWORD, World, make_campaign, make_world, user
from tests.conftest import free_port

pytestmark = [pytest.mark.slow, pytest.mark.hardhat]

RETRY_BASE, RETRY_MAX = 2.0, 4.0  # the outbox waits 2 s, then 4 s, 4 s, ... between attempts
_TX_HASH = re.compile(rb'"result"\s*:\s*"(0x[0-9a-fA-F]{64})"')


class NodeProxy:
    """A TCP proxy in front of a JSON-RPC node that the test can cut and restore.

    ``cut()`` stops listening and resets every open connection, so the app sees a node
    that is down; ``restore()`` listens on the same port again.  ``cut_after(marker)``
    forwards the next request containing ``marker`` to the node, swallows the node's
    answer (kept in ``swallowed``) and then cuts.
    """

    def __init__(self, upstream_url: str) -> None:
        parsed = urlsplit(upstream_url)
        self.upstream = (parsed.hostname or "127.0.0.1", parsed.port or 80)
        self.port = free_port()
        self.swallowed: list[bytes] = []
        self.tripped = threading.Event()
        self._marker: bytes | None = None
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def restore(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(32)
        with self._lock:
            self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            sockets = list(self._open)
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
            listener.close()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def cut_after(self, marker: bytes) -> None:
        self._marker = marker

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=self._pipe, args=(client,), daemon=True).start()

    def _pipe(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.upstream, timeout=10)
        except OSError:
            client.close()
            return
        with self._lock:
            if self._listener is None:  # cut meanwhile
                client.close()
                upstream.close()
                return
            self._open.update((client, upstream))
        swallow, tail, answer = False, b"", b""
        try:
            while True:
                readable, _, _ = select.select([client, upstream], [], [], 0.5)
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    if sock is client:
                        if self._marker is not None and self._marker in tail + data:
                            self._marker, swallow = None, True
                        tail = data[-64:]
                        upstream.sendall(data)
                    elif swallow:
                        answer += data
                        if _complete(answer):
                            self.swallowed.append(answer)
                            self.cut()
                            self.tripped.set()
                            return
                    else:
                        client.sendall(data)
        except OSError:
            return
        finally:
            with self._lock:
                self._open.difference_update((client, upstream))
            client.close()
            upstream.close()


def _complete(response: bytes) -> bool:
    """Whether ``response`` holds a whole HTTP response (Content-Length or chunked)."""
    head, found, body = response.partition(b"\r\n\r\n")
    if not found:
        return False
    length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    if length:
        return len(body) >= int(length.group(1))
    return body.endswith(b"0\r\n\r\n")


@pytest.fixture
def node_proxy(hardhat_url: str) -> Iterator[NodeProxy]:
    proxy = NodeProxy(hardhat_url)
    proxy.restore()
    try:
        yield proxy
    finally:
        proxy.cut()


def approved_campaign(world: World) -> tuple[int, int]:
    """An email + SMS campaign approved in both stages: (campaign, final log entry)."""
    campaign_id = make_campaign(
        world.app, world.people.maker, world.segment_version, channels=("email", "sms")
    )
    with world.app.app_context():
        submission = approvals.submit(campaign_id, user(world.people.maker))
        final = 0
        for person in (world.people.anna, world.people.clara):
            final = approvals.approve(
                submission.id,
                campaign_version_id=submission.campaign_version_id,
                actor=user(person),
                password=PASSWORD,
            ).log_entry_id
        return campaign_id, final


def wait_out_backoff() -> None:
    """Sleep until the outbox's next attempt is due (as beat's next run would find it)."""
    outbox = audit.pending_checkpoint()
    assert outbox is not None and outbox.next_attempt_at is not None
    delay = (outbox.next_attempt_at - utcnow()).total_seconds()
    time.sleep(max(0.0, delay) + 0.2)


def test_a_node_lost_mid_anchoring_holds_dispatch_back_and_everything_catches_up(
    make_app: Callable[..., Flask], tmp_path: Path, node_proxy: NodeProxy
) -> None:
    world = make_world(
        make_app,
        tmp_path,
        key_account=False,
        CHAIN_URL=node_proxy.url,
        QUIET_HOURS="off",
        FREQUENCY_CAP=4,  # both campaigns reach every contact on two channels
        ANCHOR_RETRY_BASE_SECONDS=RETRY_BASE,
        ANCHOR_RETRY_MAX_SECONDS=RETRY_MAX,
    )
    app, client = world.app, world.app.test_client()
    first, first_final = approved_campaign(world)
    down = f"cannot reach the chain at {node_proxy.url}: Connection refused; " + (
        "check the URL or start the node"
    )

    # The anchoring transaction reaches the node and is mined; its answer is lost.
    node_proxy.cut_after(b"eth_sendRawTransaction")
    with app.app_context():
        outcome = anchor_pending_task.delay().get()
        assert node_proxy.tripped.is_set()
        [lost] = [_TX_HASH.search(answer) for answer in node_proxy.swallowed]
        assert lost is not None
        lost_tx = lost.group(1).decode().lower()
        assert (outcome["state"], outcome["log_size"], outcome["anchored_size"]) == (
            "failed",
            3,
            0,
        )
        assert outcome["error"] == (
            f"cannot reach the chain at {node_proxy.url}: Remote end closed connection "
            "without response; check the URL or start the node"
        )
        assert outcome["retry_in"] == RETRY_BASE
        outbox = audit.pending_checkpoint()
        assert outbox is not None
        assert (outbox.status, outbox.tree_size, outbox.attempts) == ("pending", 3, 1)
        assert outbox.last_error == outcome["error"]
        assert audit.anchoring_status().pending_entries == 3
        # Too early for another attempt: the outbox says when.
        assert audit.anchor_pending().state == "backing_off"

    # Approvals keep being given while the node is away; they wait in the log.
    second, second_final = approved_campaign(world)
    with app.app_context():
        assert audit.log_size() == 6
        assert audit.anchoring_status().pending_entries == 6
        with pytest.raises(audit.AnchoringFailedError) as failed:
            audit.anchor_now()
        assert str(failed.value) == (
            f"the approval log could not be anchored: {down}; the entries stay pending and "
            "anchoring is retried automatically"
        )

        # Dispatch of the unanchored campaign is refused, naming the anchored check.
        with pytest.raises(dispatch.DispatchRefusedError) as refused:
            dispatch.start_dispatch(first, user(world.people.maker))
        assert refused.value.details["failures"] == [
            f"anchored: the final approval (log entry {first_final}) cannot be anchored: "
            f"the approval log could not be anchored: {down}; the entries stay pending and "
            "anchoring is retried automatically"
        ]
        assert dispatch.dispatch_for(first) is None
        assert db.session.get(Campaign, first).status != "dispatched"
        verdict = gate.check_dispatch_gate(second)
        assert (verdict.ok, verdict.failed_checks) == (False, ("anchored",))

        db.session.expire_all()
        outbox = audit.pending_checkpoint()
        assert outbox is not None and outbox.attempts == 4
        assert outbox.last_error == down
        assert outbox.next_attempt_at is not None and outbox.last_attempt_at is not None
        assert (outbox.next_attempt_at - outbox.last_attempt_at).total_seconds() == RETRY_MAX

    health = client.get("/healthz")
    assert health.status_code == 503
    components = health.json["components"]
    assert components["chain"]["status"] == "error"
    assert components["chain"]["error"] == down
    anchoring = components["anchoring"]
    assert (anchoring["status"], anchoring["pending_entries"]) == ("error", 6)
    assert anchoring["outbox"]["attempts"] == 4
    assert anchoring["error"].startswith(
        "anchoring failed 4 time(s), 6 entries wait; next attempt "
    )
    assert anchoring["error"].endswith(down)

    # The node is back: the scheduled job catches up once the backoff is over.
    node_proxy.restore()
    with app.app_context():
        wait_out_backoff()
        done = anchor_pending_task.delay().get()
        assert (done["state"], done["log_size"], done["anchored_size"]) == ("anchored", 6, 6)
        assert done["tx_hash"] != lost_tx
        checkpoints = db.session.scalars(
            sql_select(Checkpoint).order_by(Checkpoint.tree_size)
        ).all()
        # The mined-but-unanswered checkpoint was read back from the chain, not resent.
        assert [(c.tree_size, c.status, c.tx_hash, c.last_error) for c in checkpoints] == [
            (3, "anchored", lost_tx, None),
            (6, "anchored", done["tx_hash"], None),
        ]
        log_client = ApprovalLogClient(chain_ext.get(app), audit.log_domain().contract)
        event = log_client.anchored_event(3)
        assert event is not None and event.tx_hash == lost_tx
        assert audit.pending_checkpoint() is None
        assert audit.is_anchored(first_final) and audit.is_anchored(second_final)
        assert audit.verify_log().ok

        for campaign_id in (first, second):
            verdict = gate.check_dispatch_gate(campaign_id)
            assert (verdict.ok, verdict.failures) == (True, [])
            started = dispatch.start_dispatch(campaign_id, user(world.people.maker))
            assert started.total == 2 * len(world.contacts)
            progress = dispatch.progress(campaign_id)
            assert progress["finished"] is True
            assert progress["by_channel"] == {
                "email": {"sent": len(world.contacts)},
                "sms": {"sent": len(world.contacts)},
            }

    health = client.get("/healthz").json["components"]
    assert health["chain"]["status"] == "ok"
    assert (health["anchoring"]["status"], health["anchoring"]["pending_entries"]) == ("ok", 0)
    assert health["anchoring"]["last_anchor"]["tree_size"] == 6
