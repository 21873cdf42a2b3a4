"""The wire form of a vendor's Assessment Control Service message: parsing and refusals (HTTP adapter)."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest

from exams.adapters.http.acs_schema import parse_control_request, parse_incident_time, parse_severity
from exams.domain.attempts import Attempt, AttemptStatus
from exams.domain.errors import Rejected
from exams.domain.reviews import decide_control

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
    return parse_control_request(message, issuer=ISSUER).received(NOW)


def rejection(message) -> Rejected:
    with pytest.raises(Rejected) as caught:
        parse(message)
    return caught.value


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


def test_a_flag_received_without_a_time_keeps_none_until_the_service_stamps_it():
    request = parse_control_request(body(action="flag", incident_time=...), issuer=ISSUER)
    assert request.incident_time is None
    assert request.received(NOW).incident_time == NOW
    timed = parse_control_request(body(action="flag"), issuer=ISSUER)
    assert timed.received(NOW).incident_time == datetime(2024, 5, 1, 10, 45, 33, tzinfo=timezone.utc)


def test_a_numeric_reason_code_one_is_a_clean_submission_unlike_edx_exams():
    attempt = Attempt(id=4, user_id=1, exam_id=2, status=S.STARTED,
                      start_time=datetime(2024, 5, 1, 10, 0, tzinfo=timezone.utc))
    assert decide_control(parse(body(reason_code=1)), attempt, []).move_to is S.VERIFIED
