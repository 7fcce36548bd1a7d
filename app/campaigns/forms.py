"""Campaign forms.  They parse input only; the rules live in services."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    HiddenField,
    IntegerField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from app.campaigns.content import CHANNELS
from app.campaigns.services import CampaignDraft


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()

    def pre_validate(self, form: object) -> None:
        """Unknown values are reported by the service with the allowed ones."""


class CampaignForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=200)])
    objective = TextAreaField("Objective", validators=[Optional(), Length(max=2000)])
    segment_version_id = SelectField("Segment version", coerce=int, validate_choice=False)
    channels = MultiCheckboxField("Channels", choices=[SelectChoice(c, c) for c in CHANNELS])
    policy_id = SelectField("Approval policy", coerce=int, validate_choice=False)
    email_subject = StringField("Subject", validators=[Optional()])
    email_html = TextAreaField("HTML", validators=[Optional()])
    email_text = TextAreaField(
        "Plain text",
        validators=[Optional()],
        description="Leave empty to generate it from the HTML.",
    )
    sms_text = TextAreaField("SMS text", validators=[Optional()])
    webhook_text = TextAreaField("Text", validators=[Optional()])
    webhook_payload = TextAreaField(
        "JSON payload",
        validators=[Optional()],
        description=(
            "A JSON object; insert values with |tojson, e.g. "
            '{"name": {{ contact.first_name|tojson }}}.'
        ),
    )
    submit = SubmitField("Save")

    def draft(self) -> CampaignDraft:
        return CampaignDraft(
            name=self.name.data or "",
            objective=self.objective.data or "",
            segment_version_id=self.segment_version_id.data or None,
            channels=list(self.channels.data or []),
            templates={
                "email": {
                    "subject": self.email_subject.data or "",
                    "html": self.email_html.data or "",
                    "text": self.email_text.data or "",
                },
                "sms": {"text": self.sms_text.data or ""},
                "webhook": {
                    "text": self.webhook_text.data or "",
                    "payload": self.webhook_payload.data or "",
                },
            },
        )


class TestSendForm(FlaskForm):
    contact_id = IntegerField("Recipient", validators=[Optional()])
    submit = SubmitField("Send a test to myself")


class SimpleActionForm(FlaskForm):
    """A bare POST with CSRF (submit, refresh recipients, gate check)."""

    version = HiddenField()
