"""Errors the domain raises. Each carries a stable machine ``code`` and a human ``detail``.

The HTTP adapter maps the error *kind* (the class family) to a status code in one place;
the detail texts are those the frontends and vendors already know from edx-exams.
"""


class DomainError(Exception):
    """Base of every rule the domain refuses."""

    code = "domain_error"

    def __init__(self, detail: str, *, code: str | None = None):
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code


class Rejected(DomainError):
    """The request breaks a rule of the exam domain (a client error)."""

    code = "rejected"


class NotFound(DomainError):
    """What the request names does not exist (or is not visible to the caller)."""

    code = "not_found"


class Forbidden(DomainError):
    """The caller may not do this."""

    code = "forbidden"


class IllegalTransition(Rejected):
    """An attempt status change that the lifecycle forbids."""

    code = "illegal_transition"


class Conflict(Rejected):
    """A uniqueness rule would be broken (one attempt per exam, one active attempt, ...)."""

    code = "conflict"


class InvalidValue(Rejected):
    """A value given for ``field`` does not have the required shape (blank name, malformed course id, ...)."""

    code = "invalid_value"

    def __init__(self, field: str, detail: str):
        super().__init__(detail)
        self.field = field
