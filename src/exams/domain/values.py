"""The shape of the values the service is given: text fields, emails, usernames, Open edX keys, provider names.

One copy of each rule: the HTTP schemas, the authentication of LMS JWTs, the LMS event adapter, the services and
the operator commands all ask these functions.
"""

from __future__ import annotations

import re

from .errors import InvalidValue

MAX_USERNAME = 150  # the users.username column, and the LMS's own limit
MAX_EMAIL = 254

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

# Open edX opaque keys, following edx-opaque-keys' grammar (allowed id characters [\w\-~.:], '+'-separated parts):
# enough to refuse the strings the LMS would fail to parse.
_ID = r"[\w\-~.:]+"
_COURSE_PARTS = rf"{_ID}\+{_ID}\+{_ID}(?:\+branch@{_ID})?(?:\+version@[A-Fa-f0-9]{{24}})?"
_COURSE_KEY = re.compile(
    rf"^(?:course-v1:{_COURSE_PARTS}"
    rf"|ccx-v1:{_COURSE_PARTS}\+ccx@\d+"
    rf"|{_ID}/{_ID}/{_ID})$"  # the deprecated slash-separated form
)
_USAGE_KEY = re.compile(
    rf"^(?:block-v1:{_COURSE_PARTS}\+type@{_ID}\+block@{_ID}"
    rf"|ccx-block-v1:{_COURSE_PARTS}\+ccx@\d+\+type@{_ID}\+block@{_ID}"
    rf"|i4x://{_ID}/{_ID}/{_ID}/{_ID})$"  # the deprecated location form
)

# A provider's machine name (edx-exams: `proctorio`, `test_provider`): what the course configuration names.
_PROVIDER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,254}")


# Unicode's control characters (category Cc: C0, DEL and C1) and surrogates (Cs), as one character class.
_UNSTORABLE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def is_storable(text: str) -> bool:
    """No control characters or unpaired surrogates: the database could not hold them (or should not)."""
    return _UNSTORABLE.search(text) is None


def text_problem(value: str, max_length: int | None = 255, *, allow_blank: bool = False) -> str | None:
    """Why ``value`` is not an acceptable text field (the API's wording), or None."""
    if not value.strip() and not allow_blank:
        return "This field may not be blank."
    if max_length is not None and len(value) > max_length:
        return f"Ensure this field has no more than {max_length} characters."
    if "\x00" in value:
        return "Null characters are not allowed."
    return None


def is_email(value: str) -> bool:
    return isinstance(value, str) and EMAIL.match(value) is not None


def is_username(value: str) -> bool:
    """A username the LMS could have sent in a JWT: 1 to 150 storable characters."""
    return isinstance(value, str) and 0 < len(value) <= MAX_USERNAME and is_storable(value)


def is_course_key(value: str) -> bool:
    """True if ``value`` has the shape of an Open edX course key (``course-v1:org+course+run``, ...)."""
    return isinstance(value, str) and _COURSE_KEY.fullmatch(value) is not None


def is_usage_key(value: str) -> bool:
    """True if ``value`` has the shape of a course block usage key (``block-v1:...+type@...+block@...``)."""
    return isinstance(value, str) and _USAGE_KEY.fullmatch(value) is not None


def is_provider_name(value: str) -> bool:
    return isinstance(value, str) and _PROVIDER_NAME.fullmatch(value) is not None


# -- checks that raise InvalidValue naming the field -------------------------------------------------------------
def check_text(field: str, value: str, max_length: int = 255) -> None:
    problem = text_problem(value, max_length)
    if problem is None and not is_storable(value):
        problem = "Control characters are not allowed."
    if problem:
        raise InvalidValue(field, problem)


def check_username(value: str, field: str = "username") -> None:
    if not is_username(value) or not value.strip():
        raise InvalidValue(field, f"{value!r} is not a username (1 to {MAX_USERNAME} characters, not blank).")


def check_email(value: str, field: str = "email") -> None:
    if len(value) > MAX_EMAIL or not is_email(value):
        raise InvalidValue(field, f"{value!r} is not a valid email address.")


def check_course_key(value: str, field: str = "course_id") -> None:
    if not is_course_key(value):
        raise InvalidValue(field, f"{value!r} is not a course id (course-v1:ORG+COURSE+RUN).")


def check_provider_name(value: str, field: str = "name") -> None:
    if not is_provider_name(value):
        raise InvalidValue(field, f"{value!r} is not a provider name: 1 to 255 letters, digits, '_', '-' or '.', "
                                  "starting with a letter or digit (e.g. proctorio).")


def check_url(value: str, field: str) -> None:
    """A web address shown to learners as a link: http(s), or a bare host and path (``www.example.com``)."""
    check_text(field, value)
    scheme = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*):(?!\d)", value)  # not host:port
    if any(ch.isspace() for ch in value) or (scheme and (scheme.group(1).lower() not in ("http", "https")
                                                          or not value[scheme.end():].startswith("//"))):
        raise InvalidValue(field, f"{value!r} is not a web address (https://...).")
