"""What a report holds about the student, as a ZIP they download with their code.

The right of access (GDPR art. 15) for someone the meldpunt knows only by a
receipt code: the report's fields, the consents with when and how they were
given, what happened to the report (from the audit trail, without staff
names), the messages between student and meldpunt, what went to the ADV and
SBB, and the files themselves. The handlers' internal notes are not in it; the
JSON says that the student can ask the meldpunt for them.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from datetime import date, datetime

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from .. import attachments, audit, vocab
from ..deadlines import today
from ..models import Attachment, Case, Message, utcnow

JSON_NAME = "melding.json"
README_NAME = "LEESMIJ.txt"
FILES_FOLDER = "bestanden"
FORMAT_VERSION = 1

# The audit events that make up the report's story, as the student reads them.
TIMELINE = {
    "case.submitted": _l("Je melding is binnengekomen"),
    "case.acknowledged": _l("Het meldpunt heeft de ontvangst bevestigd"),
    "case.follow_up_started": _l("Het meldpunt is met je melding aan de slag gegaan"),
    "case.referred": _l("Je melding is doorgestuurd naar het antidiscriminatiebureau"),
    "case.returned_from_referral": _l(
        "Het antidiscriminatiebureau gaf je melding terug aan school"
    ),
    "case.escalated": _l("Je melding is doorgestuurd naar SBB"),
    "case.returned_from_escalation": _l("SBB heeft besloten; je melding is terug bij school"),
    "case.closed": _l("Je melding is afgesloten"),
    "case.reopened": _l("Je melding is heropend"),
    "case.withdrawn": _l("Je hebt je melding ingetrokken"),
    "case.erasure_requested": _l("Je vroeg om verwijdering van je gegevens"),
    "case.personal_data_erased": _l("Je gegevens zijn gewist"),
}


@dataclass
class Export:
    data: bytes
    files: int
    messages: int


def _moment(value: datetime | None) -> str | None:
    """Stored times are UTC; the Z says so."""
    return value.isoformat(timespec="seconds") + "Z" if value else None


def _day(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _label(labels: dict, code) -> str | None:
    if code is None:
        return None
    return str(labels.get(code, code))


def _file_path(attachment: Attachment) -> str:
    return f"{FILES_FOLDER}/{attachment.id}-{attachment.original_name}"


def _report(case: Case) -> dict:
    company = None
    if case.company is not None:
        company = {
            "name": case.company.name,
            "city": case.company.city,
            "kvk": case.company.kvk,
        }
    return {
        "number": case.number,
        "institution": case.institution.name,
        "submitted_at": _moment(case.submitted_at),
        "channel": _label(vocab.CHANNEL_LABELS, case.channel),
        "reporter_role": _label(vocab.REPORTER_ROLES, case.reporter_role),
        "anonymous": case.is_anonymous,
        "name": case.reporter_name,
        "student_number": case.student_number,
        "email": case.email,
        "phone": case.phone,
        "contact_preference": _label(vocab.CONTACT_PREFERENCES, case.contact_preference),
        "email_for_notices": case.notify_email,
        "programme": case.programme,
        "level": _label(vocab.LEVELS, case.level),
        "path": _label(vocab.PATHS, case.path),
        "study_year": case.study_year,
        "what_happened": case.narrative,
        "incident_date": _day(case.incident_date),
        "incident_period": case.incident_period,
        "phase": _label(vocab.PHASES, case.phase),
        "who": _label(vocab.WHO, case.who),
        "form": _label(vocab.FORMS, case.form),
        "grounds": [_label(vocab.GROUNDS, code) for code in case.ground_codes],
        "company_as_you_wrote_it": case.company_text,
        "company_in_the_register": company,
        "wishes": [_label(vocab.WISHES, code) for code in case.wish_codes],
    }


def _consents(case: Case) -> dict:
    return {
        "now": {str(vocab.CONSENT_LABELS[kind]): case.consent(kind) for kind in vocab.ConsentKind},
        "history": [
            {
                "consent": _label(vocab.CONSENT_LABELS, record.kind),
                "given": record.given,
                "at": _moment(record.recorded_at),
                "how": _label(vocab.CONSENT_SOURCE_LABELS, record.source),
            }
            for record in case.consents
        ],
    }


def _status(case: Case) -> dict:
    return {
        "now": _label(vocab.STATUS_STUDENT_TEXT, case.status),
        "outcome": _label(vocab.OUTCOME_LABELS, case.outcome),
        "acknowledgement_due_on": _day(case.ack_due_on),
        "acknowledged_at": _moment(case.acknowledged_at),
        "feedback_due_on": _day(case.feedback_due_on),
        "closed_at": _moment(case.closed_at),
        "erasure_requested_at": _moment(case.erasure_requested_at),
        "personal_data_erased_at": _moment(case.personal_data_erased_at),
    }


def _timeline(case: Case) -> list[dict]:
    """Only the steps of the report, with when; who at the meldpunt did them stays out."""
    return [
        {"at": _moment(event.created_at), "what": str(TIMELINE[audit.canonical(event.action)])}
        for event in audit.events_for_case(case)
        if audit.canonical(event.action) in TIMELINE
    ]


def _messages(case: Case) -> list[dict]:
    return [
        {
            "at": _moment(message.created_at),
            "from": _("jij") if message.kind == Message.FROM_STUDENT else _("meldpunt"),
            "text": message.body,
            "is_feedback": message.is_feedback,
            "files": [_file_path(a) for a in message.attachments],
        }
        for message in case.messages
        if message.kind != Message.NOTE
    ]


def _adv(case: Case) -> list[dict]:
    return [
        {
            "adv": referral.adv.name,
            "region": referral.adv.region,
            "sent_at": _moment(referral.referred_at),
            "your_contact_details_shared": referral.shared_contact,
            "summary_sent": referral.summary,
            "files_sent": [_file_path(a) for a in referral.attachments],
            "answer": _label(vocab.ADV_ANSWER_STUDENT_TEXT, referral.answer),
            "answered_at": _moment(referral.answered_at),
        }
        for referral in case.referrals
    ]


def _sbb(case: Case) -> list[dict]:
    return [
        {
            "sent_at": _moment(investigation.created_at),
            "your_name_shared": investigation.shares_identity,
            "summary_sent": investigation.summary,
            "grounds_sent": [_label(vocab.GROUNDS, g) for g in investigation.ground_codes],
            "phase_sent": _label(vocab.PHASES, investigation.shared_phase),
            "form_sent": _label(vocab.FORMS, investigation.shared_form),
            "incident_month_sent": (
                investigation.shared_incident_month.strftime("%Y-%m")
                if investigation.shared_incident_month
                else None
            ),
            "files_sent": [_file_path(a) for a in investigation.attachments],
            "decision": _label(vocab.DECISION_STUDENT_TEXT, investigation.decision),
            "decided_at": _moment(investigation.decided_at),
        }
        for investigation in case.investigations
    ]


def _files(case: Case) -> list[dict]:
    return [
        {
            "name": a.original_name,
            "file": _file_path(a),
            "bytes": a.size,
            "added_at": _moment(a.created_at),
            "from": _("jij") if a.from_student else _("meldpunt"),
        }
        for a in case.attachments
    ]


def document(case: Case) -> dict:
    """The JSON the ZIP holds."""
    return {
        "about": _(
            "Dit is wat het meldpunt van %(institution)s over jouw melding bewaart, "
            "gedownload op %(date)s.",
            institution=case.institution.name,
            date=today().isoformat(),
        ),
        "internal_notes": _(
            "De interne notities van het meldpunt staan hier niet in. Wil je die ook zien? "
            "Vraag ze op bij het meldpunt."
        ),
        "format_version": FORMAT_VERSION,
        "exported_at": _moment(utcnow()),
        "report": _report(case),
        "consents": _consents(case),
        "status": _status(case),
        "timeline": _timeline(case),
        "messages": _messages(case),
        "antidiscrimination_bureau": _adv(case),
        "sbb": _sbb(case),
        "files": _files(case),
    }


def _readme(case: Case) -> str:
    lines = [
        _("Je melding bij het meldpunt van %(name)s", name=case.institution.name),
        "",
        _("%(file)s bevat alles wat het meldpunt over je melding bewaart:", file=JSON_NAME),
        _("- report: wat je meldde (en je naam en contactgegevens, als je die gaf);"),
        _("- consents: je toestemmingen, met wanneer en hoe je ze gaf;"),
        _("- status en timeline: hoe het met je melding ging;"),
        _("- messages: de berichten tussen jou en het meldpunt;"),
        _("- antidiscrimination_bureau en sbb: wat school doorstuurde, wanneer en waarheen;"),
        _(
            "- files: je bestanden en die van het meldpunt; ze staan in de map %(folder)s.",
            folder=FILES_FOLDER,
        ),
        "",
        _(
            "De interne notities van het meldpunt staan er niet in. Wil je die ook zien? "
            "Vraag ze op bij het meldpunt."
        ),
        "",
    ]
    return "\n".join(lines)


def build(case: Case) -> Export:
    """The ZIP: the JSON, a short explanation, and every file of the case."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        content = document(case)
        archive.writestr(JSON_NAME, json.dumps(content, ensure_ascii=False, indent=2))
        archive.writestr(README_NAME, _readme(case))
        for attachment in case.attachments:
            archive.writestr(_file_path(attachment), attachments.read(attachment))
    return Export(buffer.getvalue(), len(case.attachments), len(content["messages"]))
