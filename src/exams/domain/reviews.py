"""Results a proctoring vendor reports through the Assessment Control Service (ACS).

The HTTP adapter parses a vendor's ACS message into a `ControlRequest` (adapters/http/acs_schema.py),
then `decide_control` says what it does to the attempt: record a result, move the attempt to its
review outcome, or nothing at all when the same message was already applied.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from .attempts import ACS_ACTIONABLE, TAKEN_OUTCOMES, Attempt, AttemptStatus
from .errors import Rejected

# Reason codes a vendor sends with ``terminate``, as edx-exams displays them.
REASON_CODES = {
    "0": "Disconnected from proctoring",
    "1": "Submitted by user",
    "2": "Navigated away from assessment",
    "4": "Left exam when in full screen",
    "5": "Ended screen recording",
    "6": "Uninstalled browser extension",
    "7": "Switched to a proxy during exam",
    "8": "Changed networks during exam",
    "9": "Closed or reloaded the exam tab",
    "12": "Attempted to modify the exam page",
    "13": "Attempted to download a file during exam",
    "14": "The battery died on learner's device",
    "15": "Plugged in additional monitors",
    "16": "Unplugged camera or microphone",
    "21": "Page became unresponsive during exam",
    "24": "Revoked microphone permissions",
    "25": "Revoked camera permissions",
}

TERMINATE = "terminate"
FLAG = "flag"
# The ACS actions this service acts on; pause, resume and update are refused.
SUPPORTED_ACTIONS = (TERMINATE, FLAG)
# The result the instructor dashboard shows as ``proctored_review``: flags are not reviews.
REVIEW_ACTION = TERMINATE

# A terminate with this code is the learner's own, normal submission; any other code is an error.
SUBMITTED_BY_USER = "1"
# Above this suspicion a clean submission still needs a second, human review (edx-exams' threshold).
SEVERITY_THRESHOLD = Decimal("0.25")
SEVERITY_PLACES = Decimal("0.01")



@dataclass(frozen=True)
class ControlResult:
    id: int | None
    attempt_id: int
    action_type: str
    incident_time: datetime
    severity: Decimal
    reason_code: str

    @property
    def reason_text(self) -> str:
        return REASON_CODES.get(self.reason_code, self.reason_code)

    def reports_same_as(self, other: "ControlResult") -> bool:
        """The same vendor report (a replay), whatever the stored ids."""
        return (self.attempt_id, self.action_type, self.incident_time, self.severity, self.reason_code) == \
            (other.attempt_id, other.action_type, other.incident_time, other.severity, other.reason_code)


@dataclass(frozen=True)
class ControlRequest:
    """A vendor's ACS message, validated and normalised.

    ``user_sub`` is the canonical (lower-case, hyphenated) form of the learner's anonymous_user_id.
    For ``flag`` the incident fields are optional: a missing time (None) is the time of receipt
    (`received`), a missing severity is 0 and a missing reason code is empty.
    """

    user_sub: str
    resource_link_id: str
    attempt_number: int
    action: str
    incident_time: datetime | None
    severity: Decimal
    reason_code: str
    reason_msg: str | None = None

    def received(self, now: datetime) -> "ControlRequest":
        """The message as received at ``now``: a flag that named no incident time happened now."""
        return self if self.incident_time is not None else replace(self, incident_time=now)

    def result_for(self, attempt_id: int) -> ControlResult:
        """The assessment control result this message records on the attempt."""
        return ControlResult(id=None, attempt_id=attempt_id, action_type=self.action,
                             incident_time=self.incident_time, severity=self.severity.quantize(SEVERITY_PLACES),
                             reason_code=self.reason_code)


@dataclass(frozen=True)
class ControlDecision:
    """What one ACS message does: a result to record (None for a replay) and a status to move to."""

    result: ControlResult | None
    move_to: AttemptStatus | None


def terminate_outcome(reason_code: str, severity: Decimal) -> AttemptStatus:
    """The review outcome of a terminate, exactly as edx-exams decides it.

    Reason "1" (submitted by the learner) is verified up to a severity of 0.25 and needs a second
    review above it; every other reason code is an error.
    """
    if reason_code != SUBMITTED_BY_USER:
        return AttemptStatus.ERROR
    if severity > SEVERITY_THRESHOLD:
        return AttemptStatus.SECOND_REVIEW_REQUIRED
    return AttemptStatus.VERIFIED


def decide_control(request: ControlRequest, attempt: Attempt, recorded: list[ControlResult]) -> ControlDecision:
    """What the message does to the attempt, given the results already recorded on it.

    A message identical to a recorded one is a replay: nothing is recorded or moved, whatever the
    attempt's status now. Otherwise the attempt must be in a status the vendor may act on (from
    ``ready_to_start`` to ``submitted``); ``flag`` records a result and leaves the status alone;
    ``terminate`` records a result and moves the attempt to its review outcome, except that an attempt
    that never started (no start time) cannot be verified or sent to a second review: it becomes ``error``.
    """
    result = request.result_for(attempt.id)
    if any(result.reports_same_as(r) for r in recorded):
        return ControlDecision(result=None, move_to=None)
    if attempt.status not in ACS_ACTIONABLE:
        raise Rejected(f"Attempt with attempt_id={attempt.id} is {attempt.status.value}: the proctoring "
                       f"service cannot {request.action} it.", code="attempt_not_actionable")
    if request.action == FLAG:
        return ControlDecision(result=result, move_to=None)
    outcome = terminate_outcome(request.reason_code, request.severity)
    if outcome in TAKEN_OUTCOMES and attempt.never_started:
        outcome = AttemptStatus.ERROR
    return ControlDecision(result=result, move_to=outcome)
