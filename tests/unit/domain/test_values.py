"""The value rules every entry point shares (exams.domain.values, check_provider, check_course_role)."""

from __future__ import annotations

import pytest

from exams.domain.errors import InvalidValue
from exams.domain.exams import Provider, check_provider
from exams.domain.users import check_course_role
from exams.domain.values import check_url, is_course_key, is_email, is_provider_name, is_username, text_problem

C = "course-v1:edX+DemoX+Demo_Course"


@pytest.mark.parametrize("value, expected", [
    (C, True), ("edX/DemoX/2024", True), ("ccx-v1:edX+DemoX+Demo_Course+ccx@3", True),
    ("not-a-course", False), ("", False), ("course-v1:a+b", False), (f"{C}\x00", False), (f"{C} ", False),
])
def test_course_keys(value, expected):
    assert is_course_key(value) is expected


@pytest.mark.parametrize("value, expected", [
    ("proctorio", True), ("test_provider", True), ("lti-external", True), ("v.2", True), ("A", True),
    ("", False), ("my vendor!", False), ("-x", False), ("_x", False), ("x" * 256, False), ("x" * 255, True),
    ("é", False),
])
def test_provider_names(value, expected):
    assert is_provider_name(value) is expected


@pytest.mark.parametrize("value, expected", [
    ("a@b.test", True), ("notanemail", False), ("a@b", False), ("a b@c.test", False), ("", False)])
def test_emails(value, expected):
    assert is_email(value) is expected


@pytest.mark.parametrize("value, expected", [
    ("alice", True), ("", False), ("x" * 150, True), ("x" * 151, False), ("a\x00b", False), ("a\nb", False)])
def test_usernames(value, expected):
    assert is_username(value) is expected


def test_text_problems_are_the_api_s_messages():
    assert text_problem("  ") == "This field may not be blank."
    assert text_problem("  ", allow_blank=True) is None
    assert text_problem("x" * 256) == "Ensure this field has no more than 255 characters."
    assert text_problem("x" * 256, None) is None
    assert text_problem("a\x00") == "Null characters are not allowed."
    assert text_problem("ok") is None


@pytest.mark.parametrize("url", ["https://help.test", "http://help.test/x?y=1", "www.example.com",
                                 "localhost:8000/help"])
def test_support_urls_accepted(url):
    check_url(url, "tech_support_url")


@pytest.mark.parametrize("url", ["javascript:alert(1)", "data:text/html,x", "ftp://files.test", "https://a b",
                                 "http:/x", ""])
def test_support_urls_refused(url):
    with pytest.raises(InvalidValue) as caught:
        check_url(url, "tech_support_url")
    assert caught.value.field == "tech_support_url"


@pytest.mark.parametrize("changes, field", [
    ({"name": "my vendor!"}, "name"), ({"verbose_name": ""}, "verbose_name"), ({"org_key": " "}, "org_key"),
    ({"tech_support_email": "x"}, "tech_support_email"), ({"tech_support_phone": ""}, "tech_support_phone"),
    ({"tech_support_url": "javascript:x"}, "tech_support_url"),
])
def test_check_provider_names_the_bad_field(changes, field):
    provider = Provider(id=None, name="proctorio", verbose_name="Proctorio")
    check_provider(provider)
    with pytest.raises(InvalidValue) as caught:
        check_provider(Provider(**{**provider.__dict__, **changes}))
    assert caught.value.field == field


@pytest.mark.parametrize("args, field", [
    (("", C, "staff"), "username"), (("a", "nope", "staff"), "course_id"), (("a", C, "owner"), "role"),
    (("a", C, None), "role"), (("a", C, "staff", "bad-email"), "email"),
])
def test_check_course_role_names_the_bad_field(args, field):
    check_course_role("alice", C, "staff", "alice@example.com")
    with pytest.raises(InvalidValue) as caught:
        check_course_role(*args)
    assert caught.value.field == field

