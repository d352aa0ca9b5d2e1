"""The base of every form: Flask-WTF with CSRF, and text inputs that can be stored."""

from __future__ import annotations

import hashlib
import secrets

from flask import session
from flask_wtf import FlaskForm
from wtforms import StringField


def strip_nul(value):
    """No keyboard types NUL, and PostgreSQL cannot store it in a text column."""
    return value.replace("\x00", "") if isinstance(value, str) else value


class BaseForm(FlaskForm):
    class Meta:
        def bind_field(self, form, unbound_field, options):
            if issubclass(unbound_field.field_class, StringField):
                options["filters"] = [*unbound_field.kwargs.get("filters", ()), strip_nul]
            return unbound_field.bind(form=form, **options)


def new_submission_id() -> str:
    return secrets.token_urlsafe(16)


def first_submission(submission_id: str | None) -> bool:
    """True the first time a form with this id is accepted in this browser session.

    The receipt code is shown in the response to the POST itself, never carried
    by a redirect or a cookie; a browser that re-sends that POST (reload, back
    button) must not open a second case.
    """
    if not submission_id:
        return True
    digest = hashlib.sha256(submission_id.encode()).hexdigest()[:16]
    seen = session.get("submitted", [])
    if digest in seen:
        return False
    session["submitted"] = [*seen[-9:], digest]
    return True
