"""Finding the meldpunt, reporting, the receipt, and following a report up with its code."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from types import SimpleNamespace

import sqlalchemy as sa
from flask import (
    Response,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _

from .. import (
    attachments,
    audit,
    colours,
    database,
    follow_up_sessions,
    scoping,
    submissions,
    workflow,
)
from ..crypto import format_receipt_code, hash_receipt_code, normalise_receipt_code
from ..extensions import csrf, db, keyed_digest, limiter
from ..forms import new_submission_id, strip_nul
from ..intake import submit_report
from ..models import Case, Institution, Message
from ..scoping import case_for_receipt_code, case_for_reporter_session
from ..vocab import Status
from . import bp, export
from .forms import (
    ErasureRequestForm,
    NoticeEmailForm,
    ReceiptCodeForm,
    ReportForm,
    StudentMessageForm,
    WithdrawForm,
)

FOLLOW_UP_KEY = "follow_up"
# A class may report from one school address at once; guessing codes is what is slowed.
REPORTS_PER_ADDRESS = "30 per hour"
# A whole school shares one address (NAT), so its budget fits a full class that mistypes;
# a code space of 10^16 keeps guessing hopeless at this rate. Each code tried without
# success is limited too, from every address together, keyed on a keyed hash of the code
# (never the code).
CODES_PER_ADDRESS = "200 per 10 minutes; 2000 per day"
TRIES_PER_CODE = "10 per hour; 30 per day"
# Compared against when a typed code cannot be a code, so that timing says nothing.
_NOT_A_CODE = "0" * 16


def _institution_or_404(slug: str) -> Institution:
    return db.first_or_404(sa.select(Institution).where(Institution.slug == slug))


def _start_follow_up(case: Case) -> None:
    """Let this browser see `case` for a while, as if the code was typed; the caller
    commits. A session this browser had open before ends."""
    follow_up_sessions.end(session.get(FOLLOW_UP_KEY))
    session[FOLLOW_UP_KEY] = follow_up_sessions.start(case)


def _open_follow_up(case: Case) -> None:
    """`_start_follow_up`, committed: after the view's own commit, as bookkeeping of the
    browser, not part of what the student did."""
    _start_follow_up(case)
    db.session.commit()


def _close_follow_up() -> None:
    """End this browser's session, on the server too; the caller commits."""
    follow_up_sessions.end(session.pop(FOLLOW_UP_KEY, None))


def _follow_up_case() -> Case | None:
    """The case this browser has open, or None once its session has ended.

    The server decides: a session the student closed, or that timed out, opens
    nothing, even with a copy of the cookie.
    """
    row = follow_up_sessions.find(session.get(FOLLOW_UP_KEY))
    case = case_for_reporter_session(row.case_id) if row is not None else None
    if case is None:
        session.pop(FOLLOW_UP_KEY, None)
        return None
    if follow_up_sessions.touch(row):
        db.session.commit()  # the idle timeout slides with activity; nothing else is pending
    return case


@bp.route("/")
def start():
    """Find your school's meldpunt by name or city."""
    query = strip_nul(request.args.get("q") or "").strip()[:100]
    # Only an open meldpunt is offered as a place to report (see `scoping.accepting_reports`).
    select = sa.select(Institution).where(scoping.accepting_reports()).order_by(Institution.name)
    if query:
        pattern = f"%{query.lower()}%"
        select = select.where(
            sa.or_(
                sa.func.lower(Institution.name).like(pattern),
                sa.func.lower(Institution.city).like(pattern),
            )
        )
    institutions = db.session.scalars(select.limit(200)).all()
    return render_template("student/start.html", institutions=institutions, query=query)


@bp.route("/meldpunt/<slug>/huisstijl.css")
def house_style(slug: str):
    """The institution's colour for its meldpunt pages (a stylesheet: no inline style)."""
    institution = _institution_or_404(slug)
    css = f".site-header {{ background: {colours.header_colour(institution.colour)}; }}\n"
    return Response(css, mimetype="text/css")


