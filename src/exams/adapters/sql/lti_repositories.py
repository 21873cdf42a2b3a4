"""SQL repositories of the LTI platform: registrations, launch state and single-use nonces. Never commit.

Single use is decided by the database: a nonce is spent by an INSERT that a unique constraint lets through
once (ON CONFLICT DO NOTHING), and a hint or a session_data by a conditional UPDATE that only one
transaction can win. Both hold across processes and under concurrency.
"""

from __future__ import annotations

import json

from sqlalchemy import and_, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from exams.domain.errors import Conflict
from exams.ports.clock import SYSTEM_CLOCK, Clock
from exams.ports.lti import DEFAULT_DEPLOYMENT_ID, MESSAGE_START_PROCTORING, ToolRegistration
from exams.ports.lti_store import LaunchState

from . import tables as t
from .session import insert_on_conflict

def _registration(row) -> ToolRegistration:
    try:
        redirect_uris = tuple(json.loads(row.redirect_uris or "[]"))
    except ValueError:
        redirect_uris = ()
    return ToolRegistration(
        registration_id=str(row.id), client_id=row.client_id, oidc_login_url=row.oidc_login_url,
        launch_url=row.launch_url, platform_private_key=row.platform_private_key, platform_kid=row.platform_kid,
        deployment_id=row.deployment_id or DEFAULT_DEPLOYMENT_ID, redirect_uris=redirect_uris,
        tool_jwks_url=row.tool_jwks_url or None, tool_public_key=row.tool_public_key or None,
        retiring_public_jwk=row.retiring_public_jwk, retiring_until=row.retiring_until)


def _storable(value: object) -> bool:
    """A string the database can compare: PostgreSQL text holds no NUL, and no lone surrogate encodes."""
    if not isinstance(value, str) or "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _numeric_id(registration_id: object) -> int | None:
    text = str(registration_id)
    if not (text.isascii() and text.isdigit()) or len(text) > 9:  # "¹2".isdigit() is true
        return None
    return int(text)


class SqlRegistrationRepository:
    def __init__(self, session: Session, clock: Clock = SYSTEM_CLOCK):
        self.session = session
        self._now = clock.now

    def get(self, registration_id):
        number = _numeric_id(registration_id)
        if number is None:
            return None
        row = self.session.execute(select(t.lti_registrations).where(t.lti_registrations.c.id == number)).first()
        return _registration(row) if row else None

    def get_by_client_id(self, client_id):
        if not _storable(client_id):
            return None
        row = self.session.execute(
            select(t.lti_registrations).where(t.lti_registrations.c.client_id == client_id)).first()
        return _registration(row) if row else None

    def add(self, registration):
        try:
            with self.session.begin_nested():
                new_id = self.session.execute(insert(t.lti_registrations).values(
                    client_id=registration.client_id, deployment_id=registration.deployment_id,
                    oidc_login_url=registration.oidc_login_url, launch_url=registration.launch_url,
                    redirect_uris=json.dumps(list(registration.redirect_uris)),
                    tool_jwks_url=registration.tool_jwks_url, tool_public_key=registration.tool_public_key,
                    platform_private_key=registration.platform_private_key,
                    platform_kid=registration.platform_kid, created=self._now())).inserted_primary_key[0]
        except IntegrityError:
            raise Conflict(f"An LTI registration with client_id {registration.client_id!r} (or its platform kid) "
                           "already exists.", code="registration_exists") from None
        return self.get(new_id)

    def list(self):
        return [_registration(r) for r in self.session.execute(
            select(t.lti_registrations).order_by(t.lti_registrations.c.id))]

    def save_keys(self, registration):
        number = _numeric_id(registration.registration_id)
        try:
            self.session.execute(update(t.lti_registrations).where(t.lti_registrations.c.id == number).values(
                platform_private_key=registration.platform_private_key, platform_kid=registration.platform_kid,
                retiring_public_jwk=registration.retiring_public_jwk, retiring_until=registration.retiring_until))
        except IntegrityError:
            raise Conflict("Another registration already uses this platform kid.", code="registration_exists") from None


def _launch(row) -> LaunchState:
    return LaunchState(
        id=row.id, message_hint=row.message_hint, message_type=row.message_type,
        registration_id=str(row.registration_id), user_id=row.user_id, attempt_id=row.attempt_id,
        exam_id=row.exam_id, browser_binding=row.browser_binding, session_data=row.session_data,
        hint_expires_at=row.hint_expires_at, expires_at=row.expires_at, used=row.used, completed=row.completed,
        end_assessment_return=row.end_assessment_return, created=row.created)


