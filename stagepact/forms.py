"""The base of every form: Flask-WTF with CSRF, and text inputs that can be stored."""

from __future__ import annotations

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
