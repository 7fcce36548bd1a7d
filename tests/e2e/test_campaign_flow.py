"""A campaign's approval in a real browser: the marketer's campaign (email and SMS) is
submitted; an approver and the compliance officer each approve their stage on the
review page with their own password; it is dispatched over the capture channel and
anchored; the auditor finds the decisions on the audit page and downloads their
evidence.  Screenshots of the main pages are saved on the way."""

from __future__ import annotations

import json
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
