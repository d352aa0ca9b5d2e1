"""The fixed vocabularies of a report and a case, with their interface labels.

Codes are stored; labels are shown. DESIGN.md "What a report records" is the
source; statistics group by these codes.
"""

from __future__ import annotations

from enum import StrEnum

from flask_babel import lazy_gettext as _l
from wtforms import SelectChoice


class Status(StrEnum):
    NEW = "new"
    TRIAGE = "triage"
    FOLLOW_UP = "follow_up"
    REFERRED = "referred"
    ESCALATED = "escalated"
    CLOSED = "closed"


OPEN_STATUSES = (Status.NEW, Status.TRIAGE, Status.FOLLOW_UP, Status.REFERRED, Status.ESCALATED)
# Open and acknowledged: the statuses in which the student's feedback is awaited.
FEEDBACK_STATUSES = tuple(s for s in OPEN_STATUSES if s != Status.NEW)

STATUS_LABELS = {
    Status.NEW: _l("Nieuw"),
    Status.TRIAGE: _l("Ontvangen"),
    Status.FOLLOW_UP: _l("In behandeling"),
    Status.REFERRED: _l("Doorverwezen naar ADV"),
    Status.ESCALATED: _l("Doorgezet naar SBB"),
    Status.CLOSED: _l("Afgesloten"),
}

# What the student reads about their own case.
STATUS_STUDENT_TEXT = {
    Status.NEW: _l("Je melding is binnen. Nog niemand heeft hem bekeken."),
    Status.TRIAGE: _l("Je melding is ontvangen. Iemand van het meldpunt kijkt ernaar."),
    Status.FOLLOW_UP: _l("Het meldpunt is met je melding bezig."),
    Status.REFERRED: _l(
        "Je melding is met jouw toestemming doorgestuurd naar het antidiscriminatiebureau."
    ),
    Status.ESCALATED: _l(
        "Je melding is met jouw toestemming doorgestuurd naar SBB. SBB onderzoekt het leerbedrijf."
    ),
    Status.CLOSED: _l("Je melding is afgesloten."),
}


class Channel(StrEnum):
    WEB = "web"
    PHONE = "phone"
    VISIT = "visit"
    MAIL = "mail"


CHANNEL_LABELS = {
    Channel.WEB: _l("Webformulier"),
    Channel.PHONE: _l("Telefoon"),
    Channel.VISIT: _l("Bezoek"),
    Channel.MAIL: _l("Mail of brief"),
}

REPORTER_ROLES = {
    "self": _l("Het is mij overkomen"),
    "witness": _l("Ik heb het gezien of gehoord (getuige)"),
}

CONTACT_PREFERENCES = {
    "none": _l("Geen contact, alleen via deze website"),
    "email": _l("Per e-mail"),
    "phone": _l("Per telefoon"),
    "in_person": _l("Een gesprek op school"),
}

LEVELS = {"1": _l("Niveau 1"), "2": _l("Niveau 2"), "3": _l("Niveau 3"), "4": _l("Niveau 4")}

PATHS = {
    "bol": _l("BOL (vooral op school)"),
    "bbl": _l("BBL (vooral werken)"),
}

PHASES = {
    "application": _l("Bij het solliciteren of de selectie"),
    "internship": _l("Tijdens de stage"),
    "school": _l("Op school (bijvoorbeeld: school ging mee in een verzoek van het bedrijf)"),
    "other": _l("Anders"),
}

WHO = {
    "company": _l("Het bedrijf (leiding)"),
    "trainer": _l("De praktijkopleider"),
    "colleague": _l("Een collega"),
    "client": _l("Een klant of cliënt"),
    "school_staff": _l("Iemand van school"),
    "other": _l("Iemand anders"),
}

FORMS = {
    "refused": _l("Niet aangenomen of niet uitgenodigd"),
    "remark": _l("Een opmerking of grap"),
    "unequal": _l("Anders behandeld of andere taken"),
    "harassment": _l("Lastiggevallen of bedreigd"),
    "sexual": _l("Seksueel lastiggevallen"),
    "violence": _l("Geweld"),
    "ended": _l("Ontslagen of stage eerder gestopt"),
    "other": _l("Anders"),
}

GROUNDS = {
    "origin": _l("Afkomst, huidskleur of etniciteit"),
    "religion": _l("Geloof of levensovertuiging (bijvoorbeeld een hoofddoek)"),
    "disability": _l("Handicap of chronische ziekte"),
    "gender": _l("Geslacht of genderidentiteit"),
    "orientation": _l("Seksuele oriëntatie"),
    "age": _l("Leeftijd"),
    "nationality": _l("Nationaliteit"),
    "pregnancy": _l("Zwangerschap"),
    "education_level": _l("Opleidingsniveau (mbo)"),
    "appearance": _l("Uiterlijk"),
    "name": _l("Naam (voor- of achternaam)"),
    "language": _l("Taal of accent"),
    "other": _l("Iets anders"),
    "unknown": _l("Weet ik niet"),
}

