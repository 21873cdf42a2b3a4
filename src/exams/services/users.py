"""Users and course staff."""

from __future__ import annotations

import threading
import time
import weakref
from collections import OrderedDict
from copy import copy
from dataclasses import replace
from typing import Callable

from exams.domain import users as rules
from exams.domain.users import User, UserClaims, check_course_role
from exams.ports.repositories import Repositories


def is_course_staff(repos: Repositories, user: User, course_id: str) -> bool:
    """The domain's course-staff rule, with the user's course role read from the repositories."""
    return rules.is_course_staff(user, repos.staff_roles.has_course_role(user.id, course_id))


def require_course_staff(repos: Repositories, user: User, course_id: str) -> None:
    """Raise `Forbidden` unless the user is course staff of ``course_id``."""
    rules.require_course_staff(user, repos.staff_roles.has_course_role(user.id, course_id))


class KnownUsers:
    """Users this process has provisioned, by the claims they were provisioned from.

    Every request carries the learner's JWT; as long as its claims are the ones a user row was last
    found to match, that row needs no reading: the claims are the only thing that changes a user row
    on the request path, and user rows are never deleted. An entry is kept only once the row it copies
    is committed (provisioning that wrote is not remembered until a later request finds the row as it
    is), for at most ``ttl`` seconds, and for the ``size`` most recent identities.
    """

    _instances: "weakref.WeakSet[KnownUsers]" = weakref.WeakSet()

    def __init__(self, size: int = 20000, ttl: float = 600.0, now: Callable[[], float] = time.monotonic):
        self._entries: OrderedDict[UserClaims, tuple[float, User]] = OrderedDict()
        self._lock = threading.Lock()
        self._size, self._ttl, self._now = size, ttl, now
        KnownUsers._instances.add(self)

    def get(self, claims: UserClaims) -> User | None:
        with self._lock:
            entry = self._entries.get(claims)
            if entry is None:
                return None
            if entry[0] < self._now():
                del self._entries[claims]
                return None
            self._entries.move_to_end(claims)
        return copy(entry[1])  # callers may change their copy (a User's fields are immutable values)

    def remember(self, claims: UserClaims, user: User) -> None:
        with self._lock:
            self._entries[claims] = (self._now() + self._ttl, replace(user))
            self._entries.move_to_end(claims)
            if len(self._entries) > self._size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    @classmethod
    def forget_everywhere(cls) -> None:
        """For a database emptied underneath a running process (tests): forget every user known."""
        for known in list(cls._instances):
            known.clear()


class UserService:
    def __init__(self, repos: Repositories, known: KnownUsers | None = None):
        self.repos = repos
        self.known = known

    def provision(self, claims: UserClaims) -> User:
        """The local user for a verified LMS identity, created on first sight, updated from the claims."""
        if self.known is not None:
            user = self.known.get(claims)
            if user is not None:
                return user
        user = self.repos.users.get_by_username(claims.username)
        wrote = False
        if user is None:
            user = self.repos.users.ensure(User(id=None, username=claims.username))
            wrote = True
        if user.apply_claims(claims):
            self.repos.users.save(user)
            wrote = True
        if not wrote and self.known is not None:
            self.known.remember(claims, user)
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
