"""Users and course staff."""

from __future__ import annotations

from exams.domain import users as rules
from exams.domain.users import User, UserClaims, check_course_role
from exams.ports.repositories import Repositories


def is_course_staff(repos: Repositories, user: User, course_id: str) -> bool:
    """The domain's course-staff rule, with the user's course role read from the repositories."""
    return rules.is_course_staff(user, repos.staff_roles.has_course_role(user.id, course_id))


def require_course_staff(repos: Repositories, user: User, course_id: str) -> None:
    """Raise `Forbidden` unless the user is course staff of ``course_id``."""
    rules.require_course_staff(user, repos.staff_roles.has_course_role(user.id, course_id))


class UserService:
    def __init__(self, repos: Repositories):
        self.repos = repos

    def provision(self, claims: UserClaims) -> User:
        """The local user for a verified LMS identity, created on first sight, updated from the claims."""
        user = self.repos.users.get_by_username(claims.username)
        if user is None:
            user = self.repos.users.ensure(User(id=None, username=claims.username))
        if user.apply_claims(claims):
            self.repos.users.save(user)
        return user

    def is_course_staff(self, user: User, course_id: str) -> bool:
        return is_course_staff(self.repos, user, course_id)

    def require_course_staff(self, user: User, course_id: str) -> None:
        require_course_staff(self.repos, user, course_id)

    def add_course_role(self, username: str, course_id: str, role: str, email: str | None = None) -> bool:
        check_course_role(username, course_id, role, email)
        user = self.repos.users.get_by_username(username)
        if user is None:
            user = self.repos.users.ensure(User(id=None, username=username, email=email or ""))
        return self.repos.staff_roles.add(user.id, course_id, role)

    def remove_course_role(self, username: str, course_id: str, role: str) -> bool:
        check_course_role(username, course_id, role)
        user = self.repos.users.get_by_username(username)
        if user is None:
            return False
        return self.repos.staff_roles.remove(user.id, course_id, role)

    def course_roles(self, course_id: str | None = None) -> list[tuple[str, str, str | None]]:
        """Every course staff role as (username, course_id, role), or those of one course."""
        return self.repos.staff_roles.listing(course_id)
