"""Approval forms.  The password field unlocks the approver's signing key for this one
decision; it is never stored."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    HiddenField,
    IntegerField,
    PasswordField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, Optional


class ApproveForm(FlaskForm):
    campaign_version_id = IntegerField(validators=[InputRequired()])
    stage_index = IntegerField(validators=[Optional()])
    password = PasswordField(
        "Your password",
        validators=[DataRequired()],
        description="Unlocks your signing key to sign this decision (EIP-712).",
    )
    submit = SubmitField("Approve and sign")


class RejectForm(FlaskForm):
    campaign_version_id = IntegerField(validators=[InputRequired()])
    comment = TextAreaField("What must change", validators=[Optional(), Length(max=2000)])
    password = PasswordField("Your password", validators=[DataRequired()])
    submit = SubmitField("Reject and sign")


class RevokeForm(FlaskForm):
    comment = StringField("Why (optional)", validators=[Optional(), Length(max=2000)])
    password = PasswordField("Your password", validators=[DataRequired()])
    submit = SubmitField("Revoke my approval")


class PolicyVersionForm(FlaskForm):
    definition = TextAreaField("Definition (JSON)", validators=[DataRequired()])
    comment = StringField("What changed", validators=[Optional(), Length(max=2000)])
    submit = SubmitField("Save as a new version")


class NewPolicyForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=120)])
    definition = TextAreaField("Definition (JSON)", validators=[DataRequired()])
    submit = SubmitField("Create policy")


class GateForm(FlaskForm):
    campaign = HiddenField()
