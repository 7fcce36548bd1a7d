"""Campaigns in a real browser, in two stories.

On the demo (embedded chain, Celery eager, capture channel): an email and SMS campaign is
submitted through the services; an approver and the compliance officer each approve
their stage on the review page with their own password; the auditor downloads the
evidence from the audit page.

The whole story, every step a click, on PostgreSQL, a Celery worker and beat on Redis
and a Hardhat JSON-RPC node (``live_campaigns``): the marketer imports a CSV through
the wizard (upload, mapping, preview, import), builds a nested segment in the builder,
writes the campaign in the editor and submits it; two approvers approve with their
passwords; the auditor anchors the log; the marketer starts the dispatch, which the
worker sends over SMTP to a sink while the dashboard follows it to "finished"; the
auditor downloads the final approval's evidence, which ``ledgerline audit verify FILE
--rpc URL`` (a real subprocess) verifies against the node.  Screenshots of the main
pages are saved on the way.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.e2e.conftest import LiveDemo, screenshot, sign_in, sign_out


def _new_submission(live: LiveDemo) -> tuple[int, int]:
    """A fresh email+SMS campaign on the demo's flow segment, submitted by the marketer."""
    from app.accounts.services import find_user_by_email
    from app.approvals import services as approvals
    from app.campaigns.services import create_campaign, draft_from_version, latest_version

    with live.app.app_context():
        marketer = find_user_by_email(live.first("marketer").email)
        from app.campaigns.models import Campaign
        from app.extensions import db

        flow = db.session.get(Campaign, live.report.flow_campaign_id)
        assert flow is not None
        draft = draft_from_version(latest_version(flow))
        draft.name = "Fibre, second wave"
        campaign = create_campaign(draft, marketer)
        submission = approvals.submit(campaign.id, marketer)
        return int(campaign.id), int(submission.id)


def _approve_in_browser(page: Any, live: LiveDemo, email: str, submission_id: int) -> None:
    sign_in(page, live, email)
    page.goto(f"{live.url}/approvals/")
    screenshot(page, "approval-inbox")
    page.goto(f"{live.url}/approvals/submissions/{submission_id}")
    form = page.locator('form[action$="/approve"]')
    form.locator("input[name=password]").fill(live.password(email))
    form.locator("button[type=submit]").click()
    page.wait_for_load_state()
    sign_out(page)


def test_two_approvers_sign_in_the_browser_and_the_auditor_downloads_the_evidence(
    live_demo: LiveDemo, page: Any
) -> None:
    campaign_id, submission_id = _new_submission(live_demo)

    sign_in(page, live_demo, live_demo.first("marketer").email)
    page.goto(f"{live_demo.url}/segments/new")
    page.wait_for_selector("#segment-builder[data-ready=true]")
    screenshot(page, "segment-builder")
    page.goto(f"{live_demo.url}/campaigns/{live_demo.report.tour_campaign_id}/edit")
    screenshot(page, "campaign-editor")
    sign_out(page)

    approver = next(a for a in live_demo.report.accounts if a.role == "approver")
    _approve_in_browser(page, live_demo, approver.email, submission_id)
    _approve_in_browser(page, live_demo, live_demo.first("compliance").email, submission_id)

    from app.accounts.services import find_user_by_email
    from app.approvals import services as approvals
    from app.audit.services import anchor_now
    from app.dispatch import services as dispatch

    with live_demo.app.app_context():
        submission = approvals.get_submission(submission_id)
        assert approvals.submission_state(submission).approved is True
        names = sorted(d.user.email for d in submission.decisions if d.decision == "approve")
        assert names == sorted([approver.email, live_demo.first("compliance").email])
        run = dispatch.start_dispatch(
            campaign_id, find_user_by_email(live_demo.first("marketer").email)
        )
        # The same contacts got the demo's first wave this week: the frequency cap may
        # defer some, but every delivery is accounted for on both channels.
        progress = dispatch.progress(campaign_id)
        assert run.total > 0 and set(progress["by_channel"]) == {"email", "sms"}
        assert anchor_now() is not None

    sign_in(page, live_demo, live_demo.first("auditor").email)
    page.goto(f"{live_demo.url}/audit/")
    screenshot(page, "audit")
    link = page.locator("a", has_text="evidence.json").last
    href = link.get_attribute("href")
    assert href is not None
    response = page.request.get(f"{live_demo.url}{href}")
    assert response.status == 200
    evidence = json.loads(response.text())
    assert isinstance(evidence, dict) and evidence


# -- the whole story on a JSON-RPC node, dispatched over SMTP ------------------------------------