class SqlLaunchStateRepository:
    def __init__(self, session: Session, clock: Clock = SYSTEM_CLOCK):
        self.session = session
        self._now = clock.now

    def add(self, state):
        registration_id = _numeric_id(state.registration_id)
        if registration_id is None:
            raise ValueError("a launch needs a stored registration")
        new_id = self.session.execute(insert(t.lti_launches).values(
            message_hint=state.message_hint, message_type=state.message_type, registration_id=registration_id,
            user_id=state.user_id, attempt_id=state.attempt_id, exam_id=state.exam_id,
            browser_binding=state.browser_binding, session_data=state.session_data,
            hint_expires_at=state.hint_expires_at, expires_at=state.expires_at, used=state.used,
            completed=state.completed, end_assessment_return=state.end_assessment_return,
            created=state.created or self._now())).inserted_primary_key[0]
        return self._get(new_id)

    def _get(self, launch_id: int) -> LaunchState | None:
        row = self.session.execute(select(t.lti_launches).where(t.lti_launches.c.id == launch_id)).first()
        return _launch(row) if row else None

    def get_by_hint(self, message_hint):
        if not _storable(message_hint) or not message_hint or len(message_hint) > 64:
            return None
        row = self.session.execute(
            select(t.lti_launches).where(t.lti_launches.c.message_hint == message_hint)).first()
        return _launch(row) if row else None

    def mark_used(self, launch_id, now):
        c = t.lti_launches.c
        result = self.session.execute(update(t.lti_launches).where(
            c.id == launch_id, c.used.is_(False), c.hint_expires_at > now).values(used=True))
        return result.rowcount == 1

    def pending_starts(self, user_id, registration_id, browser_binding, now, limit=5):
        number = _numeric_id(registration_id)
        if number is None:
            return []
        c = t.lti_launches.c
        rows = self.session.execute(select(t.lti_launches).where(
            c.user_id == user_id, c.registration_id == number, c.browser_binding == browser_binding,
            c.message_type == MESSAGE_START_PROCTORING, c.used.is_(True), c.completed.is_(False),
            c.expires_at > now).order_by(c.id.desc()).limit(limit))
        return [_launch(r) for r in rows]

    def complete(self, launch_id, end_assessment_return, now):
        c = t.lti_launches.c
        result = self.session.execute(update(t.lti_launches).where(
            c.id == launch_id, c.used.is_(True), c.completed.is_(False), c.expires_at > now,
        ).values(completed=True, end_assessment_return=bool(end_assessment_return)))
        return result.rowcount == 1

    def last_completed_start(self, attempt_id):
        c = t.lti_launches.c
        row = self.session.execute(select(t.lti_launches).where(
            c.attempt_id == attempt_id, c.message_type == MESSAGE_START_PROCTORING, c.completed.is_(True))
            .order_by(c.id.desc()).limit(1)).first()
        return _launch(row) if row else None

    def purge_expired(self, now):
        # Completed starts stay: they remember end_assessment_return until the attempt is deleted.
        c = t.lti_launches.c
        return self.session.execute(delete(t.lti_launches).where(c.expires_at <= now, c.completed.is_(False))).rowcount


class SqlNonceStore:
    """``NonceStore`` on the ``lti_nonces`` table: the unique key makes ``use`` atomic across processes."""

    MAX_KEY_LENGTH = 100

    def __init__(self, session: Session, clock: Clock = SYSTEM_CLOCK):
        self.session = session
        self._now = clock.now

    def use(self, nonce, expires_at):
        if not isinstance(nonce, str) or not nonce or len(nonce) > self.MAX_KEY_LENGTH:
            raise ValueError("nonce keys are non-empty strings of at most 100 characters")
        if expires_at.tzinfo is None:
            raise ValueError("expires_at must be timezone-aware")
        # A concurrent INSERT of the same key waits for the other transaction and then does nothing:
        # exactly one of them sees a row inserted.
        stmt = insert_on_conflict(self.session, t.lti_nonces, dict(key=nonce, expires_at=expires_at), ["key"])
        inserted = self.session.execute(stmt.returning(t.lti_nonces.c.id)).first()
        if inserted is not None:
            return True
        # Seen before: reusable only once that earlier use has expired (and then by one caller only).
        c = t.lti_nonces.c
        reclaimed = self.session.execute(update(t.lti_nonces).where(
            and_(c.key == nonce, c.expires_at <= self._now())).values(expires_at=expires_at)).rowcount
        return reclaimed == 1

    def purge_expired(self, now):
        return self.session.execute(delete(t.lti_nonces).where(t.lti_nonces.c.expires_at <= now)).rowcount


class LtiRepositories:
    """The LTI repositories over one session (one unit of work)."""

    def __init__(self, session: Session, clock: Clock = SYSTEM_CLOCK):
        self.session = session
        self.registrations = SqlRegistrationRepository(session, clock)
        self.launches = SqlLaunchStateRepository(session, clock)
        self.nonces = SqlNonceStore(session, clock)
