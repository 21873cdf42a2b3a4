"""Users as this service knows them: provisioned from LMS JWT claims."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from .errors import InvalidValue
from .values import check_course_key, check_email, check_username

# Course access roles (from the LMS) that make a user course staff here.
COURSE_STAFF_ROLES = ("staff", "instructor", "limited_staff")


@dataclass
class User:
    id: int | None
    username: str
    email: str = ""
    full_name: str = ""
    lms_user_id: int | None = None
    is_staff: bool = False
    is_active: bool = True
    # Stable, random and local: vendors store it as the LTI ``sub``. Never derived from the LMS.
    anonymous_user_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def apply_claims(self, claims: "UserClaims") -> bool:
        """Update the profile from a fresh JWT; return True when something changed.

        A claim that is absent or null leaves the field alone; ``administrator: false`` demotes.
        """
        changed = False
        for name in ("email", "full_name", "lms_user_id", "is_staff"):
            value = getattr(claims, name)
            if value is not None and getattr(self, name) != value:
                setattr(self, name, value)
                changed = True
        return changed


@dataclass(frozen=True)
class UserClaims:
    """The identity facts an LMS JWT carries (already verified)."""

    username: str
    email: str | None = None
    full_name: str | None = None
    lms_user_id: int | None = None
    is_staff: bool | None = None
    is_restricted: bool = False


@dataclass(frozen=True)
class CourseStaffRole:
    user_id: int
    course_id: str
    role: str | None


def check_course_role(username: str, course_id: str, role: str | None, email: str | None = None) -> None:
    """Refuse a course staff role this service would never be told of by the LMS."""
    check_username(username)
    check_course_key(course_id)
    if role not in COURSE_STAFF_ROLES:
        raise InvalidValue("role", f"Unknown course role {role!r}; expected one of {', '.join(COURSE_STAFF_ROLES)}.")
    if email:
        check_email(email)
