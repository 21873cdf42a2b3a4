"""Reading request bodies and path values without ever turning bad input into a 500."""

from __future__ import annotations

import json

from exams.domain.values import is_storable

from .errors import bad_request

# Course ids and usage keys are stored in 255-character columns.
MAX_PATH_TEXT = 255


def json_body(request, *, allow_form: bool = False):
    """The parsed JSON body; form bodies too where edx-exams accepted them."""
    content_type = request.content_type or ""
    if allow_form and content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        charset = (request.charset or "utf-8").lower()
        if charset not in ("utf-8", "utf8", "us-ascii", "ascii"):
            # WebOb would transcode (and warn); forms from browsers and the MFE are UTF-8.
            raise bad_request(f"Form bodies must be UTF-8, not {charset}.")
        try:
            return {k: v for k, v in request.POST.items()}
        except ValueError as exc:  # e.g. a multipart body without a boundary
            raise bad_request(f"Form parse error - {exc}") from None
    raw = request.body
    if not raw:
        return None
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise bad_request(f"JSON parse error - {exc}") from None
    except RecursionError:
        raise bad_request("JSON parse error - nested too deeply.") from None
    try:
        # "\ud800" escapes decode to lone surrogates, which no database column can hold.
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise bad_request("JSON parse error - a string holds an unpaired surrogate escape.") from None
    return value


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


def path_int(request, name: str) -> int:
    value = request.matchdict[name]
    if len(value) > 10 or int(value) > 2**31 - 1:
        raise bad_request(f"Invalid {name}.")
    return int(value)


def query_text(request, name: str) -> str | None:
    """A query-string value (None when absent or empty); control characters are refused with a 400."""
    value = request.GET.get(name)
    if not value:
        return None
    if not is_storable(value):
        raise bad_request(f"Invalid {name}: control characters are not allowed.")
    return value


def query_content_id(request) -> str | None:
    value = request.GET.get("content_id")
    # request.GET is already decoded; a raw "+" here means a space, so clients percent-encode keys.
    return value or None
