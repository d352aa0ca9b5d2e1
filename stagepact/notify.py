"""Who is told what by mail. Notices never carry a report's content or a receipt code."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from . import deadlines, outbox
from .i18n import mail_language
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
    _to_handlers(
        case,
        handlers_of(case.institution_id),
        _l("Nieuwe melding %(number)s bij het meldpunt", number=case.number),
        "mail/handler_new_case.txt",
        "handler_new_case",
    )


def _responsible_handlers(case: Case, today=None) -> list:
    """The assigned handler; when nobody is assigned, or the assignee is disabled or away,
    the institution's handlers who are there (all of them, should everyone be away)."""
    today = today or deadlines.today()
    if case.assigned_to is not None and case.assigned_to.is_present(today):
        return [case.assigned_to]
    everyone = handlers_of(case.institution_id)
    return [h for h in everyone if h.is_present(today)] or everyone


def _to_staff(people, subject, template: str, purpose: str, institution_id=None, **context):
    """One mail per staff member, in their language (`subject` is lazy)."""
    for person in people:
        with force_locale(mail_language(person)):
            outbox.queue(
                person.email,
                str(subject),
                render_template(template, **context),
                purpose=purpose,
                institution_id=institution_id,
            )


def _to_handlers(
    case: Case, handlers, subject, template: str, purpose: str, link: str | None = None, **context
) -> None:
    """One mail per handler, with the link to the case (or `link`)."""
    link = link or external_url("desk.case_detail", case_id=case.id)
    _to_staff(
        handlers, subject, template, purpose, case.institution_id, case=case, link=link, **context
    )


@outbox.when_given_up
def _admins_of_undelivered(item) -> None:
    """A mail to an institution's staff that could not be delivered is told to its admins
    (never what it said): someone may be waiting for it. Not for a mail to an admin."""
    if item.institution_id is None or item.purpose == "undelivered_staff_mail":
        return
    from .scoping import institution_admins_of

    admins = [a for a in institution_admins_of(item.institution_id) if a.email != item.recipient]
    _to_staff(
        admins,
        _l("Een mail aan een medewerker kon niet bezorgd worden"),
        "mail/undelivered_staff_mail.txt",
        "undelivered_staff_mail",
        item.institution_id,
        item=item,
        link=external_url("organisation.staff"),
    )


def handlers_of_student_activity(case: Case, what) -> None:
    """The responsible handlers hear that the student answered or withdrew."""
    _to_handlers(
        case,
        _responsible_handlers(case),
        _l("Melding %(number)s: de student heeft gereageerd", number=case.number),
        "mail/handler_student_activity.txt",
        "handler_student_activity",
        what=what,
    )


