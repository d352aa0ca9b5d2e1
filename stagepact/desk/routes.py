"""The handler's desk. Views parse a form, call the workflow, commit once and redirect."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.orm import selectinload

from .. import (
    attachments,
    audit,
    companies,
    database,
    deadlines,
    investigations,
    submissions,
    workflow,
)
from ..crypto import format_receipt_code
from ..extensions import db
from ..forms import (
    ActionForm,
    error_beside_field,
    new_submission_id,
    requested_page,
    row_id,
    strip_nul,
)
from ..intake import submit_report
from ..models import Adv, Case, Message, User
from ..scoping import (
    cases_for,
    colleague_or_none,
    find_case_by_number,
    get_case_or_404,
    handlers_of,
)
from ..vocab import OPEN_STATUSES, Channel, Role, Status
from . import bp
from .forms import (
    AdvAnswerForm,
    AssignForm,
    CloseForm,
    ConsentForm,
    EraseForm,
    EscalateForm,
    InboxFilterForm,
    IntakeForm,
    LinkCompanyForm,
    MessageForm,
    NoteForm,
    ReferForm,
    ReopenForm,
    SbbMessageForm,
)


@bp.before_request
def require_handler():
    """The desk is for handlers only; to anyone else it does not exist."""
    if current_user.role != Role.HANDLER:
        abort(404)


@bp.route("/")
def inbox():
    """The institution's cases, filtered and paginated."""
    form = InboxFilterForm(request.args)
    form.validate()
    user = current_user
    query = cases_for(user).options(selectinload(Case.grounds), selectinload(Case.assigned_to))
    status = form.status.data if not form.status.errors else "open"
    if status == "open":
        query = query.where(Case.status.in_(OPEN_STATUSES))
    elif status in set(Status):
        query = query.where(Case.status == status)
    if form.mine.data:
        query = query.where(Case.assigned_to_id == user.id)
    today = deadlines.today()
    if form.overdue.data:
        query = query.where(Case.is_overdue(today))
    if form.submitted_from.data and not form.submitted_from.errors:
        query = query.where(
            Case.submitted_at >= deadlines.start_of_local_day(form.submitted_from.data)
        )
    if form.submitted_to.data and not form.submitted_to.errors:
        day_after = form.submitted_to.data + timedelta(days=1)
        query = query.where(Case.submitted_at < deadlines.start_of_local_day(day_after))
    if form.number.data and not form.number.errors:
        query = query.where(Case.number.contains(form.number.data.strip().upper(), autoescape=True))
    query = query.order_by(Case.submitted_at.desc(), Case.id.desc())
    page = db.paginate(
        query,
        # Any page past the end is simply empty; no number may overflow the OFFSET.
        page=requested_page(),
        per_page=request.args.get("per_page", 25, type=int),
        max_per_page=100,
        error_out=False,
    )
    # Only the form's own fields go into the pagination links (never url_for's options).
    filters = {
        name: value
        for name, value in request.args.items()
        if name in form._fields and value and not form[name].errors
    }
    if request.args.get("per_page", type=int):
        filters["per_page"] = request.args.get("per_page", type=int)
    return render_template("desk/inbox.html", form=form, page=page, today=today, filters=filters)


def _advs() -> list[Adv]:
    return db.session.scalars(sa.select(Adv).order_by(Adv.name)).all()


def _student_messages(case: Case) -> list[Message]:
    return [m for m in case.messages if m.kind == Message.FROM_STUDENT]