ROOT = Path(__file__).resolve().parents[2]
CONTACTS_CSV = ROOT / "tests" / "data" / "e2e" / "contacts.csv"
#: ``ledgerline``: the console script when installed, else the same entry point by module.
_SCRIPT = Path(sys.executable).parent / "ledgerline"
LEDGERLINE = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "ledger.cli"]
#: The wizard's mapping of tests/data/e2e/contacts.csv, chosen column by column.
MAPPING = {
    "Customer ID": "organisation_external_id",
    "Company": "organisation.legal_name",
    "NACE": "organisation.industry_code",
    "Region": "organisation.region",
    "Employees": "organisation.employee_band",
    "Revenue": "organisation.revenue_band",
    "First name": "first_name",
    "Last name": "last_name",
    "Role": "role",
    "Email": "email",
    "Language": "language",
    "Consent email": "consent_email",
}
SEGMENT = "Saarland deciders and French speakers"
CAMPAIGN = "Saarland fibre briefing"
#: In Saarland, decision makers or French speakers, with email consent: Lena (decision
#: maker) and Marie (French); Sara is a decision maker who refused email.
RECIPIENTS = {"lena.becker@saarfunk.example", "marie.dubois@moselnetz.example"}


def _flashes(page: Any) -> list[str]:
    return [text.strip() for text in page.locator(".flash").all_inner_texts()]


def _import_contacts(page: Any, live: LiveDemo) -> None:
    page.goto(f"{live.url}/audience/imports/new")
    page.select_option("#kind", "contacts")
    page.set_input_files("#file", str(CONTACTS_CSV))
    with page.expect_navigation():
        page.get_by_role("button", name="Upload").click()
    assert page.locator("h1").inner_text() == "Map the columns of contacts.csv"
    for header, field in MAPPING.items():
        page.get_by_label(header, exact=True).select_option(field)
    screenshot(page, "import-mapping")
    with page.expect_navigation():
        page.locator("form[action$='/mapping'] [type=submit]").click()
    assert page.locator("h1").inner_text() == "Preview of contacts.csv"
    counts = {
        name: page.locator(f"#count-{name}").inner_text()
        for name in ("inserted", "updated", "rejected")
    }
    assert counts == {"inserted": "6", "updated": "0", "rejected": "0"}
    with page.expect_navigation():
        page.get_by_role("button", name="Import now").click()
    page.wait_for_selector("#import-status[data-status=completed]")


def _build_segment(page: Any, live: LiveDemo) -> None:
    """Region = Saarland AND (role = decision maker OR language = fr), email."""
    page.goto(f"{live.url}/segments/new")
    page.wait_for_selector("#segment-builder[data-ready=true]")

    def node(path: str) -> Any:
        return page.locator(f'#rule-tree [data-path="{path}"]')

    def head(path: str, control: str) -> Any:
        return node(path).locator(f":scope > .group-head {control}")

    head("", ".add-rule").click()
    node("rules[0]").locator(".rule-field").select_option("region")
    node("rules[0]").locator(".value-editor input").fill("Saarland")
    head("", ".add-group").click()
    head("rules[1]", ".group-combinator").select_option("or")
    node("rules[1].rules[0]").locator(".rule-field").select_option("contact.role")
    node("rules[1].rules[0]").locator(".value-editor select").select_option("decision_maker")
    head("rules[1]", ".add-rule").click()
    node("rules[1].rules[1]").locator(".rule-field").select_option("contact.language")
    node("rules[1].rules[1]").locator(".value-editor input").fill("fr")
    page.wait_for_function(
        "() => { const c = document.getElementById('preview-count');"
        f" return c.dataset.state === 'ready' && c.textContent.trim() === '{len(RECIPIENTS)}'; }}"
    )
    screenshot(page, "segment-builder-nested")
    page.fill("#segment-name", SEGMENT)
    with page.expect_navigation(url=re.compile(r".*/segments/\d+$")):
        page.click("#save-segment")


def _write_and_submit(page: Any, live: LiveDemo) -> int:
    page.goto(f"{live.url}/campaigns/new")
    page.fill("#name", CAMPAIGN)
    page.fill("#objective", "Invite Saarland deciders to a fibre briefing.")
    option = page.locator("#segment_version_id option", has_text=SEGMENT).first
    page.select_option("#segment_version_id", option.get_attribute("value"))
    page.check("input[name=channels][value=email]")
    page.fill("#email_subject", "Fibre for {{ organisation.legal_name }}")
    page.fill(
        "#email_html",
        "<p>Dear {{ contact.first_name }},</p>\n<p>{{ campaign.objective }}</p>\n"
        '<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>',
    )
    page.fill("#email_text", "Dear {{ contact.first_name }}, {{ campaign.objective }}")
    with page.expect_navigation(url=re.compile(r".*/campaigns/\d+$")):
        page.get_by_role("button", name="Save").click()
    assert _flashes(page) == [f"Campaign {CAMPAIGN!r} is saved as version 1."]
    campaign_id = int(page.url.rsplit("/", 1)[1])
    with page.expect_navigation():
        page.get_by_role("button", name="Submit version 1 for approval").click()
    [message] = _flashes(page)
    assert re.fullmatch(r"Version 1 is submitted for approval with \d+ stage\(s\)\.", message)
    return campaign_id


