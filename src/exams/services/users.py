"""Users and course staff."""

from __future__ import annotations

from exams.domain.users import User, UserClaims, check_course_role
from exams.ports.repositories import Repositories


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
        return user.is_staff or self.repos.staff_roles.is_course_staff(user.id, course_id)

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
