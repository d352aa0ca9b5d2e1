"""The case workflow: states, the transition table, guards and effects.

This package is the only code that writes `Case.status`. Every operation
checks its guard, changes the case, writes one audit event and queues the
mail it causes, all in the caller's transaction; the view commits once.
`allowed_actions` drives both the buttons a handler sees and the refusal of
anything else.

- `states`: the state table, the actions that keep the status, and the guards;
- `operations`: opening a case, its transitions, messages, notes and erasure;
- `consent`: the student's consents;
- `referral`: the referral to an ADV and the escalation to SBB.
"""

from .consent import record_consent, record_initial_consents
from .operations import (
    acknowledge,
    add_note,
    assign,
    close,
    erase,
    link_company,
    new_case_number,
    open_case,
    reopen,
    request_erasure,
    send_message,
    set_notice_email,
    start_follow_up,
    student_message,
    withdraw,
)
from .referral import (
    can_share_contact,
    escalate,
    record_adv_answer,
    refer,
    return_from_escalation,
)
from .states import (
    CASE_ACTION_BY,
    CASE_ACTIONS,
    CONSEQUENTIAL,
    REPORTER,
    SBB,
    TRANSITIONS,
    Transition,
    WorkflowError,
    allowed_actions,
    can,
    close_outcomes,
    missing_for,
)

__all__ = [
    "CASE_ACTIONS",
    "CASE_ACTION_BY",
    "CONSEQUENTIAL",
    "REPORTER",
    "SBB",
    "TRANSITIONS",
    "Transition",
    "WorkflowError",
    "acknowledge",
    "add_note",
    "allowed_actions",
    "assign",
    "can",
    "can_share_contact",
    "close",
    "close_outcomes",
    "erase",
    "escalate",
    "link_company",
    "missing_for",
    "new_case_number",
    "open_case",
    "record_adv_answer",
    "record_consent",
    "record_initial_consents",
    "refer",
    "reopen",
    "request_erasure",
    "return_from_escalation",
    "send_message",
    "set_notice_email",
    "start_follow_up",
    "student_message",
    "withdraw",
]