@bp.route("/toegankelijkheid")
def accessibility():
    """The accessibility statement (toegankelijkheidsverklaring)."""
    return render_template("student/accessibility.html")


@bp.route("/meldpunt/<slug>")
def meldpunt(slug: str):
    """An institution's meldpunt: its own text, how to report, and the ADV outside school."""
    institution = _institution_or_404(slug)
    if not scoping.accepts_reports(institution):
        return render_template("student/closed.html", institution=institution)
    return render_template("student/meldpunt.html", institution=institution)


@bp.route("/meldpunt/<slug>/melden", methods=["GET", "POST"])
@csrf.exempt  # the form checks its own token, so an expired one loses nothing typed
@limiter.limit(REPORTS_PER_ADDRESS, methods=["POST"])
def report(slug: str):
    """The report form. Errors (an expired token too) re-show it with everything typed.

    The receipt code is shown in the response to this POST and nowhere else:
    not in a URL, a redirect or a cookie.
    """
    institution = _institution_or_404(slug)
    if not scoping.accepts_reports(institution):
        # Nobody there to read it: nothing is stored, and what was typed is shown back to
        # take to the ADV.
        typed = strip_nul(request.form.get("narrative") or "")[:10000]
        status = 409 if request.method == "POST" else 200
        return render_template("student/closed.html", institution=institution, typed=typed), status
    form = ReportForm()
    if not form.submission_id.data:
        form.submission_id.data = new_submission_id()
    submissions.browser_key()  # before the POST, so that a lost answer keeps this browser
    searching = "find_company" in request.form
    form.prepare_companies(searching)
    if form.is_submitted():
        form.take_uploads()
        db.session.commit()  # uploads wait as pending, so that a form shown again keeps them
    if searching:
        return render_template("student/report.html", institution=institution, form=form)
    if form.validate_on_submit():
        sent = submissions.earlier(form.submission_id.data)
        if sent is None:
            if request.form.get("submission_id"):
                # Sent again (a retry after a commit in doubt), the row above answers.
                database.replay_safe()
            try:
                return _receipt(_open_case(institution, form))
            except sa.exc.IntegrityError:  # the same form, sent twice at the same moment
                db.session.rollback()
                sent = submissions.earlier(form.submission_id.data)
                if sent is None:
                    raise
        return _sent_again(institution, sent)
    status = 422 if form.is_submitted() else 200
    return render_template("student/report.html", institution=institution, form=form), status


@dataclass(frozen=True)
class Receipt:
    """What the receipt page shows, taken before the commit: the page needs no database,
    so that a connection lost after the commit cannot lose the code."""

    code: str
    ack_due_on: date
    institution: SimpleNamespace


def _open_case(institution: Institution, form: ReportForm) -> Receipt:
    """Open the case, its files, its once-only record and this browser's follow-up session,
    in one transaction."""
    case, code = submit_report(institution, form.to_report_data(), language=str(get_locale()))
    attachments.attach(case, form.uploads)
    submissions.record(form.submission_id.data, case, code)
    _start_follow_up(case)
    receipt = Receipt(
        code=format_receipt_code(code),
        ack_due_on=case.ack_due_on,
        institution=_shown(institution),
    )
    db.session.commit()
    return receipt


def _shown(institution: Institution) -> SimpleNamespace:
    """The institution as the receipt page shows it, read before the commit."""
    adv = institution.adv
    return SimpleNamespace(
        name=institution.name,
        slug=institution.slug,
        adv=SimpleNamespace(name=adv.name, email=adv.email, phone=adv.phone, website=adv.website)
        if adv is not None
        else None,
    )


def _receipt(receipt: Receipt, status: int = 200):
    return render_template(
        "student/receipt.html", receipt=receipt, form=NoticeEmailForm(formdata=None)
    ), status


def _sent_again(institution: Institution, sent: submissions.Earlier):
    """The form was accepted before: its code again for the browser that sent it, while
    the code is kept; otherwise only that it was sent."""
    if sent.code is None:
        return render_template("student/already_sent.html", institution=institution)
    _start_follow_up(sent.case)
    receipt = Receipt(
        code=format_receipt_code(sent.code),
        ack_due_on=sent.case.ack_due_on,
        institution=_shown(institution),
    )
    db.session.commit()
    return _receipt(receipt)


