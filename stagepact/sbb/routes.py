"""SBB's pages. Views parse a form, call `stagepact.investigations`, commit once and redirect.

An SBB reviewer reads investigations, which hold exactly what an institution
shared, and counts of reports per company; never a case. Everything here is a
404 to anyone but an SBB reviewer.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy.orm import selectinload

from .. import attachments, audit, companies, deadlines, investigations, signals, statistics
from ..extensions import db
from ..forms import ActionForm, error_beside_field, requested_page, row_id, strip_nul
from ..models import Company, Investigation, RecognitionChange
from ..scoping import get_investigation_or_404, investigations_for
from ..vocab import OPEN_INVESTIGATION_STATUSES, InvestigationStatus, Role
from . import bp
from .forms import (
    CompanySearchForm,
    DecideForm,
    MessageForm,
    ObjectionDecisionForm,
    OpenInvestigationForm,
    QueueFilterForm,
)

PER_PAGE = 25


@bp.before_request
def require_sbb_reviewer():
    """These pages are for SBB reviewers only; to anyone else they do not exist."""
    if current_user.role != Role.SBB_REVIEWER:
        abort(404)


class _PageOf:
    """The pagination numbers of a list that SQL already cut to one page."""

    def __init__(self, page: int, total: int, per_page: int):
        self.page = page
        self.pages = max((total + per_page - 1) // per_page, 1)
        self.has_prev, self.has_next = page > 1, page < self.pages
        self.prev_num, self.next_num = page - 1, page + 1


@bp.route("/")
def queue():
    """Investigations to work on, and signals: companies several institutions' reports name."""
    form = QueueFilterForm(request.args)
    form.validate()
    status = form.status.data if not form.status.errors else "open"
    query = investigations_for(current_user).options(
        selectinload(Investigation.company), selectinload(Investigation.institution)
    )
    if status == "open":
        query = query.where(Investigation.status.in_(OPEN_INVESTIGATION_STATUSES))
    elif status in set(InvestigationStatus):
        query = query.where(Investigation.status == status)
    today = deadlines.today()
    if form.overdue.data:
        query = query.where(Investigation.is_overdue(today))
    page = db.paginate(
        query.order_by(Investigation.created_at.desc(), Investigation.id.desc()),
        page=requested_page(),
        per_page=PER_PAGE,
        error_out=False,
    )
    signal_page = requested_page("signal_page")
    found, signal_total = signals.signals(page=signal_page, per_page=PER_PAGE)
    return render_template(
        "sbb/queue.html",
        form=form,
        page=page,
        status=status,
        overdue=bool(form.overdue.data),
        today=today,
        signals=found,
        signal_total=signal_total,
        signal_page=signal_page,
        signals_page=_PageOf(signal_page, signal_total, PER_PAGE),
        per_page=PER_PAGE,
        months=signals.SIGNAL_MONTHS,
        minimum=signals.SIGNAL_MIN_INSTITUTIONS,
    )


def _investigation_page(investigation: Investigation, forms: dict | None = None, status=200):
    all_forms = {
        "decide": DecideForm(formdata=None),
        "objection": ObjectionDecisionForm(formdata=None),
        "message": MessageForm(formdata=None),
    }
    all_forms.update(forms or {})
    return render_template(
        "sbb/investigation.html",
        investigation=investigation,
        steps=investigations.allowed_steps(investigation, current_user),
        forms=all_forms,
        agreements_due=investigations.agreements_due(investigation, deadlines.today()),
        today=deadlines.today(),
    ), status


@bp.route("/onderzoeken/<id:investigation_id>")
def investigation(investigation_id: int):
    """One investigation: what was shared, the company, decisions and messages."""
    found = get_investigation_or_404(current_user, investigation_id)
    _record_read(found)
    return _investigation_page(found)


def _record_read(investigation: Investigation) -> None:
    """Showing an investigation is a read of it, in the trail: also when the page comes
    back after a refused step, whose own changes were rolled back."""
    audit.record(
        "investigation.viewed",
        case=investigation.case,
        investigation_id=investigation.id,
        company_id=investigation.company_id,
    )
    db.session.commit()