def test_a_campaign_is_imported_segmented_written_approved_dispatched_over_smtp_and_verified(
    live_campaigns: LiveDemo, page: Any, tmp_path: Path
) -> None:
    live = live_campaigns
    marketer = live.first("marketer")

    # The marketer imports a file, builds a nested segment, writes and submits a campaign.
    sign_in(page, live, marketer.email)
    _import_contacts(page, live)
    _build_segment(page, live)
    campaign_id = _write_and_submit(page, live)
    sign_out(page)

    # Two approvers approve with their passwords (the policy asks for two).
    from app.approvals import services as approvals

    with live.app.app_context():
        submission = approvals.latest_submission(campaign_id)
        assert submission is not None
        submission_id = int(submission.id)
    approvers = [a.email for a in live.report.accounts if a.role == "approver"]
    assert len(approvers) == 2
    for email in approvers:
        _approve_in_browser(page, live, email, submission_id)
    with live.app.app_context():
        submission = approvals.get_submission(submission_id)
        assert approvals.submission_state(submission).approved is True
        decided = sorted(d.user.email for d in submission.decisions if d.decision == "approve")
        assert decided == sorted(approvers)

    # The auditor anchors the log on the chain.
    auditor = live.first("auditor")
    sign_in(page, live, auditor.email)
    page.goto(f"{live.url}/audit/")
    with page.expect_navigation():
        page.get_by_role("button", name="Anchor now").click()
    [anchored] = _flashes(page)
    assert re.fullmatch(
        r"The log is anchored up to \d+ entries \(transaction 0x[0-9a-f]{64}\)\.", anchored
    )
    sign_out(page)

    # The marketer starts the dispatch; the dashboard reaches finished, the sink has the mail.
    sign_in(page, live, marketer.email)
    page.goto(f"{live.url}/dispatch/campaigns/{campaign_id}")
    with page.expect_navigation():
        page.get_by_role("button", name="Start dispatch").click()
    assert _flashes(page) == [f"Dispatch of campaign {campaign_id} started."]
    # The worker sends; the dashboard follows it live until the campaign is finished.
    page.wait_for_function(
        "() => document.querySelector('[data-field=state]').textContent === 'finished'",
        timeout=60_000,
    )
    assert page.locator("[data-count='email:sent']").inner_text() == str(len(RECIPIENTS))
    screenshot(page, "dispatch-dashboard")
    delivered = {envelope.rcpt_tos[0] for envelope in live.mailbox.received}
    assert delivered == RECIPIENTS
    subjects = {envelope.message["Subject"] for envelope in live.mailbox.received}
    assert subjects == {"Fibre for Saar Funk GmbH", "Fibre for Moselnetz AG"}
    sign_out(page)

    # The auditor downloads the final approval's evidence; the CLI verifies it on the node.
    sign_in(page, live, auditor.email)
    page.goto(f"{live.url}/audit/")
    screenshot(page, "audit-anchored")
    approvals_of_campaign = (
        page.locator("tbody tr")
        .filter(has=page.locator("td:nth-child(2)", has_text=re.compile(rf"^{campaign_id} v1$")))
        .filter(has=page.locator("td:nth-child(3)", has_text=re.compile(r"^approve$")))
    )
    assert approvals_of_campaign.count() == 2
    final = approvals_of_campaign.first  # newest first
    with page.expect_download() as download:
        final.get_by_role("link", name="evidence.json").click()
    bundle = tmp_path / download.value.suggested_filename
    download.value.save_as(bundle)
    evidence = json.loads(bundle.read_text())
    with live.app.app_context():
        from app.accounts.services import find_user_by_email

        last_approver = find_user_by_email(approvers[-1])
        assert last_approver is not None
        last_approver_id = str(last_approver.id)
    record = evidence["record"]
    assert (record["campaign_id"], record["decision"], record["approver_id"]) == (
        str(campaign_id),
        "approve",
        last_approver_id,
    )
    assert record["snapshot_count"] == len(RECIPIENTS)
    assert evidence["anchor"]["chain_id"] == 31337
    verified = subprocess.run(
        [*LEDGERLINE, "audit", "verify", str(bundle), "--rpc", str(live.chain_url)],
        capture_output=True,
        text=True,
        timeout=120,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("LEDGERLINE_")},
            "PYTHONPATH": str(ROOT),
        },
        cwd=tmp_path,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert verified.stdout.strip().splitlines()[-1] == "VERIFIED"