def _code_tried() -> str:
    """The per-code limit's key: a keyed hash of the code as typed, normalised."""
    typed = strip_nul(request.form.get("code") or "")[:100]
    return "code:" + keyed_digest("receipt-code", normalise_receipt_code(typed) or typed.strip())


def _code_failed(response) -> bool:
    """Only a code that opened nothing counts against that code: a student may open their
    own report as often as they like."""
    return response.status_code != 302


@bp.route("/volgen", methods=["GET", "POST"])
@csrf.exempt
@limiter.limit(CODES_PER_ADDRESS, methods=["POST"])
@limiter.limit(TRIES_PER_CODE, methods=["POST"], key_func=_code_tried, deduct_when=_code_failed)
def follow_up():
    """Enter the receipt code. A wrong code gets one message, whatever the reason."""
    form = ReceiptCodeForm()
    if form.validate_on_submit():
        normalised = normalise_receipt_code(form.code.data)
        if normalised is None:
            hash_receipt_code(_NOT_A_CODE)
            case = None
        else:
            case = case_for_receipt_code(normalised)
        if case is not None:
            audit.record("case.code_used", case=case, actor=workflow.REPORTER)
            pending = (form.pending_message.data or "").strip()
            if pending and workflow.can("message", case, workflow.REPORTER):
                workflow.student_message(case, pending)
                flash(_("Je bericht is verstuurd naar het meldpunt."), "success")
            db.session.commit()
            _open_follow_up(case)
            return redirect(url_for("student.case"))
        audit.record("receipt.code_failed", actor="anonymous")
        db.session.commit()
        form.code.errors.append(
            _(
                "Met deze code kunnen we geen melding openen. Controleer de cijfers en probeer het opnieuw."
            )
        )
    status = 422 if form.is_submitted() else 200
    return render_template("student/follow_up.html", form=form), status


def _case_page(case: Case, message_form=None, notice_form=None, status: int = 200):
    messages = [m for m in case.messages if m.kind != Message.NOTE]
    return render_template(
        "student/case.html",
        case=case,
        messages=messages,
        message_form=message_form or StudentMessageForm(formdata=None),
        notice_form=notice_form or NoticeEmailForm(formdata=None),
        can_message=workflow.can("message", case, workflow.REPORTER),
        can_withdraw=workflow.can("withdraw", case, workflow.REPORTER),
        can_request_erasure=workflow.can("request_erasure", case, workflow.REPORTER),
    ), status


@bp.route("/volgen/melding")
def case():
    """The student's view of their case: status, deadlines and messages."""
    case = _follow_up_case()
    if case is None:
        flash(_("Vul je ontvangstcode in om je melding te bekijken."), "info")
        return redirect(url_for("student.follow_up"))
    return _case_page(case)


@bp.route("/volgen/melding/bericht", methods=["POST"])
@csrf.exempt
def send_message():
    """The student answers a question or adds information."""
    case = _follow_up_case()
    if case is None:
        # The page timed out while the student wrote: keep the text, ask for the code.
        code_form = ReceiptCodeForm(formdata=None, pending_message=request.form.get("body", ""))
        return render_template("student/follow_up.html", form=code_form, timed_out=True), 401
    form = StudentMessageForm()
    form.take_uploads(case=case)
    db.session.commit()
    if form.validate_on_submit():
        try:
            message = workflow.student_message(case, form.body.data)
        except workflow.WorkflowError as error:
            form.body.errors.append(error.message)
        else:
            attachments.attach(case, form.uploads, message)
            db.session.commit()
            flash(_("Je bericht is verstuurd naar het meldpunt."), "success")
            return redirect(url_for("student.case"))
    return _case_page(case, message_form=form, status=422)


