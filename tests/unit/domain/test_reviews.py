"""The Assessment Control Service rules: what a vendor's (parsed) message does to an attempt."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest

from exams.domain.attempts import Attempt, AttemptStatus
from exams.domain.errors import Rejected
from exams.domain.reviews import ControlRequest, ControlResult, decide_control, terminate_outcome

S = AttemptStatus
SUB = "5d3f0b7e-8a8b-4c41-9b0e-0a8f2c9d1e77"
INCIDENT = datetime(2024, 5, 1, 10, 45, 33, tzinfo=timezone.utc)


def control(action="terminate", reason_code="1", severity="0.1", incident_time=INCIDENT) -> ControlRequest:
    return ControlRequest(user_sub=SUB, resource_link_id="link-1", attempt_number=1, action=action,
                          incident_time=incident_time, severity=Decimal(severity), reason_code=reason_code)


def attempt(status=S.STARTED, *, started=True):
    return Attempt(id=4, user_id=1, exam_id=2, status=status, allowed_time_limit_mins=30,
                   start_time=datetime(2024, 5, 1, 10, 0, tzinfo=timezone.utc) if started else None)


# -- outcomes -----------------------------------------------------------------------------------
@pytest.mark.parametrize("code, severity, outcome", [
    ("0", "1.0", S.ERROR), ("1", "1.0", S.SECOND_REVIEW_REQUIRED), ("2", "1.0", S.ERROR), ("25", "1.0", S.ERROR),
    ("1", "0.3", S.SECOND_REVIEW_REQUIRED), ("1", "0.26", S.SECOND_REVIEW_REQUIRED), ("1", "0.251", S.SECOND_REVIEW_REQUIRED),
    ("1", "0.25", S.VERIFIED), ("1", "0.1", S.VERIFIED), ("1", "0", S.VERIFIED),
])
def test_a_terminate_moves_the_attempt_to_its_review_outcome_as_edx_exams_decides(code, severity, outcome):
    assert terminate_outcome(code, Decimal(severity)) is outcome
    decision = decide_control(control(reason_code=code, severity=severity), attempt(), [])
    assert decision.move_to is outcome
    assert decision.result.action_type == "terminate"
    assert decision.result.reason_code == code


@pytest.mark.parametrize("status", [S.READY_TO_START, S.SUBMITTED])
@pytest.mark.parametrize("code, severity", [("1", "0.1"), ("1", "0.9"), ("0", "1.0")])
def test_a_terminate_of_an_attempt_that_never_started_is_an_error_never_verifiable(status, code, severity):
    # Issue 13, defect 8: an attempt ended before it started must not reach verified or second review.
    decision = decide_control(control(reason_code=code, severity=severity),
                              attempt(status, started=False), [])
    assert decision.move_to is S.ERROR
    assert decision.result.reason_code == code


def test_the_recorded_severity_has_two_decimal_places():
    assert decide_control(control(severity="0.255"), attempt(), []).result.severity == Decimal("0.26")


@pytest.mark.parametrize("status", sorted(S.__members__.values(), key=lambda s: s.value))
def test_a_vendor_acts_only_on_attempts_from_ready_to_start_to_submitted(status):
    actionable = status in (S.READY_TO_START, S.STARTED, S.READY_TO_SUBMIT, S.TIMED_OUT, S.SUBMITTED)
    for action in ("flag", "terminate"):
        if actionable:
            assert decide_control(control(action=action), attempt(status), []).result is not None
        else:
            with pytest.raises(Rejected) as refused:
                decide_control(control(action=action), attempt(status), [])
            assert refused.value.code == "attempt_not_actionable"


def test_a_flag_records_a_result_and_leaves_the_status_alone():
    decision = decide_control(control(action="flag", reason_code="15", severity="0.7"), attempt(), [])
    assert decision.move_to is None
    assert decision.result == ControlResult(None, 4, "flag", datetime(2024, 5, 1, 10, 45, 33, tzinfo=timezone.utc),
                                            Decimal("0.70"), "15")


def test_a_repeated_identical_terminate_records_nothing_and_moves_nothing_even_after_the_move():
    request = control()
    first = decide_control(request, attempt(), [])
    stored = ControlResult(17, 4, "terminate", first.result.incident_time, first.result.severity, "1")
    again = decide_control(control(severity="0.1", reason_code="1"), attempt(S.VERIFIED), [stored])
    assert again.result is None and again.move_to is None


def test_a_different_terminate_after_the_first_is_refused():
    request = control()
    first = decide_control(request, attempt(), []).result
    stored = ControlResult(17, 4, first.action_type, first.incident_time, first.severity, first.reason_code)
    with pytest.raises(Rejected):
        decide_control(control(severity="0.9"), attempt(S.VERIFIED), [stored])
