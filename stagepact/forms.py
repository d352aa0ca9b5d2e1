"""The base of every form: Flask-WTF with CSRF, and text inputs that can be stored."""

from __future__ import annotations

import math
import re
import secrets
from dataclasses import dataclass

from flask import current_app, request
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.csrf import validate_csrf
from wtforms import DateField, Field, MultipleFileField, RadioField, SelectField, StringField
from wtforms.validators import Optional, ValidationError


def strip_nul(value):
    """No keyboard types NUL, and PostgreSQL cannot store it in a text column."""
    return value.replace("\x00", "") if isinstance(value, str) else value


def _strip(value):
    return value.strip() if isinstance(value, str) else value


MAX_ROW_ID = 2**31 - 1
_ROW_ID = re.compile(r"[0-9]{1,10}")


def row_id(value) -> int | None:
    """A row id typed or posted: ASCII digits within the id column's range, or None."""
    if not isinstance(value, str | int) or isinstance(value, bool):
        return None
    text = str(value).strip()
    if not _ROW_ID.fullmatch(text):
        return None
    number = int(text)
    return number if 1 <= number <= MAX_ROW_ID else None


MAX_PAGE = 100_000


def requested_page(name: str = "page") -> int:
    """The page a list asks for: at least 1, and never a number that overflows an OFFSET."""
    return min(max(request.args.get(name, 1, type=int), 1), MAX_PAGE)


@dataclass
class ListPage:
    """One page of a list sorted in Python (by an encrypted column, which SQL cannot
    order), with what the templates read of Flask-SQLAlchemy's pagination."""

    items: list
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return math.ceil(self.total / self.per_page)

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def prev_num(self) -> int | None:
        return self.page - 1 if self.has_prev else None

    @property
    def next_num(self) -> int | None:
        return self.page + 1 if self.has_next else None


def error_beside_field(form, error, default: str) -> None:
    """Show a refusal (with `.message` and `.field`) beside its field, or beside `default`."""
    name = error.field if error.field in form._fields else default
    form[name].errors.append(error.message)


class BaseForm(FlaskForm):
    class Meta:
        def bind_field(self, form, unbound_field, options):
            if issubclass(unbound_field.field_class, StringField):
                options["filters"] = [*unbound_field.kwargs.get("filters", ()), strip_nul]
            elif issubclass(unbound_field.field_class, SelectField | RadioField):
                # A choice of only spaces is no choice (Optional() would let it through).
                options["filters"] = [*unbound_field.kwargs.get("filters", ()), _strip]
            return unbound_field.bind(form=form, **options)


def new_submission_id() -> str:
    return secrets.token_urlsafe(16)


class TokenListField(Field):
    """Repeated hidden inputs of one name (the uploads a form carries); rendered by hand."""

    def process_formdata(self, valuelist):
        self.data = [strip_nul(v) for v in valuelist[:50] if isinstance(v, str) and v]

    def _value(self):  # pragma: no cover - never rendered as one input
        return ""


class EvidenceMixin:
    """Files with a form: new ones are checked and kept as pending uploads, so that
    a form shown again (with an error anywhere) still has them; removing one is a
    checkbox. Call `take_uploads` before validating, then `attach` once sent.

    The work is bounded (issue 13): the limits on posting are counted first, new
    files pass only the cheap checks and wait uncleaned, and the costly cleaning
    runs only when the rest of the form is valid, within one budget per request.
    """

    attachments = MultipleFileField(
        _l("Bestanden toevoegen"),
        description=_l(
            "Bijvoorbeeld een screenshot, een e-mail of een brief. Hoogstens 10 MB per bestand."
        ),
    )
    attachment_token = TokenListField()
    remove_attachment = TokenListField()

    uploads: list = ()
    _upload_errors: list = ()

    def take_uploads(self, uploaded_by=None, case=None) -> None:
        from . import attachments as files

        errors = []
        removed = set(self.remove_attachment.data or [])
        kept = [t for t in (self.attachment_token.data or []) if t not in removed]
        most = current_app.config["ATTACHMENTS_PER_FORM"]
        uploads = files.pending(kept)
        if len(uploads) > most:
            errors.append(_l("Je kunt hoogstens %(n)d bestanden tegelijk toevoegen.", n=most))
            uploads = uploads[:most]
        new_files = [f for f in request.files.getlist(self.attachments.name) if f and f.filename]
        try:
            files.check_upload_limits(case, (request.content_length or 0) if new_files else 0)
        except files.RejectedFileError as refused:
            errors.append(refused.message)
            new_files = []
        if new_files and not self._csrf_ok():
            errors.append(_l("Je formulier stond te lang open. Voeg je bestanden opnieuw toe."))
            new_files = []
        limit = current_app.config["ATTACHMENT_MAX_BYTES"]
        for storage in new_files:
            name = storage.filename or ""
            if len(uploads) >= most:
                errors.append(_l("Je kunt hoogstens %(n)d bestanden tegelijk toevoegen.", n=most))
                break
            data = storage.stream.read(limit + 1)
            try:
                checked = files.check(data, name)
                files.check_case_room(case, uploads, len(checked.data))
                uploads.append(
                    files.store_pending(checked, uploaded_by, for_case=case, is_cleaned=False)
                )
            except files.RejectedFileError as rejected:
                errors.append(f"{name[:100]}: {rejected.message}")
        if not errors and any(not a.cleaned for a in uploads) and self._fields_valid():
            uploads = self._clean(uploads, errors)
        try:
            files.check_case_room(case, uploads)
        except files.RejectedFileError as rejected:
            errors.append(rejected.message)
        self.uploads = uploads
        self._upload_errors = errors
        self.attachment_token.data = [a.token for a in uploads]

    def _clean(self, uploads: list, errors: list) -> list:
        """Clean what waits uncleaned, within one budget; a refused file is removed."""
        from . import attachments as files

        budget = files.CleaningBudget()
        kept = []
        for upload in uploads:
            if not upload.cleaned:
                try:
                    files.clean_stored(upload, budget)
                except files.RejectedFileError as rejected:
                    errors.append(f"{upload.original_name[:100]}: {rejected.message}")
                    files.remove([upload])
                    continue
            kept.append(upload)
        return kept

    def _fields_valid(self) -> bool:
        """Whether the form, files aside, would be accepted (its errors are set again later)."""
        ok = self.validate()
        for field in self:
            field.errors = list(field.process_errors)
        self.form_errors = []
        return ok

    def _csrf_ok(self) -> bool:
        if not self.meta.csrf:
            return True
        try:
            validate_csrf(self.csrf_token.data)
        except ValidationError:
            return False
        return True

    def validate(self, extra_validators=None) -> bool:
        ok = super().validate(extra_validators)
        if self._upload_errors:
            self.attachments.errors = [*self.attachments.errors, *self._upload_errors]
            return False
        if any(not a.cleaned for a in self.uploads):
            return False  # only reached when the rest of the form has errors
        return ok


class ActionForm(BaseForm):
    """A button that only needs the CSRF token."""


def sensible_year(form, field):
    if field.data and not 2000 <= field.data.year <= 2100:
        raise ValidationError(_l("Kies een datum tussen 2000 en 2100."))


class AwayForm(BaseForm):
    """When a handler is away: a first day (empty: from now) and a last day; both empty
    means present (`accounts.set_away` has the rules)."""

    away_from = DateField(
        _l("Eerste dag afwezig (leeg: vanaf vandaag)"), validators=[Optional(), sensible_year]
    )
    away_until = DateField(_l("Laatste dag afwezig"), validators=[Optional(), sensible_year])