@bp.route("/volgen/melding/meldingen-per-mail", methods=["POST"])
@csrf.exempt
def notice_email():
    """Set or change the address for "there is news" notices."""
    case = _follow_up_case()
    if case is None:
        return redirect(url_for("student.follow_up"))
    if not workflow.can("notice_email", case, workflow.REPORTER):
        return redirect(url_for("student.case"))
    form = NoticeEmailForm()
    if form.validate_on_submit():
        workflow.set_notice_email(case, form.notify_email.data)
        db.session.commit()
        flash(_("Je krijgt een mail als er nieuws is over je melding."), "success")
        return redirect(url_for("student.case"))
    return _case_page(case, notice_form=form, status=422)


@bp.route("/volgen/melding/intrekken", methods=["GET", "POST"])
@csrf.exempt
def withdraw():
    """Withdraw the report, after an explicit confirmation."""
    case = _follow_up_case()
    if case is None:
        return redirect(url_for("student.follow_up"))
    if not workflow.can("withdraw", case, workflow.REPORTER):
        return redirect(url_for("student.case"))
    form = WithdrawForm()
    if form.validate_on_submit():
        workflow.withdraw(case, form.reason.data)  # ends every session on the case
        _close_follow_up()
        db.session.commit()
        flash(_("Je melding is ingetrokken."), "success")
        return redirect(url_for("student.start"))
    status = 422 if form.is_submitted() else 200
    return render_template("student/withdraw.html", case=case, form=form), status


@bp.route("/volgen/melding/gegevens")
def export_data():
    """Everything the report holds about the student, as a ZIP to download."""
    case = _follow_up_case()
    if case is None:
        return redirect(url_for("student.follow_up"))
    archive = export.build(case)
    audit.record(
        "case.data_exported",
        case=case,
        actor=workflow.REPORTER,
        files=archive.files,
        messages=archive.messages,
    )
    db.session.commit()
    response = Response(archive.data, mimetype="application/zip")
    response.headers["Content-Disposition"] = attachments.content_disposition(
        _("melding-%(number)s.zip", number=case.number)
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/volgen/melding/verwijderen", methods=["GET", "POST"])
@csrf.exempt  # the form checks its own token
def request_erasure():
    """Ask the meldpunt to erase the student's personal data, after an explicit confirmation."""
    case = _follow_up_case()
    if case is None:
        return redirect(url_for("student.follow_up"))
    if not workflow.can("request_erasure", case, workflow.REPORTER):
        return redirect(url_for("student.case"))
    form = ErasureRequestForm()
    if form.validate_on_submit():
        workflow.request_erasure(case)  # ends every session on the case
        _close_follow_up()
        db.session.commit()
        if case.status == Status.CLOSED:
            flash(_("Je vraag is verstuurd. Het meldpunt wist je gegevens."), "success")
        else:
            flash(
                _(
                    "Je vraag is verstuurd. Het meldpunt wist je gegevens als je melding is afgesloten."
                ),
                "success",
            )
        return redirect(url_for("student.start"))
    status = 422 if form.is_submitted() else 200
    return render_template(
        "student/erasure.html",
        case=case,
        form=form,
        can_withdraw=workflow.can("withdraw", case, workflow.REPORTER),
    ), status


@bp.route("/volgen/melding/bestanden/<id:attachment_id>")
def download(attachment_id: int):
    """A file of the student's own case, as a download."""
    case = _follow_up_case()
    if case is None:
        return redirect(url_for("student.follow_up"))
    attachment = attachments.of_case_or_404(case, attachment_id)
    audit.record(
        "case.attachment_downloaded",
        case=case,
        actor=workflow.REPORTER,
        attachment_id=attachment.id,
    )
    db.session.commit()
    return attachments.download_response(attachment)


@bp.route("/volgen/stoppen", methods=["POST"])
def stop():
    """Close the case on this device (for a shared computer)."""
    _close_follow_up()
    session.pop(submissions.BROWSER_KEY, None)  # nor is a code shown here again
    db.session.commit()
    flash(_("Je melding is gesloten op dit apparaat."), "info")
    return redirect(url_for("student.start"))