WISHES = {
    "register": _l("Alleen dat het bekend is bij school"),
    "conversation": _l("Een gesprek"),
    "new_placement": _l("Hulp bij het vinden van een andere stageplek"),
    "address_company": _l("Dat school het bedrijf aanspreekt"),
    "adv": _l("Dat mijn melding naar het antidiscriminatiebureau gaat"),
    "sbb": _l("Dat SBB actie onderneemt tegen het bedrijf"),
}


class Outcome(StrEnum):
    RESOLVED = "resolved"
    COMPANY_ADDRESSED = "company_addressed"
    ADV_CLOSED = "adv_closed"
    SBB_MEASURE = "sbb_measure"
    NO_ACTION_WANTED = "no_action_wanted"
    NOT_SUBSTANTIATED = "not_substantiated"
    OUT_OF_SCOPE = "out_of_scope"
    WITHDRAWN = "withdrawn"
    DUPLICATE = "duplicate"


OUTCOME_LABELS = {
    Outcome.RESOLVED: _l("Opgelost met de student"),
    Outcome.COMPANY_ADDRESSED: _l("Bedrijf aangesproken door school"),
    Outcome.ADV_CLOSED: _l("Doorverwezen en afgesloten door ADV"),
    Outcome.SBB_MEASURE: _l("Maatregel door SBB"),
    Outcome.NO_ACTION_WANTED: _l("Student wil geen verdere actie"),
    Outcome.NOT_SUBSTANTIATED: _l("Niet aannemelijk geworden"),
    Outcome.OUT_OF_SCOPE: _l("Valt buiten het meldpunt"),
    Outcome.WITHDRAWN: _l("Ingetrokken door de student"),
    Outcome.DUPLICATE: _l("Dubbele melding"),
}


class Role(StrEnum):
    HANDLER = "handler"
    INSTITUTION_ADMIN = "institution_admin"
    SBB_REVIEWER = "sbb_reviewer"
    MONITOR = "monitor"
    PLATFORM_ADMIN = "platform_admin"


ROLE_LABELS = {
    Role.HANDLER: _l("Meldpuntfunctionaris"),
    Role.INSTITUTION_ADMIN: _l("Beheerder instelling"),
    Role.SBB_REVIEWER: _l("Beoordelaar SBB"),
    Role.MONITOR: _l("Monitor"),
    Role.PLATFORM_ADMIN: _l("Platformbeheerder"),
}

INSTITUTION_ROLES = (Role.HANDLER, Role.INSTITUTION_ADMIN)


def choices(labels: dict) -> list[SelectChoice]:
    """Form choices from a vocabulary: the code is sent, the label is shown."""
    return [SelectChoice(str(code), label) for code, label in labels.items()]


# --- Consent ------------------------------------------------------------------------


class ConsentKind(StrEnum):
    CONTACT = "contact"
    ADV = "adv"
    SBB = "sbb"
    SBB_IDENTITY = "sbb_identity"


CONSENT_LABELS = {
    ConsentKind.CONTACT: _l("Het meldpunt mag contact opnemen"),
    ConsentKind.ADV: _l("Doorsturen naar het antidiscriminatiebureau (ADV)"),
    ConsentKind.SBB: _l("Doorzetten naar SBB, zonder naam"),
    ConsentKind.SBB_IDENTITY: _l("SBB mag weten wie de student is"),
}


class ConsentSource(StrEnum):
    FORM = "form"
    MESSAGE = "message"
    HANDLER = "handler"


CONSENT_SOURCE_LABELS = {
    ConsentSource.FORM: _l("In het meldformulier"),
    ConsentSource.MESSAGE: _l("In een bericht"),
    ConsentSource.HANDLER: _l("Aan de meldpuntfunctionaris (gesprek of telefoon)"),
}


# --- ADV referral -------------------------------------------------------------------


class AdvAnswer(StrEnum):
    TAKEN_ON = "taken_on"
    DECLINED = "declined"
    CLOSED = "closed"


ADV_ANSWER_LABELS = {
    AdvAnswer.TAKEN_ON: _l("Het ADV heeft de melding in behandeling genomen"),
    AdvAnswer.DECLINED: _l("Het ADV neemt de melding niet in behandeling"),
    AdvAnswer.CLOSED: _l("Het ADV heeft de melding afgesloten"),
}


