"""The audience pages: the import wizard end to end, the organisation and contact lists,
suppressions, and who may see and do what."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app.audience import importing
from app.audience.models import ImportJob, Organisation, Suppression
from app.extensions import db
from tests.integration.app_fixtures import csrf_token, login

DATA = Path(__file__).resolve().parents[1] / "data" / "audience"
PASSWORD = "correct horse battery"


@pytest.fixture
def marketer(client: FlaskClient, make_user: Callable[..., int]) -> FlaskClient:
    make_user(email="mia@example.com", roles=("marketer",), display_name="Mia Marketer")
    assert login(client, "mia@example.com", PASSWORD).status_code == 302
    return client


@pytest.fixture
def auditor(client: FlaskClient, make_user: Callable[..., int]) -> FlaskClient:
    make_user(email="aud@example.com", roles=("auditor",), display_name="Audrey Auditor")
    assert login(client, "aud@example.com", PASSWORD).status_code == 302
    return client


def upload(client: FlaskClient, kind: str, name: str, content: bytes, **extra: str) -> object:
    token = csrf_token(client, "/audience/imports/new")
    data = {"csrf_token": token, "kind": kind, "encoding": "auto", "phone_region": "DE",
            "file": (io.BytesIO(content), name), **extra}  # fmt: skip
    return client.post("/audience/imports/new", data=data, content_type="multipart/form-data")


def latest_job(app: Flask) -> ImportJob:
    with app.app_context():
        job = db.session.scalar(select(ImportJob).order_by(ImportJob.id.desc()))
        assert job is not None
        db.session.expunge(job)
        return job


def test_the_wizard_uploads_maps_previews_errors_commits_and_reports(
    app: Flask, marketer: FlaskClient
) -> None:
    response = upload(marketer, "organisations", "organisations_bad.csv",
                      (DATA / "organisations_bad.csv").read_bytes())  # fmt: skip
    job = latest_job(app)
    assert response.status_code == 302
    assert response.headers["Location"] == f"/audience/imports/{job.id}/mapping"

    page = marketer.get(f"/audience/imports/{job.id}/mapping").get_data(as_text=True)
    assert "Map the columns of organisations_bad.csv" in page
    assert re.search(r'<option selected value="external_id">External id \*</option>', page)

    token = csrf_token(marketer, f"/audience/imports/{job.id}/mapping")
    form = {f"column_{i}": job.mapping[h] for i, h in enumerate(job.headers)}
    form.update(csrf_token=token, encoding="auto", phone_region="DE")
    response = marketer.post(f"/audience/imports/{job.id}/mapping", data=form)
    assert response.headers["Location"] == f"/audience/imports/{job.id}/preview"

    preview = marketer.get(f"/audience/imports/{job.id}/preview").get_data(as_text=True)
    assert "A dry run over all 19 lines, nothing written" in preview
    assert '<dd id="count-inserted">5</dd>' in preview
    assert '<dd id="count-rejected">12</dd>' in preview
    assert "duplicate external id &#39;ORG-001&#39;: line 2 already has it" in preview
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Organisation)) == 0

    token = csrf_token(marketer, f"/audience/imports/{job.id}/preview")
    response = marketer.post(f"/audience/imports/{job.id}/commit", data={"csrf_token": token})
    assert response.headers["Location"] == f"/audience/imports/{job.id}"
    result = marketer.get(f"/audience/imports/{job.id}").get_data(as_text=True)
    assert '<span class="badge badge-ok">completed</span>' in result
    assert '<dd data-count="inserted">5</dd>' in result
    assert '<dd data-count="rejected">12</dd>' in result
    assert "import_progress.js" not in result  # nothing left to poll
    download = marketer.get(f"/audience/imports/{job.id}/rejections.csv")
    assert download.mimetype == "text/csv"
    assert download.headers["Content-Disposition"] == (
        f'attachment; filename="organisations_bad-rejected-{job.id}.csv"'
    )
    lines = download.get_data(as_text=True).splitlines()
    assert len(lines) == 13
    assert lines[1].startswith("6,external_id: duplicate external id 'ORG-001'")

    history = marketer.get("/audience/imports").get_data(as_text=True)
    assert "organisations_bad.csv" in history


def test_a_queued_import_shows_a_progress_bar_that_polls_the_status_api(
    app: Flask, marketer: FlaskClient
) -> None:
    with app.app_context():
        job = importing.create_import("organisations", "o.csv", b"external_id\nQ-1\n")
        job.status = "queued"
        db.session.commit()
        job_id = job.id
    page = marketer.get(f"/audience/imports/{job_id}").get_data(as_text=True)
    assert f'data-status-url="/api/imports/{job_id}"' in page
    assert '<progress id="import-progress"' in page
    assert "js/import_progress.js" in page
    status = marketer.get(f"/api/imports/{job_id}").get_json()
    assert (status["status"], status["processed"], status["percent"]) == ("queued", 0, 0)
    assert marketer.get("/static/js/import_progress.js").status_code == 200


def test_an_unreadable_upload_and_a_bad_mapping_are_shown_on_the_form(
    app: Flask, marketer: FlaskClient
) -> None:
    response = upload(marketer, "organisations", "orgs.xls", b"\xd0\xcf\x11\xe0")
    assert response.status_code == 400
    assert "is an old Excel 97-2003 file; save it as .xlsx or .csv" in response.get_data(
        as_text=True
    )
    upload(marketer, "organisations", "o.csv", b"Name,Region\nAcme,Bayern\n")
    job = latest_job(app)
    token = csrf_token(marketer, f"/audience/imports/{job.id}/mapping")
    response = marketer.post(
        f"/audience/imports/{job.id}/mapping",
        data={
            "csrf_token": token,
            "column_0": "legal_name",
            "column_1": "region",
            "encoding": "auto",
            "phone_region": "DE",
        },
    )
    assert response.status_code == 400
    assert "the file has no column for External id (external_id)" in response.get_data(as_text=True)


def test_organisations_are_searched_filtered_and_shown_with_contacts(
    app: Flask, marketer: FlaskClient
) -> None:
    with app.app_context():
        importing.import_file(
            "organisations", "o.csv", (DATA / "organisations_bad.csv").read_bytes()
        )
        importing.import_file("contacts", "c.csv", (DATA / "contacts_bad.csv").read_bytes())
        importing.import_file(
            "subscriptions",
            "s.csv",
            b"Customer ID,Product,Start,Status,MRR\nORG-001,vpn,2024-01-01,active,300\n",
        )
        alpha_id = db.session.scalar(
            select(Organisation.id).where(Organisation.external_id == "ORG-001")
        )
    listing = marketer.get("/audience/organisations?q=telematik").get_data(as_text=True)
    assert "1 organisation<" in listing and "Alpha Telematik GmbH" in listing
    listing = marketer.get("/audience/organisations?tier=key&region=Bayern").get_data(as_text=True)
    assert "1 organisation<" in listing
    listing = marketer.get("/audience/organisations?product=vpn").get_data(as_text=True)
    assert "Alpha Telematik GmbH" in listing and "Beta Logistik" not in listing
    assert "5 organisations" in marketer.get("/audience/organisations").get_data(as_text=True)
    bad = marketer.get("/audience/organisations?tier=gold")
    assert bad.status_code == 400
    assert "tier &#39;gold&#39; is not allowed; use one of: key, standard" in bad.get_data(
        as_text=True
    )

    detail = marketer.get(f"/audience/organisations/{alpha_id}").get_data(as_text=True)
    assert "Ada Lovelace" in detail and "+49301234567" in detail
    assert "email: granted" in detail and "sms: denied" in detail
    assert "300.00" in detail  # active MRR

    contacts = marketer.get("/audience/contacts?role=technical").get_data(as_text=True)
    assert "Bob Builder" in contacts and "Ada Lovelace" not in contacts
    contacts = marketer.get("/audience/contacts?consent=email").get_data(as_text=True)
    assert "3 contacts<" in contacts  # Ada, Bob and Kai granted email; Ada at ORG-002 did not
    contacts = marketer.get("/audience/contacts?consent=sms").get_data(as_text=True)
    assert "0 contacts<" in contacts  # Ada denied SMS, Kai withdrew it
    assert marketer.get("/audience/organisations/999999").status_code == 404


def test_suppressions_are_added_with_a_reason_and_lifted_with_one(
    app: Flask, marketer: FlaskClient
) -> None:
    token = csrf_token(marketer, "/audience/suppressions")
    response = marketer.post(
        "/audience/suppressions",
        data={
            "csrf_token": token,
            "address": "Bounce@Example.com",
            "channel": "",
            "reason": "hard bounce",
        },
    )
    assert response.status_code == 302
    page = marketer.get("/audience/suppressions").get_data(as_text=True)
    assert "bounce@example.com" in page and "hard bounce" in page
    again = marketer.post(
        "/audience/suppressions",
        data={
            "csrf_token": token,
            "address": "bounce@example.com",
            "channel": "email",
            "reason": "again",
        },
    )
    assert again.status_code == 409
    assert "bounce@example.com is already suppressed since" in again.get_data(as_text=True)
    wrong = marketer.post(
        "/audience/suppressions",
        data={
            "csrf_token": token,
            "address": "+49 30 1234567",
            "channel": "email",
            "reason": "x",
        },
    )
    assert wrong.status_code == 400
    assert "&#39;+49301234567&#39; is reached over sms, not email" in wrong.get_data(as_text=True)
    with app.app_context():
        suppression_id = db.session.scalar(select(Suppression.id))
    no_reason = marketer.post(
        f"/audience/suppressions/{suppression_id}/remove", data={"csrf_token": token}
    )
    assert no_reason.status_code == 400
    lifted = marketer.post(
        f"/audience/suppressions/{suppression_id}/remove",
        data={"csrf_token": token, "reason": "customer asked to be contacted again"},
    )
    assert lifted.status_code == 302
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Suppression)) == 0


def test_an_auditor_reads_the_audience_but_cannot_import_or_suppress(
    app: Flask, auditor: FlaskClient
) -> None:
    assert auditor.get("/audience/organisations").status_code == 200
    assert auditor.get("/audience/contacts").status_code == 200
    assert auditor.get("/audience/imports").status_code == 200
    assert auditor.get("/audience/imports/new").status_code == 403
    token = csrf_token(auditor, "/audience/suppressions")
    response = auditor.post(
        "/audience/suppressions",
        data={"csrf_token": token, "address": "x@example.com", "reason": "x"},
    )
    assert response.status_code == 403
    assert "this page needs the admin or marketer or compliance role" in response.get_data(
        as_text=True
    )


def test_anonymous_visitors_are_sent_to_the_login_page(client: FlaskClient) -> None:
    response = client.get("/audience/organisations")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=/audience/organisations")


def test_the_audience_appears_in_the_navigation_of_a_marketer(marketer: FlaskClient) -> None:
    page = marketer.get("/audience/organisations").get_data(as_text=True)
    assert '<a href="/audience/organisations"' in page
    assert '<a href="/audience/imports"' in page
