"""Reading request bodies and path values without ever turning bad input into a 500."""

from __future__ import annotations

import json

from .errors import bad_request


def json_body(request, *, allow_form: bool = False):
    """The parsed JSON body; form bodies too where edx-exams accepted them."""
    content_type = request.content_type or ""
    if allow_form and content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return {k: v for k, v in request.POST.items()}
    raw = request.body
    if not raw:
        return None
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise bad_request(f"JSON parse error - {exc}") from None


def path_text(request, name: str) -> str:
    """A path value. Servers have already percent-decoded PATH_INFO, so "+" stays a plus."""
    return request.matchdict[name]


def path_int(request, name: str) -> int:
    value = request.matchdict[name]
    if len(value) > 10 or int(value) > 2**31 - 1:
        raise bad_request(f"Invalid {name}.")
    return int(value)


def query_content_id(request) -> str | None:
    value = request.GET.get("content_id")
    # request.GET is already decoded; a raw "+" here means a space, so clients percent-encode keys.
    return value or None