def _case_page(case: Case, forms: dict | None = None, status: int = 200):
    user = current_user
    actions = workflow.allowed_actions(case, user)
    handlers = handlers_of(case.institution_id)
    advs = _advs() if "refer" in actions else []
    escalation = case.investigations[-1] if case.investigations else None
    all_forms = {
        "action": ActionForm(formdata=None),
        "close": CloseForm(workflow.close_outcomes(case), formdata=None),
        "reopen": ReopenForm(formdata=None),
        "assign": AssignForm(handlers, formdata=None, assignee=str(case.assigned_to_id or "")),
        "message": MessageForm(formdata=None),
        "note": NoteForm(formdata=None),
        "link_company": LinkCompanyForm(formdata=None),
        "consent": ConsentForm(_student_messages(case), formdata=None),
        "refer": ReferForm(
            advs, case.attachments, formdata=None, adv_id=str(case.institution.adv_id or "")
        ),
        "adv_answer": AdvAnswerForm(formdata=None),
        "escalate": EscalateForm(case.attachments, formdata=None),
        "sbb_message": SbbMessageForm(formdata=None),
        "erase": EraseForm(formdata=None),
    }
    all_forms.update(forms or {})
    company_query = strip_nul(request.args.get("bedrijf") or "").strip()[:100]
    found = companies.search(company_query) if company_query and "link_company" in actions else []
    events = audit.events_for_case(case)
    actor_ids = {e.actor_id for e in events if e.actor_id}
    actors = (
        {u.id: u for u in db.session.scalars(sa.select(User).where(User.id.in_(actor_ids)))}
        if actor_ids
        else {}
    )
    return render_template(
        "desk/case.html",
        case=case,
        actions=actions,
        forms=all_forms,
        events=events,
        actors=actors,
        label=audit.label,
        company_query=company_query,
        found_companies=found,
        today=deadlines.today(),
        student_messages=[m for m in case.messages if m.kind != Message.NOTE],
        notes=[m for m in case.messages if m.kind == Message.NOTE],
        can_share_contact=workflow.can_share_contact(case),
        missing={name: workflow.missing_for(name, case) for name in ("refer", "escalate")},
        escalation=escalation,
        can_message_sbb=escalation is not None and investigations.can("message", escalation, user),
    ), status


@bp.route("/zaken/<id:case_id>")
def case_detail(case_id: int):
    """Everything about one case. Opening it is itself an audit event."""
    case = get_case_or_404(current_user, case_id)
    _record_read(case)
    return _case_page(case)


def _record_read(case: Case) -> None:
    """Showing a case is a read of it, in the trail: also when the page comes back after
    a refused action, whose own changes were rolled back."""
    audit.record("case.viewed", case=case)
    db.session.commit()


def _refuse(case: Case, message, forms: dict | None = None, status: int = 409):
    db.session.rollback()
    _record_read(case)
    flash(message, "error")
    return _case_page(case, forms, status)


def _done(case: Case, message):
    db.session.commit()
    flash(message, "success")
    return redirect(url_for("desk.case_detail", case_id=case.id))


def _simple_transition(case_id: int, name: str, operation, message):
    case = get_case_or_404(current_user, case_id)
    form = ActionForm()
    if not form.validate_on_submit() or not workflow.can(name, case, current_user):
        return _refuse(case, _("Deze stap kan nu niet bij deze melding."))
    operation(case, current_user)
    return _done(case, message)


@bp.route("/zaken/<id:case_id>/bevestigen", methods=["POST"])
def acknowledge(case_id: int):
    """Acknowledge receipt: the student sees that someone is looking at it."""
    return _simple_transition(
        case_id, "acknowledge", workflow.acknowledge, _("Ontvangst bevestigd.")
    )


@bp.route("/zaken/<id:case_id>/opvolgen", methods=["POST"])
def start_follow_up(case_id: int):
    """Start the follow-up."""
    return _simple_transition(
        case_id, "start_follow_up", workflow.start_follow_up, _("Opvolging gestart.")
    )


@bp.route("/zaken/<id:case_id>/afsluiten", methods=["POST"])
def close(case_id: int):
    """Close with an outcome and a closing message to the student."""
    case = get_case_or_404(current_user, case_id)
    if not workflow.can("close", case, current_user):
        return _refuse(case, _("Deze stap kan nu niet bij deze melding."))
    form = CloseForm(workflow.close_outcomes(case))
    if not form.validate_on_submit():
        return _refuse(case, _("Controleer het formulier om af te sluiten."), {"close": form}, 422)
    duplicate_of = None
    if form.duplicate_of.data:
        duplicate_of = find_case_by_number(current_user, form.duplicate_of.data)
    try:
        workflow.close(case, current_user, form.outcome.data, form.message.data, duplicate_of)
    except workflow.WorkflowError as error:
        form[error.field or "outcome"].errors.append(error.message)
        return _refuse(case, _("Controleer het formulier om af te sluiten."), {"close": form}, 422)
    return _done(case, _("Melding afgesloten."))


