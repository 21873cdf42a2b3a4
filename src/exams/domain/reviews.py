"""Results a proctoring vendor reports through the Assessment Control Service (ACS).

A vendor's ACS message is parsed into a `ControlRequest` (every malformed value is a `Rejected`
naming the field), then `decide_control` says what it does to the attempt: record a result,
move the attempt to its review outcome, or nothing at all when the same message was already applied.
"""

from __future__ import annotations

import math
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation

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

MAX_REASON_CODE = 64
MAX_RESOURCE_LINK_ID = 255
MAX_ATTEMPT_NUMBER = 2**31 - 1
_DIGITS = re.compile(r"[0-9]{1,10}")


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
    For ``flag`` the incident fields are optional: a missing time is the time of receipt, a missing
    severity is 0 and a missing reason code is empty.
    """

    user_sub: str
    resource_link_id: str
    attempt_number: int
    action: str
    incident_time: datetime
    severity: Decimal
    reason_code: str
    reason_msg: str | None = None

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


def _missing(name: str) -> Rejected:
    # The wording of edx-exams, which vendors have seen in their logs.
    return Rejected(f"ERROR: required parameter '{name}' was not found.", code="missing_parameter")


def _invalid(name: str, why: str) -> Rejected:
    return Rejected(f"Invalid {name}: {why}", code=f"invalid_{name.replace('.', '_')}")


def parse_user_sub(value: object) -> str:
    """The canonical form of a learner's LTI ``sub`` (a UUID in any of its usual spellings)."""
    if value is None:
        raise _missing("user.sub")
    if not isinstance(value, str) or len(value) > 45:
        raise _invalid("user.sub", "expected a UUID string.")
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise _invalid("user.sub", "expected a UUID string.") from None


def parse_attempt_number(value: object) -> int:
    """A positive attempt number given as a JSON number or a string of digits."""
    if value is None:
        raise _missing("attempt_number")
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        number = int(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    else:
        raise _invalid("attempt_number", "expected a positive whole number.")
    if not 1 <= number <= MAX_ATTEMPT_NUMBER:
        raise _invalid("attempt_number", "expected a positive whole number.")
    return number


def parse_reason_code(value: object) -> str:
    """A vendor reason code: a string, or a whole number read as its decimal string (1 is "1")."""
    if isinstance(value, str):
        code = value
    elif isinstance(value, int) and not isinstance(value, bool):
        code = str(value)
    elif isinstance(value, float) and value.is_integer():
        code = str(int(value))
    else:
        raise _invalid("reason_code", "expected a string or a whole number.")
    if not code or len(code) > MAX_REASON_CODE:
        raise _invalid("reason_code", f"expected 1 to {MAX_REASON_CODE} characters.")
    return code


def parse_severity(value: object) -> Decimal:
    """An incident severity: a finite number from 0 to 1, given as a JSON number or a string."""
    if isinstance(value, str) and len(value) <= 32:
        try:
            severity = Decimal(value.strip())
        except InvalidOperation:
            raise _invalid("incident_severity", "expected a number from 0 to 1.") from None
    elif isinstance(value, int) and not isinstance(value, bool):
        severity = Decimal(value)
    elif isinstance(value, float) and math.isfinite(value):
        severity = Decimal(repr(value))
    else:
        raise _invalid("incident_severity", "expected a number from 0 to 1.")
    if not severity.is_finite() or not Decimal(0) <= severity <= Decimal(1):
        raise _invalid("incident_severity", "expected a number from 0 to 1.")
    return severity


def parse_incident_time(value: object) -> datetime:
    """An ISO 8601 date-time (UTC when it names no offset), as an aware UTC datetime."""
    if not isinstance(value, str) or len(value) > 64:
        raise _invalid("incident_time", "expected an ISO 8601 date-time.")
    try:
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return moment.astimezone(timezone.utc)
    except (ValueError, OverflowError):
        raise _invalid("incident_time", "expected an ISO 8601 date-time.") from None


def _object(body: dict, name: str) -> dict:
    value = body.get(name)
    if value is None:
        raise _missing(name)
    if not isinstance(value, dict):
        raise _invalid(name, "expected an object.")
    return value


def parse_control_request(body: object, *, received_at: datetime, issuer: str | None = None) -> ControlRequest:
    """Validate an ACS message body (lti-ap ``control`` JSON) into a `ControlRequest`.

    ``user.iss`` is optional (the spec's examples dropped it); when present it must be ``issuer``.
    ``reason_code`` and ``attempt_number`` may be strings or numbers; ``incident_severity`` must be a
    finite number in [0, 1] (a number or a numeric string); ``incident_time`` ISO 8601. ``terminate``
    needs all three incident fields. Raises `Rejected` naming the first bad field.
    """
    if not isinstance(body, dict):
        raise Rejected("Expected a JSON object.", code="invalid_body")
    user = _object(body, "user")
    sub = parse_user_sub(user.get("sub"))
    if "iss" in user and issuer is not None and user["iss"] != issuer:
        raise _invalid("user.iss", "not this platform's issuer.")
    link = _object(body, "resource_link")
    link_id = link.get("id")
    if link_id is None:
        raise _missing("resource_link.id")
    if not isinstance(link_id, str) or not link_id or len(link_id) > MAX_RESOURCE_LINK_ID:
        raise _invalid("resource_link.id", "expected a non-empty string.")
    attempt_number = parse_attempt_number(body.get("attempt_number"))
    action = body.get("action")
    if action is None:
        raise _missing("action")
    if action not in SUPPORTED_ACTIONS:
        raise Rejected(f"Unsupported action; this platform accepts {' and '.join(SUPPORTED_ACTIONS)}.",
                       code="unsupported_action")
    if action == TERMINATE:
        for name in ("reason_code", "incident_time", "incident_severity"):
            if body.get(name) is None:
                raise _missing(name)
    raw_code, raw_time, raw_severity = (body.get(k) for k in ("reason_code", "incident_time", "incident_severity"))
    reason_msg = body.get("reason_msg")
    return ControlRequest(
        user_sub=sub, resource_link_id=link_id, attempt_number=attempt_number, action=action,
        incident_time=received_at if raw_time is None else parse_incident_time(raw_time),
        severity=Decimal(0) if raw_severity is None else parse_severity(raw_severity),
        reason_code="" if raw_code is None else parse_reason_code(raw_code),
        reason_msg=reason_msg if isinstance(reason_msg, str) else None)


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
