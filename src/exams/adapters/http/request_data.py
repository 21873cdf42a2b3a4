"""Reading request bodies and path values without ever turning bad input into a 500."""

from __future__ import annotations

import json

from exams.domain.values import is_storable

from .errors import bad_request

# Course ids and usage keys are stored in 255-character columns.
MAX_PATH_TEXT = 255


FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
UTF8_NAMES = frozenset({"utf-8", "utf8", "us-ascii", "ascii"})
# The column range of every id (a 32-bit signed integer on PostgreSQL, as in edx-exams).
MAX_ID = 2**31 - 1


# -- the one check every text input goes through -------------------------------------------------------
def unstorable_at(value, where: str = "") -> str | None:
    """Where in a parsed input (JSON value, form, path or query value) a string holds text no database
    column can store: a NUL character or an unpaired surrogate. None when there is none.

    ``where`` is the dotted field name reported (``resource_link.id``, ``[0].exam_name``).
    """
    if isinstance(value, str):
        if "\x00" in value:
            return where or "value"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return where or "value"
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            name = f"{where}.{key}" if where else str(key)
            found = unstorable_at(key, name) or unstorable_at(item, name)
            if found:
                return found
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found = unstorable_at(item, f"{where}[{index}]")
            if found:
                return found
    return None


def refuse_unstorable(value, where: str = "") -> None:
    """A 400 naming the field when ``value`` holds text the database cannot store (before any SQL runs)."""
    found = unstorable_at(value, where)
    if found is not None:
        raise bad_request(f"Invalid {found}: text must not contain NUL characters or unpaired surrogates.",
                          code="unstorable_text")


# -- bodies ---------------------------------------------------------------------------------------------
def parse_json(raw: bytes, *, code: str | None = None):
    """A JSON body (UTF-8) whose strings can all be stored; any other input is a 400 with a detail."""
    extra = {"code": code} if code else {}
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise bad_request(f"JSON parse error - {exc}", **extra) from None
    except RecursionError:
        raise bad_request("JSON parse error - nested too deeply.", **extra) from None
    refuse_unstorable(value)
    return value


def form_params(request, *, query: bool = False):
    """The form fields of a request (``query``: of its query string), as a WebOb MultiDict of strings.

    Whatever the body's encoding or shape, a form that cannot be read is a 400 with a detail: forms in
    charsets other than UTF-8 (WebOb would transcode them, and warn), multipart bodies without a boundary,
    file uploads, undecodable bytes, and text the database cannot store.
    """
    if query:
        params = request.GET
    else:
        content_type = request.content_type or ""
        if content_type in FORM_TYPES:
            charset = (request.charset or "utf-8").lower()
            if charset not in UTF8_NAMES:
                raise bad_request(f"Form bodies must be UTF-8, not {charset}.", code="invalid_form")
        try:
            params = request.POST
            items = list(params.items())
        except (ValueError, UnicodeDecodeError, LookupError, DeprecationWarning) as exc:
            # e.g. "Invalid boundary in multipart form", bytes that are not UTF-8
            raise bad_request(f"Form parse error - {exc}", code="invalid_form") from None
        for name, value in items:
            if not isinstance(value, str):
                raise bad_request(f"Invalid {name}: file uploads are not accepted.", code="invalid_form")
    for name, value in params.items():
        refuse_unstorable(value, name)
    return params


def json_body(request, *, allow_form: bool = False):
    """The parsed JSON body; form bodies too where edx-exams accepted them."""
    content_type = request.content_type or ""
    if allow_form and content_type in FORM_TYPES:
        return dict(form_params(request).items())
    raw = request.body
    if not raw:
        return None
    return parse_json(raw)


def path_text(request, name: str) -> str:
    """A path value (course id, usage key). Servers have already percent-decoded PATH_INFO, so "+" stays a plus.

    Values no key can be (too long for the columns, control characters) are refused with a 400.
    """
    value = request.matchdict[name]
    if len(value) > MAX_PATH_TEXT:
        raise bad_request(f"Invalid {name}: longer than {MAX_PATH_TEXT} characters.")
    if not is_storable(value):
        raise bad_request(f"Invalid {name}: control characters are not allowed.")
    return value


def valid_id(value) -> int | None:
    """An id as the columns hold it (1 to 2**31 - 1), from a JSON integer or a string of ASCII digits."""
    if isinstance(value, str) and value.isascii() and value.strip().isdigit() and len(value.strip()) <= 10:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ID:
        return None
    return value


def path_int(request, name: str) -> int:
    value = request.matchdict[name]
    if len(value) > 10 or int(value) > MAX_ID:
        raise bad_request(f"Invalid {name}: an id is a whole number from 1 to {MAX_ID}.")
    return int(value)


def query_text(request, name: str) -> str | None:
    """A query-string value (None when absent or empty); control characters are refused with a 400."""
    value = request.GET.get(name)
    if not value:
        return None
    if not is_storable(value):
        raise bad_request(f"Invalid {name}: control characters are not allowed.")
    return value