@bp.route("/zaken/<id:case_id>/heropenen", methods=["POST"])
def reopen(case_id: int):
    """Reopen a closed case, with a reason."""
    case = get_case_or_404(current_user, case_id)
    if not workflow.can("reopen", case, current_user):
        return _refuse(case, _("Deze stap kan nu niet bij deze melding."))
    form = ReopenForm()
    if not form.validate_on_submit():
        return _refuse(case, _("Geef een reden om te heropenen."), {"reopen": form}, 422)
    workflow.reopen(case, current_user, form.reason.data)
    return _done(case, _("Melding heropend."))


@bp.route("/zaken/<id:case_id>/toewijzen", methods=["POST"])
def assign(case_id: int):
    """Assign the case to a handler of the same institution, or to nobody."""
    case = get_case_or_404(current_user, case_id)
    if not workflow.can("assign", case, current_user):
        return _refuse(case, _("Deze stap kan nu niet bij deze melding."))
    form = AssignForm(handlers_of(case.institution_id))
    if not form.validate_on_submit():
        return _refuse(case, _("Kies een behandelaar."), {"assign": form}, 422)
    assignee_id = row_id(form.assignee.data)
    assignee = colleague_or_none(current_user, assignee_id)
    workflow.assign(case, current_user, assignee)
    return _done(case, _("Toewijzing opgeslagen."))


@bp.route("/zaken/<id:case_id>/bericht", methods=["POST"])
def message(case_id: int):
    """Write to the student; they get a notice without the content."""
    case = get_case_or_404(current_user, case_id)
    if not workflow.can("message", case, current_user):
        return _refuse(case, _("Deze stap kan nu niet bij deze melding."))
    form = MessageForm()
    form.take_uploads(uploaded_by=current_user, case=case)
    db.session.commit()  # the files wait as pending if the form comes back
    if not form.validate_on_submit():
        return _refuse(case, _("Het bericht is niet verstuurd."), {"message": form}, 422)
    message = workflow.send_message(case, current_user, form.body.data, bool(form.is_feedback.data))
    attachments.attach(case, form.uploads, message)
    return _done(case, _("Bericht verstuurd."))


@bp.route("/zaken/<id:case_id>/notitie", methods=["POST"])
def note(case_id: int):
    """An internal note the student never sees."""
    case = get_case_or_404(current_user, case_id)
    if not workflow.can("note", case, current_user):
        return _refuse(case, _("Deze stap kan nu niet bij deze melding."))
    form = NoteForm()
    if not form.validate_on_submit():
        return _refuse(case, _("De notitie is niet opgeslagen."), {"note": form}, 422)
    workflow.add_note(case, current_user, form.body.data)
    return _done(case, _("Notitie opgeslagen."))


@bp.route("/zaken/<id:case_id>/leerbedrijf", methods=["POST"])
def link_company(case_id: int):
    """Link the learning company from the register, or add it as unverified."""
    case = get_case_or_404(current_user, case_id)
    if not workflow.can("link_company", case, current_user):
        return _refuse(case, _("Deze stap kan nu niet bij deze melding."))
    form = LinkCompanyForm()
    if not form.validate_on_submit():
        return _refuse(case, _("Het leerbedrijf is niet gekoppeld."), {"link_company": form}, 422)
    company = form.company or companies.add_unverified(
        form.new_name.data,
        form.new_city.data or "",
        companies.valid_kvk(form.new_kvk.data or ""),
        current_user,
    )
    workflow.link_company(case, current_user, company)
    return _done(case, _("Leerbedrijf gekoppeld: %(name)s.", name=company.name))


