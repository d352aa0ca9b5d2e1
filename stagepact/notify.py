"""Who is told what by mail. Notices never carry a report's content or a receipt code."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _

from . import outbox
from .models import Case
from .scoping import handlers_of


def external_url(endpoint: str, **values) -> str:
    """An absolute link for mail, built without a request (cron sends the mail)."""
    base = urlsplit(current_app.config["PUBLIC_BASE_URL"])
    adapter = current_app.url_map.bind(
        base.netloc, script_name=base.path or "/", url_scheme=base.scheme
    )
    return adapter.build(endpoint, values, force_external=True)


def handlers_of_new_case(case: Case) -> None:
    """Every active handler of the institution hears that a report came in."""
    for handler in handlers_of(case.institution_id):
        with force_locale("nl"):
            outbox.queue(
                handler.email,
                _("Nieuwe melding %(number)s bij het meldpunt", number=case.number),
                render_template(
                    "mail/handler_new_case.txt",
                    case=case,
                    link=external_url("desk.case_detail", case_id=case.id),
                ),
                purpose="handler_new_case",
            )


def handlers_of_student_activity(case: Case, what: str) -> None:
    """The assigned handler, or all handlers when nobody is assigned, hear of the student."""
    recipients = [case.assigned_to] if case.assigned_to else handlers_of(case.institution_id)
    for handler in recipients:
        if handler is None or not handler.active:
            continue
        with force_locale("nl"):
            outbox.queue(
                handler.email,
                _("Melding %(number)s: de student heeft gereageerd", number=case.number),
                render_template(
                    "mail/handler_student_activity.txt",
                    case=case,
                    what=what,
                    link=external_url("desk.case_detail", case_id=case.id),
                ),
                purpose="handler_student_activity",
            )


def student_of_news(case: Case) -> None:
    """A student who left an address hears that there is news, never what it is."""
    if not case.notify_email:
        return
    with force_locale(case.language):
        outbox.queue(
            case.notify_email,
            _("Er is nieuws over je melding"),
            render_template(
                "mail/student_news.txt",
                case=case,
                link=external_url("student.follow_up"),
            ),
            purpose="student_news",
        )
