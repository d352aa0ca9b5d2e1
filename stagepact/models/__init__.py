"""The data model, by domain. Personal fields use `EncryptedText`; status only changes
in `stagepact.workflow`. Relationships name their classes as strings, so the modules
never import each other at run time; importing this package maps them all.

- `accounts`: ADVs, institutions, staff accounts and what signing in needs;
- `case`: a report with its grounds, wishes, messages, consents, files and referrals;
- `sbb`: the company register, recognition history and SBB's investigations;
- `trail`: the audit trail; `mail`: the outbox; `statistics`: the monthly rollup;
- `jobs`: the scheduled jobs' last runs; `installation`: what its secrets must match.
"""

from .accounts import AccountToken, Adv, ApiToken, Institution, LoginFailure, RecoveryCode, User
from .base import month_number, utcnow, whole_days
from .case import (
    Attachment,
    AttachmentContent,
    Case,
    CaseConsent,
    CaseGround,
    CaseWish,
    FollowUpSession,
    Message,
    Referral,
    Submission,
    deadline_results,
    referral_attachment,
)
from .installation import SecretCheck
from .jobs import JobRun
from .mail import OutboxMail, outbox_attachment
from .sbb import (
    Company,
    Investigation,
    InvestigationMessage,
    RecognitionChange,
    investigation_attachment,
)
from .statistics import RollupRow, StatisticsPublication
from .trail import AuditEvent, AuditHead

__all__ = [
    "AccountToken",
    "Adv",
    "ApiToken",
    "Attachment",
    "AttachmentContent",
    "AuditEvent",
    "AuditHead",
    "Case",
    "CaseConsent",
    "CaseGround",
    "CaseWish",
    "Company",
    "FollowUpSession",
    "Institution",
    "Investigation",
    "InvestigationMessage",
    "JobRun",
    "LoginFailure",
    "Message",
    "OutboxMail",
    "RecognitionChange",
    "RecoveryCode",
    "Referral",
    "RollupRow",
    "SecretCheck",
    "StatisticsPublication",
    "Submission",
    "User",
    "deadline_results",
    "investigation_attachment",
    "month_number",
    "outbox_attachment",
    "referral_attachment",
    "utcnow",
    "whole_days",
]
