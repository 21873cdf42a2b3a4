"""The wire form of an LTI Assessment Control Service message (lti-ap ``control`` JSON).

`parse_control_request` validates a vendor's message body into the domain's `ControlRequest`; every
malformed value is a `Rejected` naming the field, in the words vendors know from edx-exams.
"""

from __future__ import annotations

import math
import re
import uuid
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation

from exams.domain.errors import Rejected
from exams.domain.reviews import SUPPORTED_ACTIONS, TERMINATE, ControlRequest

MAX_REASON_CODE = 64
MAX_RESOURCE_LINK_ID = 255
MAX_ATTEMPT_NUMBER = 2**31 - 1
_DIGITS = re.compile(r"[0-9]{1,10}")


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


def parse_control_request(body: object, *, issuer: str | None = None) -> ControlRequest:
    """Validate an ACS message body (lti-ap ``control`` JSON) into a `ControlRequest`.

    ``user.iss`` is optional (the spec's examples dropped it); when present it must be ``issuer``.
    ``reason_code`` and ``attempt_number`` may be strings or numbers; ``incident_severity`` must be a
    finite number in [0, 1] (a number or a numeric string); ``incident_time`` ISO 8601. ``terminate``
    needs all three incident fields (a flag without a time has ``incident_time`` None: the service
takes the time of receipt). Raises `Rejected` naming the first bad field.
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
        incident_time=None if raw_time is None else parse_incident_time(raw_time),
        severity=Decimal(0) if raw_severity is None else parse_severity(raw_severity),
        reason_code="" if raw_code is None else parse_reason_code(raw_code),
        reason_msg=reason_msg if isinstance(reason_msg, str) else None)