@bp.route("/zaken/<id:case_id>/wissen", methods=["POST"])
def erase(case_id: int):
    """Erase the student's personal data of a closed case: they asked for it, or withdrew."""
    case = get_case_or_404(current_user, case_id)
    if not workflow.can("erase", case, current_user):
        return _refuse(case, _("Deze stap kan nu niet bij deze melding."))
    form = EraseForm()
    if not form.validate_on_submit():
        return _refuse(case, _("De gegevens zijn niet gewist."), {"erase": form}, 422)
    workflow.erase(case, current_user)
    return _done(case, _("De persoonsgegevens van deze melding zijn gewist."))


def _ids(values) -> list[int]:
    """Ids from checkboxes; anything that is not one cannot be a file of this case."""
    return [row_id(v) or -1 for v in values or ()]


@bp.route("/zaken/<id:case_id>/bestanden/<id:attachment_id>")
def download(case_id: int, attachment_id: int):
    """A file of the case, as a download; staff reads are audit events."""
    case = get_case_or_404(current_user, case_id)
    attachment = attachments.of_case_or_404(case, attachment_id)
    audit.record("case.attachment_downloaded", case=case, attachment_id=attachment.id)
    db.session.commit()
    return attachments.download_response(attachment)


@bp.route("/zaken/<id:case_id>/toestemming", methods=["POST"])
def record_consent(case_id: int):
    """Record a consent the student gave or withdrew in a message or to the handler."""
    case = get_case_or_404(current_user, case_id)
    if not workflow.can("consent", case, current_user):
        return _refuse(case, _("Deze stap kan nu niet bij deze melding."))
    student_messages = _student_messages(case)
    form = ConsentForm(student_messages)
    refused = _("De toestemming is niet vastgelegd.")
    if not form.validate_on_submit():
        return _refuse(case, refused, {"consent": form}, 422)
    message = next((m for m in student_messages if str(m.id) == form.message_id.data), None)
    try:
        workflow.record_consent(
            case,
            current_user,
            form.kind.data,
            form.given.data == "yes",
            form.source.data,
            message,
        )
    except workflow.WorkflowError as error:
        error_beside_field(form, error, "kind")
        return _refuse(case, refused, {"consent": form}, 422)
    return _done(case, _("Toestemming vastgelegd."))


@bp.route("/zaken/<id:case_id>/doorverwijzen", methods=["POST"])
def refer(case_id: int):
    """Refer the case to an ADV: the summary (and contact details if agreed) go by mail."""
    case = get_case_or_404(current_user, case_id)
    if not workflow.can("refer", case, current_user):
        return _refuse(case, _("Deze stap kan nu niet bij deze melding."))
    advs = _advs()
    form = ReferForm(advs, case.attachments)
    refused = _("De melding is niet doorverwezen.")
    if not form.validate_on_submit():
        return _refuse(case, refused, {"refer": form}, 422)
    adv = next((a for a in advs if str(a.id) == form.adv_id.data), None)
    try:
        referral = workflow.refer(
            case,
            current_user,
            adv,
            form.summary.data,
            bool(form.share_contact.data),
            _ids(form.attachment_ids.data),
        )
    except workflow.WorkflowError as error:
        error_beside_field(form, error, "summary")
        return _refuse(case, refused, {"refer": form}, 422)
    return _done(case, _("Doorverwezen naar %(name)s.", name=referral.adv.name))


@bp.route("/zaken/<id:case_id>/adv-antwoord", methods=["POST"])
def adv_answer(case_id: int):
    """Record what the ADV answered: taken on, declined or closed with its outcome."""
    case = get_case_or_404(current_user, case_id)
    if not workflow.can("adv_answer", case, current_user):
        return _refuse(case, _("Deze stap kan nu niet bij deze melding."))
    form = AdvAnswerForm()
    refused = _("Het antwoord van het ADV is niet vastgelegd.")
    if not form.validate_on_submit():
        return _refuse(case, refused, {"adv_answer": form}, 422)
    try:
        workflow.record_adv_answer(case, current_user, form.answer.data, form.note.data)
    except workflow.WorkflowError as error:
        error_beside_field(form, error, "answer")
        return _refuse(case, refused, {"adv_answer": form}, 422)
    return _done(case, _("Antwoord van het ADV vastgelegd."))