@bp.route("/onderzoeken/<id:investigation_id>/bestanden/<id:attachment_id>")
def download(investigation_id: int, attachment_id: int):
    """A file the institution shared with this investigation, and no other."""
    found = get_investigation_or_404(current_user, investigation_id)
    attachment = next((a for a in found.attachments if a.id == attachment_id), None)
    if attachment is None:
        abort(404)
    audit.record(
        "investigation.attachment_downloaded",
        case=found.case,
        investigation_id=found.id,
        attachment_id=attachment.id,
    )
    db.session.commit()
    return attachments.download_response(attachment)


def _refuse(investigation: Investigation, message, forms=None, status=409):
    db.session.rollback()
    _record_read(investigation)
    flash(message, "error")
    return _investigation_page(investigation, forms, status)


def _done(investigation: Investigation, message):
    db.session.commit()
    flash(message, "success")
    return redirect(url_for("sbb.investigation", investigation_id=investigation.id))


NOT_NOW = _l("Deze stap kan nu niet bij dit onderzoek.")


def _button_step(investigation_id: int, name: str, operation, message):
    found = get_investigation_or_404(current_user, investigation_id)
    if not ActionForm().validate_on_submit() or not investigations.can(name, found, current_user):
        return _refuse(found, NOT_NOW)
    operation(found, current_user)
    return _done(found, message)


@bp.route("/onderzoeken/<id:investigation_id>/starten", methods=["POST"])
def start(investigation_id: int):
    """Start investigating: the company's recognition goes to "under investigation"."""
    return _button_step(investigation_id, "start", investigations.start, _("Onderzoek gestart."))


@bp.route("/onderzoeken/<id:investigation_id>/besluit", methods=["POST"])
def decide(investigation_id: int):
    """Record the decision; a measure changes the recognition, the school hears of it."""
    found = get_investigation_or_404(current_user, investigation_id)
    if not investigations.can("decide", found, current_user):
        return _refuse(found, NOT_NOW)
    form = DecideForm()
    refused = _("Het besluit is niet vastgelegd.")
    if not form.validate_on_submit():
        return _refuse(found, refused, {"decide": form}, 422)
    try:
        investigations.decide(
            found,
            current_user,
            form.decision.data,
            form.reasoning.data,
            form.conditions.data,
            form.conditions_due_on.data,
            form.suspended_until.data,
        )
    except investigations.WorkflowError as error:
        error_beside_field(form, error, "decision")
        return _refuse(found, refused, {"decide": form}, 422)
    return _done(found, _("Besluit vastgelegd."))


@bp.route("/onderzoeken/<id:investigation_id>/bezwaar", methods=["POST"])
def objection(investigation_id: int):
    """The company objects to the measure."""
    return _button_step(
        investigation_id, "object", investigations.record_objection, _("Bezwaar vastgelegd.")
    )


@bp.route("/onderzoeken/<id:investigation_id>/bezwaar-besluit", methods=["POST"])
def resolve_objection(investigation_id: int):
    """Decide on the objection; upheld restores the recognition."""
    found = get_investigation_or_404(current_user, investigation_id)
    if not investigations.can("resolve_objection", found, current_user):
        return _refuse(found, NOT_NOW)
    form = ObjectionDecisionForm()
    refused = _("De beslissing op het bezwaar is niet vastgelegd.")
    if not form.validate_on_submit():
        return _refuse(found, refused, {"objection": form}, 422)
    investigations.resolve_objection(
        found, current_user, form.upheld.data == "yes", form.reasoning.data
    )
    return _done(found, _("Beslissing op het bezwaar vastgelegd."))


@bp.route("/onderzoeken/<id:investigation_id>/afsluiten", methods=["POST"])
def close(investigation_id: int):
    return _button_step(investigation_id, "close", investigations.close, _("Onderzoek afgesloten."))


@bp.route("/onderzoeken/<id:investigation_id>/bericht", methods=["POST"])
def message(investigation_id: int):
    """Write to the institution that escalated."""
    found = get_investigation_or_404(current_user, investigation_id)
    if not investigations.can("message", found, current_user):
        return _refuse(found, NOT_NOW)
    form = MessageForm()
    if not form.validate_on_submit():
        return _refuse(found, _("Het bericht is niet verstuurd."), {"message": form}, 422)
    investigations.send_message(found, current_user, form.body.data)
    return _done(found, _("Bericht verstuurd."))


