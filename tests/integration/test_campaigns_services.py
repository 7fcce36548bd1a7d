"""Campaigns: immutable versions with a content hash anyone can recompute, templates
refused at save time with their line, and rendering for delivery, preview and tests."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import rfc8785
from flask import Flask
from sqlalchemy import select

from app.campaigns import services
from app.campaigns.models import CampaignTestSend, CampaignVersion
from app.campaigns.rendering import unsubscribe_token
from app.campaigns.templating import TemplateProblem, TemplateValidationError
from app.errors import PermissionDeniedError, ValidationError
from app.extensions import db
from tests.campaigns_support import (
    People,
    draft,
    make_audience,
    make_campaign,
    make_people,
    make_segment,
    user,
)


@dataclass
class Setup:
    app: Flask
    people: People
    contacts: list[int]
    segment_version: int


@pytest.fixture
def setup(make_app: Callable[..., Flask]) -> Setup:
    app = make_app(PUBLIC_URL="https://ledgerline.example")
    people = make_people(app)
    contacts = make_audience(app)
    return Setup(app, people, contacts, make_segment(app, people.maker))


def test_a_campaign_starts_at_version_1_whose_hash_is_sha256_of_its_rfc8785_content(
    setup: Setup,
) -> None:
    campaign_id = make_campaign(setup.app, setup.people.maker, setup.segment_version)
    with setup.app.app_context():
        (version,) = services.get_campaign(campaign_id).versions
        document = {
            "schema": "ledgerline-campaign-content/1",
            "campaign_id": str(campaign_id),
            "name": "Spring offer",
            "objective": "Fibre is now available in your street.",
            "segment_version_id": str(setup.segment_version),
            "contact_roles": ["decision_maker"],
            "channels": {
                "email": {
                    "subject": "Spring offer for {{ organisation.legal_name }}",
                    "html": version.templates["email"]["html"],
                    "text": "",
                }
            },
        }
        assert version.content() == document
        assert version.content_hash == "0x" + hashlib.sha256(rfc8785.dumps(document)).hexdigest()
        assert (version.number, version.contact_roles, version.channels) == (
            1,
            ["decision_maker"],
            ["email"],
        )


def test_every_edit_is_a_new_version_and_an_unchanged_save_is_not(setup: Setup) -> None:
    campaign_id = make_campaign(setup.app, setup.people.maker, setup.segment_version)
    with setup.app.app_context():
        maker = user(setup.people.maker)
        same = services.save_campaign(campaign_id, draft(setup.segment_version), maker)
        assert same.number == 1
        second = services.save_campaign(
            campaign_id, draft(setup.segment_version, name="Summer offer"), maker
        )
        assert second.number == 2
        campaign = services.get_campaign(campaign_id)
        assert campaign.name == "Summer offer"
        assert [v.number for v in campaign.versions] == [1, 2]
        assert campaign.versions[0].content_hash != second.content_hash


def test_a_version_row_cannot_be_changed_through_the_application(setup: Setup) -> None:
    campaign_id = make_campaign(setup.app, setup.people.maker, setup.segment_version)
    with setup.app.app_context():
        version = services.get_campaign(campaign_id).versions[0]
        version.name = "sneaky"
        with pytest.raises(RuntimeError) as error:
            db.session.flush()
        assert str(error.value) == (
            f"campaign version {campaign_id}.1 is immutable; save the campaign to create a "
            "new version"
        )
        db.session.rollback()


def test_only_marketers_make_campaigns_and_only_the_owner_edits(setup: Setup) -> None:
    with setup.app.app_context():
        with pytest.raises(PermissionDeniedError) as not_marketer:
            services.create_campaign(draft(setup.segment_version), user(setup.people.anna))
        assert not_marketer.value.message == (
            "only marketers make campaigns; ask an administrator for the marketer role"
        )
    campaign_id = make_campaign(setup.app, setup.people.maker, setup.segment_version)
    with setup.app.app_context():
        with pytest.raises(PermissionDeniedError) as other:
            services.save_campaign(
                campaign_id, draft(setup.segment_version), user(setup.people.manager)
            )
        assert other.value.message == "only the campaign's owner (Mia Maker) can edit it"


def test_templates_are_refused_at_save_time_with_every_problem_and_its_line(
    setup: Setup,
) -> None:
    templates = {
        "email": {
            "subject": "Hello {{ contact.first_name }}",
            "html": "<p>Dear {{ contact.first_name }}</p>\n<p>{{ customer.name }}</p>",
            "text": "",
        },
        "sms": {"text": "Hi\n{{ ''.__class__.__mro__[1].__subclasses__() }}"},
    }
    with setup.app.app_context():
        with pytest.raises(TemplateValidationError) as error:
            services.create_campaign(
                draft(setup.segment_version, channels=("email", "sms"), templates=templates),
                user(setup.people.maker),
            )
        fields = [(p.field, p.line) for p in error.value.problems]
        assert fields == [("email.html", 2), ("sms.text", 2), ("sms.text", 2), ("sms.text", 2)]
        assert error.value.problems[0] == TemplateProblem(
            "email.html",
            2,
            "undefined variable 'customer'; use one of: campaign, contact, organisation, "
            "sender, unsubscribe_url",
        )
        assert {p.message.split(" is not")[0] for p in error.value.problems[1:]} == {
            "attribute '__subclasses__'",
            "attribute '__mro__'",
            "attribute '__class__'",
        }
        assert services.list_campaigns() == []


def test_a_required_template_left_empty_is_refused(setup: Setup) -> None:
    with setup.app.app_context():
        with pytest.raises(TemplateValidationError) as error:
            services.create_campaign(
                draft(setup.segment_version, channels=("sms",), templates={"sms": {"text": " "}}),
                user(setup.people.maker),
            )
        assert error.value.message == "sms.text: is empty; write the template"


def test_a_channel_the_segment_does_not_target_is_refused(
    setup: Setup,
) -> None:
    email_only = make_segment(setup.app, setup.people.maker, ("email",))
    with setup.app.app_context():
        with pytest.raises(ValidationError) as error:
            services.create_campaign(
                draft(email_only, channels=("email", "sms")), user(setup.people.maker)
            )
        assert error.value.message == (
            "channels: segment 'North email' version 1 targets email, not sms; choose a "
            "segment version that targets them"
        )


# -- rendering ------------------------------------------------------------------------------


def test_rendering_for_delivery_personalises_sanitises_and_adds_the_text_alternative(
    setup: Setup,
) -> None:
    templates = {
        "email": {
            "subject": "Offer for {{ organisation.legal_name }}",
            "html": (
                "<h1>Hello {{ contact.first_name }}</h1><script>steal()</script>"
                '<p><a href="{{ unsubscribe_url }}" onclick="x()">Unsubscribe</a></p>'
            ),
            "text": "",
        }
    }
    campaign_id = make_campaign(
        setup.app, setup.people.maker, setup.segment_version, templates=templates
    )
    with setup.app.app_context():
        version = services.latest_version(services.get_campaign(campaign_id))
        contact = setup.contacts[0]
        message = services.render_for_delivery(version.id, contact, "email")
        token = unsubscribe_token(campaign_id, contact, "email")
        assert message.unsubscribe_token == token
        url = f"https://ledgerline.example/unsubscribe/{token}"
        assert message.subject == "Offer for Customer 0 GmbH"
        assert message.html == (
            f'<h1>Hello Contact0</h1><p><a href="{url}" rel="noopener noreferrer">'
            "Unsubscribe</a></p>"
        )
        assert message.text == f"Hello Contact0\n\nUnsubscribe ({url})\n"
        assert (message.sms_text, message.payload_json) == (None, None)
        with pytest.raises(ValidationError) as other:
            services.render_for_delivery(version.id, contact, "sms")
        assert other.value.message == ("this campaign version has no sms template; it uses email")


def test_values_from_the_audience_are_escaped_in_html(setup: Setup) -> None:
    campaign_id = make_campaign(setup.app, setup.people.maker, setup.segment_version)
    with setup.app.app_context():
        from app.audience.models import Contact

        contact = db.session.get(Contact, setup.contacts[1])
        contact.first_name = '<img src=x onerror="alert(1)">'
        db.session.commit()
        version = services.latest_version(services.get_campaign(campaign_id))
        html = services.render_for_delivery(version.id, contact.id, "email").html
        assert "<img" not in html
        assert '<p>Dear &lt;img src=x onerror="alert(1)"&gt;,</p>' in html


def test_a_batch_renders_exactly_as_one_by_one(setup: Setup) -> None:
    campaign_id = make_campaign(
        setup.app, setup.people.maker, setup.segment_version, channels=("email", "sms")
    )
    with setup.app.app_context():
        version = services.latest_version(services.get_campaign(campaign_id))
        batch = services.render_many(version.id, [*setup.contacts, 999_999], "sms")
        assert sorted(batch) == sorted(setup.contacts)
        for contact in setup.contacts:
            assert batch[contact] == services.render_for_delivery(version.id, contact, "sms")
        assert batch[setup.contacts[2]].sms_text == (
            "Hi Contact2, fibre is here. Stop: https://ledgerline.example/unsubscribe/"
            + unsubscribe_token(campaign_id, setup.contacts[2], "sms")
        )


def test_a_webhook_payload_renders_to_compact_json(setup: Setup) -> None:
    segment = make_segment(setup.app, setup.people.maker, ("email", "webhook"))
    templates = {
        "webhook": {
            "text": "New offer",
            "payload": (
                '{\n  "to": {{ contact.full_name|tojson }},\n'
                '  "key": {{ organisation.is_key_account|tojson }}\n}'
            ),
        }
    }
    campaign_id = make_campaign(
        setup.app, setup.people.maker, segment, channels=("webhook",), templates=templates
    )
    with setup.app.app_context():
        from app.audience.models import Contact

        contact = db.session.get(Contact, setup.contacts[0])
        contact.messenger_handle = "https://hooks.customer0.example/in"
        db.session.commit()
        version = services.latest_version(services.get_campaign(campaign_id))
        message = services.render_for_delivery(version.id, contact.id, "webhook")
        assert (message.text, message.payload_json) == (
            "New offer",
            '{"key":false,"to":"Contact0 Example"}',
        )


def test_the_preview_renders_a_draft_for_a_chosen_recipient_or_the_sample(setup: Setup) -> None:
    with setup.app.app_context():
        sample = services.preview(draft(setup.segment_version), "email")
        assert sample.subject == "Spring offer for Nordwind Logistics GmbH"
        real = services.preview(draft(setup.segment_version), "email", contact_id=setup.contacts[2])
        assert real.subject == "Spring offer for Customer 2 GmbH"
        assert [c.id for c in services.preview_recipients(setup.segment_version)] == setup.contacts


def test_the_server_counts_sms_from_the_text_as_sent(setup: Setup) -> None:
    with setup.app.app_context():
        count = services.sms_count("Price\r\n10€")
        assert (count.encoding, count.characters, count.units, count.parts) == (
            "GSM-7",
            9,
            10,
            1,
        )


def test_a_test_send_goes_to_the_editor_through_the_email_channel(setup: Setup) -> None:
    campaign_id = make_campaign(
        setup.app, setup.people.maker, setup.segment_version, channels=("email", "sms")
    )
    with setup.app.app_context():
        version = services.latest_version(services.get_campaign(campaign_id))
        lines = services.send_test(
            version.id, user(setup.people.maker), contact_id=setup.contacts[0]
        )
        assert lines == [
            "email: captured for mia@example.com (capture)",
            "sms: captured for mia@example.com (capture)",
        ]
        rows = db.session.scalars(select(CampaignTestSend).order_by(CampaignTestSend.id)).all()
        assert [(r.channel, r.address, r.outcome, r.subject) for r in rows] == [
            ("email", "mia@example.com", "sent", "[Test] Spring offer for Customer 0 GmbH"),
            ("sms", "mia@example.com", "sent", "[Test SMS] Spring offer"),
        ]
        assert rows[1].text.startswith("Hi Contact0, fibre is here.")
        assert "GSM-7" in rows[1].text
        assert db.session.get(CampaignVersion, version.id).number == 1
        assert json.loads(json.dumps(lines)) == lines