# --- SBB: investigations and recognition ---------------------------------------------


class InvestigationStatus(StrEnum):
    RECEIVED = "received"
    INVESTIGATING = "investigating"
    DECIDED = "decided"
    OBJECTION = "objection"
    CLOSED = "closed"


INVESTIGATION_STATUS_LABELS = {
    InvestigationStatus.RECEIVED: _l("Ontvangen"),
    InvestigationStatus.INVESTIGATING: _l("In onderzoek"),
    InvestigationStatus.DECIDED: _l("Besluit genomen"),
    InvestigationStatus.OBJECTION: _l("Bezwaar van het bedrijf"),
    InvestigationStatus.CLOSED: _l("Afgesloten"),
}

OPEN_INVESTIGATION_STATUSES = (
    InvestigationStatus.RECEIVED,
    InvestigationStatus.INVESTIGATING,
    InvestigationStatus.DECIDED,
    InvestigationStatus.OBJECTION,
)


class InvestigationOrigin(StrEnum):
    ESCALATION = "escalation"
    SIGNAL = "signal"


INVESTIGATION_ORIGIN_LABELS = {
    InvestigationOrigin.ESCALATION: _l("Doorgezet door een instelling"),
    InvestigationOrigin.SIGNAL: _l("Signaal: meldingen van meerdere instellingen"),
}


class Recognition(StrEnum):
    RECOGNISED = "recognised"
    UNDER_INVESTIGATION = "under_investigation"
    UNDER_CONDITIONS = "under_conditions"
    SUSPENDED = "suspended"
    REVOKED = "revoked"


RECOGNITION_LABELS = {
    Recognition.RECOGNISED: _l("Erkend"),
    Recognition.UNDER_INVESTIGATION: _l("In onderzoek"),
    Recognition.UNDER_CONDITIONS: _l("Erkend onder voorwaarden"),
    Recognition.SUSPENDED: _l("Geschorst"),
    Recognition.REVOKED: _l("Erkenning ingetrokken"),
}


class Decision(StrEnum):
    NO_ACTION = "no_action"
    CONVERSATION = "conversation"
    IMPROVEMENT = "improvement"
    WARNING = "warning"
    SUSPENSION = "suspension"
    REVOCATION = "revocation"


DECISION_LABELS = {
    Decision.NO_ACTION: _l("Ongegrond of geen actie"),
    Decision.CONVERSATION: _l("Gesprek gevoerd met het bedrijf"),
    Decision.IMPROVEMENT: _l("Verbeterafspraken met voorwaarden"),
    Decision.WARNING: _l("Waarschuwing"),
    Decision.SUSPENSION: _l("Schorsing: tijdelijk geen nieuwe studenten"),
    Decision.REVOCATION: _l("Intrekking van de erkenning"),
}

# What each decision does to the company's recognition; None restores the status
# the company had before the investigation.
DECISION_RECOGNITION: dict[Decision, Recognition | None] = {
    Decision.NO_ACTION: None,
    Decision.CONVERSATION: None,
    Decision.IMPROVEMENT: Recognition.UNDER_CONDITIONS,
    Decision.WARNING: Recognition.UNDER_CONDITIONS,
    Decision.SUSPENSION: Recognition.SUSPENDED,
    Decision.REVOCATION: Recognition.REVOKED,
}

MEASURES = frozenset(d for d, r in DECISION_RECOGNITION.items() if r is not None)

# What the student reads about SBB's decision, through their school.
DECISION_STUDENT_TEXT = {
    Decision.NO_ACTION: _l("SBB heeft onderzoek gedaan en neemt geen maatregel."),
    Decision.CONVERSATION: _l("SBB heeft een gesprek gevoerd met het leerbedrijf."),
    Decision.IMPROVEMENT: _l("SBB heeft verbeterafspraken gemaakt met het leerbedrijf."),
    Decision.WARNING: _l("SBB heeft het leerbedrijf een waarschuwing gegeven."),
    Decision.SUSPENSION: _l("SBB heeft het leerbedrijf tijdelijk geschorst."),
    Decision.REVOCATION: _l("SBB heeft de erkenning van het leerbedrijf ingetrokken."),
}

# What the student reads about the ADV's answer.
ADV_ANSWER_STUDENT_TEXT = {
    AdvAnswer.TAKEN_ON: _l("Het antidiscriminatiebureau helpt je verder met je melding."),
    AdvAnswer.DECLINED: _l(
        "Het antidiscriminatiebureau neemt je melding niet in behandeling. School gaat verder met je melding."
    ),
    AdvAnswer.CLOSED: _l(
        "Het antidiscriminatiebureau heeft je melding afgesloten. School sluit je melding nu met je af."
    ),
}
