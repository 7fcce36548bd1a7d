"""Audience forms.  They parse input only; the rules live in services and importing."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import SelectChoice, SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, Length, Optional

from app.audience.imports.fields import FieldSpec
from app.audience.imports.reading import ENCODING_LABELS
from app.audience.models import CHANNEL_VALUES, ImportKind

KIND_CHOICES = [
    SelectChoice(ImportKind.ORGANISATIONS.value, "Organisations"),
    SelectChoice(
        ImportKind.CONTACTS.value, "Contacts (may carry consent and organisation columns)"
    ),
    SelectChoice(ImportKind.SUBSCRIPTIONS.value, "Subscriptions"),
    SelectChoice(ImportKind.CONSENTS.value, "Consents"),
    SelectChoice(ImportKind.SUPPRESSIONS.value, "Suppressions"),
]
ENCODING_CHOICES = [SelectChoice(value, label) for value, label in ENCODING_LABELS.items()]
CHANNEL_CHOICES = [SelectChoice("", "All channels"), *(SelectChoice(c, c) for c in CHANNEL_VALUES)]


class UploadForm(FlaskForm):
    kind = SelectField("What the file holds", choices=KIND_CHOICES)
    file = FileField(
        "CSV or XLSX file",
        validators=[FileRequired("choose a .csv or .xlsx file")],
        description="The first line (row) must hold the column names.",
    )
    encoding = SelectField(
        "Encoding (CSV)",
        choices=ENCODING_CHOICES,
        default="auto",
        description="UTF-8, UTF-8 with BOM, Windows-1251 and Windows-1252 are detected.",
    )
    phone_region = StringField(
        "Country of national phone numbers",
        validators=[Optional(), Length(min=2, max=2)],
        description="Numbers without +country code are read as numbers of this country.",
    )
    submit = SubmitField("Upload")


class MappingFormBase(FlaskForm):
    encoding = SelectField("Encoding (CSV)", choices=ENCODING_CHOICES)
    phone_region = StringField(
        "Country of national phone numbers", validators=[DataRequired(), Length(min=2, max=2)]
    )
    submit = SubmitField("Save mapping and preview")


def mapping_form(
    headers: list[str], fields: tuple[FieldSpec, ...], formdata: object | None = None
) -> MappingFormBase:
    """A form with one select per column of the file: ``column_<n>`` for header n."""

    class MappingForm(MappingFormBase):
        pass

    choices = [SelectChoice("", "— ignore this column —")] + [
        SelectChoice(spec.name, spec.label + (" *" if spec.required == "key" else ""))
        for spec in fields
    ]
    for index, header in enumerate(headers):
        setattr(MappingForm, f"column_{index}", SelectField(header, choices=choices))
    return MappingForm(formdata=formdata) if formdata is not None else MappingForm()


class SuppressionForm(FlaskForm):
    address = StringField(
        "Address",
        validators=[DataRequired(), Length(max=500)],
        description="An email, a phone number, or a webhook URL / messenger handle.",
    )
    channel = SelectField("Channel", choices=CHANNEL_CHOICES, default="")
    reason = StringField("Reason", validators=[DataRequired(), Length(max=500)])
    submit = SubmitField("Suppress")


class RemoveSuppressionForm(FlaskForm):
    reason = StringField("Reason for lifting", validators=[DataRequired(), Length(max=500)])
    submit = SubmitField("Lift")