def handlers_of_erasure_request(case: Case) -> None:
    """The responsible handlers hear that the student asked for their data to be erased."""
    _to_handlers(
        case,
        _responsible_handlers(case),
        _l(
            "Melding %(number)s: de student vraagt om verwijdering van de gegevens",
            number=case.number,
        ),
        "mail/handler_erasure_request.txt",
        "handler_erasure_request",
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


def handlers_of_deadline(case: Case, deadline: str, today=None) -> None:
    """A reminder that a deadline is near ("acknowledgement" or "feedback")."""
    _to_handlers(
        case,
        _responsible_handlers(case, today),
        _l("Herinnering: melding %(number)s heeft een termijn", number=case.number),
        "mail/handler_deadline.txt",
        f"handler_{deadline}_reminder",
        deadline=deadline,
        due=case.ack_due_on if deadline == "acknowledgement" else case.feedback_due_on,
    )


def overdue(case: Case, deadline: str, due, late: int, to_admins: bool, today=None) -> None:
    """A deadline has passed and nobody acted: the responsible handlers are reminded, and
    when it is `late` enough, the institution's admins hear it too."""
    from .scoping import institution_admins_of

    subject = _l("Termijn verlopen: melding %(number)s", number=case.number)
    context = {"deadline": deadline, "due": due, "late": late}
    _to_handlers(
        case,
        _responsible_handlers(case, today),
        subject,
        "mail/handler_overdue.txt",
        f"handler_{deadline}_overdue",
        **context,
    )
    if to_admins:
        _to_handlers(
            case,
            institution_admins_of(case.institution_id),
            subject,
            "mail/admin_overdue.txt",
            f"admin_{deadline}_overdue",
            link=external_url("organisation.staff"),
            **context,
        )


def adv_of_referral(referral) -> None:
    """The referral itself, to the ADV's address: only what the handler chose to share."""
    case = referral.case
    with force_locale("nl"):
        outbox.queue(
            referral.adv.email,
            _(
                "Doorverwijzing van het stagemeldpunt van %(institution)s (%(number)s)",
                institution=case.institution.name,
                number=case.number,
            ),
            render_template("mail/adv_referral.txt", referral=referral, case=case),
            purpose="adv_referral",
            attachments=referral.attachments,
        )


def handlers_of_sbb_news(investigation, what) -> None:
    """The escalating institution hears that SBB did something on its case."""
    case = investigation.case
    if case is None:
        return
    _to_handlers(
        case,
        _responsible_handlers(case),
        _l("Melding %(number)s: nieuws van SBB", number=case.number),
        "mail/handler_sbb_news.txt",
        "handler_sbb_news",
        what=what,
    )


def _to_sbb(investigation, subject, template: str, purpose: str, **context) -> None:
    """One mail per SBB reviewer, in their language, with the link to the investigation
    (`subject` is lazy)."""
    from .scoping import sbb_reviewers

    link = external_url("sbb.investigation", investigation_id=investigation.id)
    _to_staff(
        sbb_reviewers(),
        subject,
        template,
        purpose,
        investigation=investigation,
        link=link,
        **context,
    )


def sbb_of_escalation(investigation) -> None:
    """SBB's reviewers hear that an institution escalated a case to them."""
    _to_sbb(
        investigation,
        _l("%(reference)s: nieuwe melding doorgezet naar SBB", reference=investigation.reference),
        "mail/sbb_escalation.txt",
        "sbb_escalation",
    )


def sbb_of_deadline(investigation, step: str, overdue: bool) -> None:
    """SBB's reviewers hear that an investigation is to be started or decided soon, or
    should have been."""
    if overdue:
        subject = _l("%(reference)s: termijn van SBB verlopen", reference=investigation.reference)
    else:
        subject = _l("%(reference)s: termijn van SBB loopt af", reference=investigation.reference)
    _to_sbb(
        investigation,
        subject,
        "mail/sbb_deadline.txt",
        f"sbb_{step}_{'overdue' if overdue else 'reminder'}",
        step=step,
        overdue=overdue,
    )


def sbb_of_agreements_due(investigation) -> None:
    """SBB's reviewers hear that the improvement agreements of a decision fell due."""
    _to_sbb(
        investigation,
        _l(
            "%(reference)s: verbeterafspraken verlopen, controleren",
            reference=investigation.reference,
        ),
        "mail/sbb_agreements_due.txt",
        "sbb_agreements_due",
    )


def sbb_of_institution_message(investigation) -> None:
    """SBB's reviewers hear that an institution wrote about an escalation."""
    _to_sbb(
        investigation,
        _l("%(reference)s: bericht van de instelling", reference=investigation.reference),
        "mail/sbb_message.txt",
        "sbb_message",
    )


def sbb_of_case_withdrawal(investigation) -> None:
    """SBB's reviewers hear that the student withdrew the report of an open investigation."""
    _to_sbb(
        investigation,
        _l(
            "%(reference)s: de student heeft de melding ingetrokken",
            reference=investigation.reference,
        ),
        "mail/sbb_case_withdrawn.txt",
        "sbb_case_withdrawn",
    )


@dataclass
class PreparedMail:
    """A mail rendered but not yet in the outbox (see `accounts.request_reset`)."""

    recipient: str
    subject: str
    body: str
    purpose: str

    def queue(self) -> None:
        outbox.queue(self.recipient, self.subject, self.body, purpose=self.purpose)


def password_link_mail(user, token: str, purpose: str) -> PreparedMail:
    """An invitation or a reset link, for the account's own address only. The token goes
    in the link's fragment, which a browser never sends to the server, so it reaches no
    access log; the page reads it from there, or the person pastes it (see SECURITY.md)."""
    from .accounts import INVITE_HOURS, RESET_HOURS
    from .models import AccountToken

    invitation = purpose == AccountToken.INVITE
    with force_locale(mail_language(user)):
        subject = (
            _("Uitnodiging voor het meldpunt stagediscriminatie")
            if invitation
            else _("Nieuw wachtwoord voor het meldpunt stagediscriminatie")
        )
        body = render_template(
            "mail/password_link.txt",
            name=user.name,
            invitation=invitation,
            link=f"{external_url('auth.set_password')}#{token}",
            token=token,
            days=INVITE_HOURS // 24,
            hours=RESET_HOURS,
        )
    return PreparedMail(user.email, subject, body, f"account_{purpose}")


def password_link(user, token: str, purpose: str) -> None:
    """Queue the invitation or reset link for `user`."""
    password_link_mail(user, token, purpose).queue()


def owner_of_failed_logins(user, failures: int) -> None:
    """The account's owner hears that someone keeps trying their account: no address, no
    time of each try, only the count and what to do."""
    with force_locale(mail_language(user)):
        outbox.queue(
            user.email,
            _("Mislukte pogingen om in te loggen op je account"),
            render_template(
                "mail/failed_logins.txt",
                user=user,
                failures=failures,
                link=external_url("auth.forgot_password"),
            ),
            purpose="account_failed_logins",
        )


def admins_of_closed_meldpunt(institution) -> None:
    """The institution's admins and the platform admins hear that its meldpunt closed,
    because it lost its last handler who can log in."""
    from .scoping import admins_of

    _to_staff(
        admins_of(institution.id),
        _l("Het meldpunt van %(name)s is gesloten", name=institution.name),
        "mail/meldpunt_closed.txt",
        "meldpunt_closed",
        institution=institution,
        link=external_url("organisation.staff"),
    )