@bp.route("/zaken/<id:case_id>/doorzetten", methods=["POST"])
def escalate(case_id: int):
    """Escalate to SBB: a pseudonymised summary, the identity only with consent."""
    case = get_case_or_404(current_user, case_id)
    if not workflow.can("escalate", case, current_user):
        return _refuse(case, _("Deze stap kan nu niet bij deze melding."))
    form = EscalateForm(case.attachments)
    refused = _("De melding is niet doorgezet naar SBB.")
    if not form.validate_on_submit():
        return _refuse(case, refused, {"escalate": form}, 422)
    try:
        workflow.escalate(
            case,
            current_user,
            form.summary.data,
            bool(form.share_identity.data),
            _ids(form.attachment_ids.data),
        )
    except workflow.WorkflowError as error:
        error_beside_field(form, error, "summary")
        return _refuse(case, refused, {"escalate": form}, 422)
    return _done(case, _("Doorgezet naar SBB."))


@bp.route("/zaken/<id:case_id>/sbb-bericht", methods=["POST"])
def sbb_message(case_id: int):
    """Write to SBB about this case's escalation."""
    case = get_case_or_404(current_user, case_id)
    escalation = case.investigations[-1] if case.investigations else None
    if escalation is None or not investigations.can("message", escalation, current_user):
        return _refuse(case, _("Deze stap kan nu niet bij deze melding."))
    form = SbbMessageForm()
    if not form.validate_on_submit():
        return _refuse(
            case, _("Het bericht aan SBB is niet verstuurd."), {"sbb_message": form}, 422
        )
    investigations.send_message(escalation, current_user, form.body.data)
    return _done(case, _("Bericht aan SBB verstuurd."))


def _enter_report(form: IntakeForm):
    """Open the case, its files and its once-only record in one transaction; the receipt is
    made of what was read before the commit."""
    case, code = submit_report(
        current_user.institution,
        form.to_report_data(),
        channel=Channel(form.channel.data),
        entered_by=current_user,
    )
    attachments.attach(case, form.uploads)
    submissions.record(form.submission_id.data, case, code)
    shown = {"case_id": case.id, "number": case.number, "code": format_receipt_code(code)}
    db.session.commit()
    return render_template("desk/intake_receipt.html", **shown)


@bp.route("/melding-invoeren", methods=["GET", "POST"])
def new_report():
    """Enter a report for a student who called, came by or wrote.

    The receipt code appears once, in the response to this POST, to pass on.
    """
    form = IntakeForm()
    if not form.submission_id.data:
        form.submission_id.data = new_submission_id()
    submissions.browser_key()  # before the POST, so that a lost answer keeps this browser
    searching = "find_company" in request.form
    form.prepare_companies(searching)
    if form.is_submitted():
        form.take_uploads(uploaded_by=current_user)
        db.session.commit()
    if searching:
        return render_template("desk/new_report.html", form=form)
    if form.validate_on_submit():
        sent = submissions.earlier(form.submission_id.data)
        if sent is None:
            if request.form.get("submission_id"):
                database.replay_safe()  # the submission id answers a second run
            try:
                return _enter_report(form)
            except sa.exc.IntegrityError:  # the same form, sent twice at the same moment
                db.session.rollback()
                sent = submissions.earlier(form.submission_id.data)
                if sent is None:
                    raise
        if sent.code is None:
            flash(_("Deze melding was al opgeslagen; hij is niet nog eens ingevoerd."), "info")
            return redirect(url_for("desk.inbox"))
        return render_template(
            "desk/intake_receipt.html",
            case_id=sent.case.id,
            number=sent.case.number,
            code=format_receipt_code(sent.code),
        )
    status = 422 if form.is_submitted() else 200
    return render_template("desk/new_report.html", form=form), status
