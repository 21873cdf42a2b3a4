"""The Assessment Control Service rules: parsing a vendor's message and what it does to an attempt."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest

from exams.domain.attempts import Attempt, AttemptStatus
from exams.domain.errors import Rejected
from exams.domain.reviews import (ControlResult, decide_control, parse_control_request, parse_incident_time,
                                  parse_severity, terminate_outcome)

S = AttemptStatus
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
SUB = "5d3f0b7e-8a8b-4c41-9b0e-0a8f2c9d1e77"
ISSUER = "https://exams.example.org"


def body(**overrides):
    message = {"user": {"sub": SUB}, "resource_link": {"id": "link-1"}, "attempt_number": 1,
               "action": "terminate", "incident_time": "2024-05-01T10:45:33Z", "incident_severity": "0.1",
               "reason_code": "1"}
    message.update(overrides)
    return {k: v for k, v in message.items() if v is not ...}


def parse(message):
    return parse_control_request(message, received_at=NOW, issuer=ISSUER)


def rejection(message) -> Rejected:
    with pytest.raises(Rejected) as caught:
        parse(message)
    return caught.value


def attempt(status=S.STARTED, *, started=True):
    return Attempt(id=4, user_id=1, exam_id=2, status=status, allowed_time_limit_mins=30,
                   start_time=datetime(2024, 5, 1, 10, 0, tzinfo=timezone.utc) if started else None)


# -- parsing ------------------------------------------------------------------------------------
def test_a_well_formed_terminate_is_parsed_into_normalised_values():
    request = parse(body(user={"sub": SUB.upper(), "iss": ISSUER}, reason_msg="done"))
    assert request.user_sub == SUB
    assert request.resource_link_id == "link-1"
    assert request.attempt_number == 1
    assert request.action == "terminate"
    assert request.incident_time == datetime(2024, 5, 1, 10, 45, 33, tzinfo=timezone.utc)
    assert request.severity == Decimal("0.1")
    assert request.reason_code == "1"
    assert request.reason_msg == "done"


@pytest.mark.parametrize("given, expected", [(1, "1"), ("1", "1"), (1.0, "1"), (25, "25"), ("X-7", "X-7")])
def test_reason_codes_are_accepted_as_strings_or_whole_numbers(given, expected):
    assert parse(body(reason_code=given)).reason_code == expected


@pytest.mark.parametrize("given", [1, "1", 1.0])
def test_attempt_numbers_are_accepted_as_numbers_or_digit_strings(given):
    assert parse(body(attempt_number=given)).attempt_number == 1


@pytest.mark.parametrize("given", ["abc", 0, -1, "-1", " 1", "1.5", 1.5, True, 2**31, "99999999999", [1], {}])
def test_malformed_attempt_numbers_are_rejected(given):
    assert rejection(body(attempt_number=given)).code == "invalid_attempt_number"


@pytest.mark.parametrize("given, expected", [
    (0, "0"), (1, "1"), (0.25, "0.25"), ("0.1", "0.1"), (" 0.9 ", "0.9"), ("1.00", "1.00"), ("0", "0")])
def test_severities_are_finite_numbers_from_zero_to_one_as_numbers_or_strings(given, expected):
    assert parse_severity(given) == Decimal(expected)


@pytest.mark.parametrize("given", ["NaN", "nan", "sNaN", "Infinity", "-Infinity", "1e309", "-1", "2", "abc", "",
                                   -1, 2, 1.0000001, float("nan"), float("inf"), 10**400, True, [0.1],
                                   "0." + "1" * 40])
def test_severities_that_are_not_finite_numbers_from_zero_to_one_are_rejected(given):
    assert rejection(body(incident_severity=given)).code == "invalid_incident_severity"


@pytest.mark.parametrize("given, expected", [
    ("2018-02-01T10:45:33Z", datetime(2018, 2, 1, 10, 45, 33, tzinfo=timezone.utc)),
    ("2018-02-01T12:45:33+02:00", datetime(2018, 2, 1, 10, 45, 33, tzinfo=timezone.utc)),
    ("2018-02-01T10:45:33.250", datetime(2018, 2, 1, 10, 45, 33, 250000, tzinfo=timezone.utc)),
])
def test_incident_times_are_iso_8601_and_stored_in_utc(given, expected):
    assert parse_incident_time(given) == expected


@pytest.mark.parametrize("given", ["yesterday", "", "2018-13-01T00:00:00Z", "0001-01-01T00:00:00+01:00", 1517481933,
                                   ["2018-02-01"], "2018-02-01T10:45:33Z" + " " * 60])
def test_incident_times_that_are_not_iso_8601_are_rejected(given):
    assert rejection(body(incident_time=given)).code == "invalid_incident_time"


@pytest.mark.parametrize("given", ["not-a-uuid", "", 42, ["x"], "x" * 50, "5d3f0b7e-8a8b-4c41-9b0e-0a8f2c9d1e7"])
def test_a_sub_that_is_not_a_uuid_is_rejected(given):
    assert rejection(body(user={"sub": given})).code == "invalid_user_sub"


def test_a_user_iss_other_than_this_platform_is_rejected_and_an_absent_one_is_fine():
    assert rejection(body(user={"sub": SUB, "iss": "https://other.example"})).code == "invalid_user_iss"
    assert parse(body(user={"sub": SUB})).user_sub == SUB


@pytest.mark.parametrize("missing, name", [
    ({"user": ...}, "user"), ({"user": {}}, "user.sub"), ({"resource_link": ...}, "resource_link"),
    ({"resource_link": {"title": "x"}}, "resource_link.id"), ({"attempt_number": ...}, "attempt_number"),
    ({"action": ...}, "action"), ({"reason_code": ...}, "reason_code"), ({"incident_time": ...}, "incident_time"),
    ({"incident_severity": ...}, "incident_severity"), ({"incident_severity": None}, "incident_severity"),
])
def test_each_missing_required_parameter_is_named_in_the_refusal(missing, name):
    refused = rejection(body(**missing))
    assert refused.code == "missing_parameter"
    assert refused.detail == f"ERROR: required parameter '{name}' was not found."


@pytest.mark.parametrize("action", ["pause", "resume", "update", "TERMINATE", "", 1, ["terminate"]])
def test_actions_other_than_terminate_and_flag_are_refused(action):
    assert rejection(body(action=action)).code == "unsupported_action"


@pytest.mark.parametrize("message", [None, [], "terminate", 1, {"user": "x"}, {"user": {"sub": SUB}, "resource_link": []}])
def test_bodies_of_the_wrong_shape_are_refused_without_crashing(message):
    rejection(message)


def test_a_flag_needs_no_incident_fields_and_defaults_them():
    request = parse(body(action="flag", incident_time=..., incident_severity=..., reason_code=...))
    assert (request.incident_time, request.severity, request.reason_code) == (NOW, Decimal(0), "")


def test_a_flag_with_malformed_incident_fields_is_still_refused():
    assert rejection(body(action="flag", incident_severity="NaN")).code == "invalid_incident_severity"


# -- outcomes -----------------------------------------------------------------------------------
@pytest.mark.parametrize("code, severity, outcome", [
    ("0", "1.0", S.ERROR), ("1", "1.0", S.SECOND_REVIEW_REQUIRED), ("2", "1.0", S.ERROR), ("25", "1.0", S.ERROR),
    ("1", "0.3", S.SECOND_REVIEW_REQUIRED), ("1", "0.26", S.SECOND_REVIEW_REQUIRED), ("1", "0.251", S.SECOND_REVIEW_REQUIRED),
    ("1", "0.25", S.VERIFIED), ("1", "0.1", S.VERIFIED), ("1", "0", S.VERIFIED),
])
def test_a_terminate_moves_the_attempt_to_its_review_outcome_as_edx_exams_decides(code, severity, outcome):
    assert terminate_outcome(code, Decimal(severity)) is outcome
    decision = decide_control(parse(body(reason_code=code, incident_severity=severity)), attempt(), [])
    assert decision.move_to is outcome
    assert decision.result.action_type == "terminate"
    assert decision.result.reason_code == code


@pytest.mark.parametrize("status", [S.READY_TO_START, S.SUBMITTED])
@pytest.mark.parametrize("code, severity", [("1", "0.1"), ("1", "0.9"), ("0", "1.0")])
def test_a_terminate_of_an_attempt_that_never_started_is_an_error_never_verifiable(status, code, severity):
    # Issue 13, defect 8: an attempt ended before it started must not reach verified or second review.
    decision = decide_control(parse(body(reason_code=code, incident_severity=severity)),
                              attempt(status, started=False), [])
    assert decision.move_to is S.ERROR
    assert decision.result.reason_code == code


def test_a_numeric_reason_code_one_is_a_clean_submission_unlike_edx_exams():
    assert decide_control(parse(body(reason_code=1)), attempt(), []).move_to is S.VERIFIED


def test_the_recorded_severity_has_two_decimal_places():
    assert decide_control(parse(body(incident_severity=0.255)), attempt(), []).result.severity == Decimal("0.26")


@pytest.mark.parametrize("status", sorted(S.__members__.values(), key=lambda s: s.value))
def test_a_vendor_acts_only_on_attempts_from_ready_to_start_to_submitted(status):
    actionable = status in (S.READY_TO_START, S.STARTED, S.READY_TO_SUBMIT, S.TIMED_OUT, S.SUBMITTED)
    for action in ("flag", "terminate"):
        if actionable:
            assert decide_control(parse(body(action=action)), attempt(status), []).result is not None
        else:
            with pytest.raises(Rejected) as refused:
                decide_control(parse(body(action=action)), attempt(status), [])
            assert refused.value.code == "attempt_not_actionable"


def test_a_flag_records_a_result_and_leaves_the_status_alone():
    decision = decide_control(parse(body(action="flag", reason_code="15", incident_severity="0.7")), attempt(), [])
    assert decision.move_to is None
    assert decision.result == ControlResult(None, 4, "flag", datetime(2024, 5, 1, 10, 45, 33, tzinfo=timezone.utc),
                                            Decimal("0.70"), "15")


def test_a_repeated_identical_terminate_records_nothing_and_moves_nothing_even_after_the_move():
    request = parse(body())
    first = decide_control(request, attempt(), [])
    stored = ControlResult(17, 4, "terminate", first.result.incident_time, first.result.severity, "1")
    again = decide_control(parse(body(incident_severity=0.1, reason_code=1)), attempt(S.VERIFIED), [stored])
    assert again.result is None and again.move_to is None


def test_a_different_terminate_after_the_first_is_refused():
    request = parse(body())
    first = decide_control(request, attempt(), []).result
    stored = ControlResult(17, 4, first.action_type, first.incident_time, first.severity, first.reason_code)
    with pytest.raises(Rejected):
        decide_control(parse(body(incident_severity="0.9")), attempt(S.VERIFIED), [stored])
