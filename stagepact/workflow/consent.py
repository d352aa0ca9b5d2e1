"""The student's consents: those ticked in the report, and those the handler records later."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from .. import audit, retention
from ..extensions import db
from ..models import (
    Case,
    CaseConsent,
    Message,
    User,
)
from ..vocab import (
    ConsentKind,
    ConsentSource,
)
from .states import (
    WorkflowError,
    _require,
)

# --- Consent --------------------------------------------------------------------------


def record_initial_consents(case: Case, entered_by: User | None) -> None:
    """The consents ticked in the report, each as its own record."""
    source = ConsentSource.FORM if entered_by is None else ConsentSource.HANDLER
    for kind in ConsentKind:
        if case.consent(kind):
            db.session.add(
                CaseConsent(case=case, kind=kind, given=True, source=source, recorded_by=entered_by)
            )


def record_consent(
    case: Case,
    user: User,
    kind: ConsentKind | str,
    given: bool,
    source: ConsentSource | str,
    message: Message | None = None,
) -> CaseConsent:
    """The handler records a consent the student gave or withdrew later."""
    _require("consent", case, user)
    kind, source = ConsentKind(kind), ConsentSource(source)
    if source == ConsentSource.FORM:
        raise WorkflowError(_l("Kies hoe de student dit liet weten."), "source")
    if source == ConsentSource.MESSAGE and (
        message is None or message.case_id != case.id or message.kind != Message.FROM_STUDENT
    ):
        raise WorkflowError(_l("Kies het bericht van de student."), "message_id")
    if kind == ConsentKind.SBB_IDENTITY and given:
        if case.is_anonymous:
            raise WorkflowError(
                _l("De student meldde anoniem; SBB kan de naam dus niet krijgen."), "kind"
            )
        if not case.consent_sbb:
            raise WorkflowError(_l("Leg eerst vast dat de melding naar SBB mag."), "kind")
    if case.consent(kind) == given:
        raise WorkflowError(
            _l("Dit staat al zo vastgelegd.") if given else _l("Deze toestemming was er niet."),
            "given",
        )
    if kind == ConsentKind.SBB and not given and case.consent_sbb_identity:
        # Without the report going to SBB, the name cannot go either (withdrawn first,
        # so that the case is consistent at every flush).
        _add_consent(case, user, ConsentKind.SBB_IDENTITY, False, source, message)
    record = _add_consent(case, user, kind, given, source, message)
    if not case.consent_sbb_identity:
        retention.remove_sbb_identity(case, user)
    return record


def _add_consent(case, user, kind, given, source, message) -> CaseConsent:
    setattr(case, f"consent_{kind}", given)
    record = CaseConsent(
        case=case,
        kind=kind,
        given=given,
        source=source,
        message_id=message.id if message is not None else None,
        recorded_by=user,
    )
    db.session.add(record)
    db.session.flush()
    audit.record(
        "case.consent_recorded",
        case=case,
        actor=user,
        kind=str(kind),
        given=given,
        source=str(source),
        consent_id=record.id,
    )
    return record