@bp.route("/bedrijven")
def companies_list():
    """The learning-company register, searchable, with the number of reports naming each."""
    form = CompanySearchForm(request.args)
    form.validate()
    text = strip_nul(form.q.data or "").strip()[:100] if not form.q.errors else ""
    query = companies.matching(text) if text else sa.select(Company)
    page = db.paginate(
        query.order_by(Company.name, Company.id),
        page=requested_page(),
        per_page=PER_PAGE,
        error_out=False,
    )
    counts = signals.report_counts([c.id for c in page.items])
    return render_template(
        "sbb/companies.html",
        form=form,
        page=page,
        counts=counts,
        query_text=text,
        threshold=statistics.threshold(),
    )


def _company_page(company: Company, form=None, status=200, merge_error=None):
    history = db.session.scalars(
        sa.select(RecognitionChange)
        .where(RecognitionChange.company_id == company.id)
        .options(selectinload(RecognitionChange.changed_by))
        .order_by(RecognitionChange.id.desc())
    ).all()
    merge_query = strip_nul(request.args.get("doel") or "").strip()[:100]
    candidates = []
    if merge_query and not company.verified:
        candidates = [c for c in companies.search(merge_query) if c.id != company.id and c.verified]
    company_investigations = db.session.scalars(
        investigations_for(current_user)
        .where(Investigation.company_id == company.id)
        .order_by(Investigation.id.desc())
    ).all()
    return render_template(
        "sbb/company.html",
        company=company,
        counts=signals.company_counts(company.id),
        threshold=statistics.threshold(),
        is_signal=signals.is_signal(company.id),
        history=history,
        investigations=company_investigations,
        form=form or OpenInvestigationForm(formdata=None),
        months=signals.SIGNAL_MONTHS,
        merge_query=merge_query,
        merge_candidates=candidates,
        merge_error=merge_error,
    ), status


@bp.route("/bedrijven/<id:company_id>")
def company(company_id: int):
    """One company: recognition and its history, report counts by year and ground."""
    found = db.session.get(Company, company_id) or abort(404)
    return _company_page(found)


@bp.route("/bedrijven/<id:company_id>/onderzoek", methods=["POST"])
def open_investigation(company_id: int):
    """Open SBB's own investigation of a company, typically from a signal."""
    found = db.session.get(Company, company_id) or abort(404)
    form = OpenInvestigationForm()
    if not form.validate_on_submit():
        db.session.rollback()
        flash(_("Het onderzoek is niet geopend."), "error")
        return _company_page(found, form, 422)
    created = investigations.open_from_signal(found, current_user, form.reason.data)
    return _done(created, _("Onderzoek geopend."))


@bp.route("/bedrijven/<id:company_id>/verifieren", methods=["POST"])
def verify_company(company_id: int):
    """Confirm that a company a meldpunt added is a real learning company."""
    found = db.session.get(Company, company_id) or abort(404)
    if found.verified or not ActionForm().validate_on_submit():
        flash(_("Dit bedrijf is al geverifieerd."), "error")
        return _company_page(found, status=409)
    companies.verify(found, current_user)
    db.session.commit()
    flash(_("Bedrijf geverifieerd."), "success")
    return redirect(url_for("sbb.company", company_id=found.id))


@bp.route("/bedrijven/<id:company_id>/samenvoegen", methods=["POST"])
def merge_company(company_id: int):
    """Match a company a meldpunt added to the one in the register it really is."""
    found = db.session.get(Company, company_id) or abort(404)
    target_id = row_id(request.form.get("target_id"))
    target = db.session.get(Company, target_id) if target_id else None
    valid = ActionForm().validate_on_submit()
    if (
        found.verified
        or not valid
        or target is None
        or target.id == found.id
        or not target.verified
    ):
        db.session.rollback()
        return _company_page(
            found,
            status=422,
            merge_error=_("Kies het bedrijf uit het register om mee samen te voegen."),
        )
    companies.merge(found, target, current_user)
    db.session.commit()
    flash(_("Samengevoegd met %(name)s.", name=target.name), "success")
    return redirect(url_for("sbb.company", company_id=target.id))
