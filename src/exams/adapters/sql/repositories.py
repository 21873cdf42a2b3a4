"""SQL repositories: load and save domain objects with SQLAlchemy Core. They never commit.

Writes run at once (no deferred flush), so that a broken database rule surfaces inside the use case
as ``Conflict`` rather than at commit time.
"""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Iterable

from psycopg import RawCursor, pq
from psycopg.adapt import PyFormat, Transformer
from sqlalchemy import and_, bindparam, delete, exists, func, insert, literal_column, or_, select, text, union, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from exams.domain.allowances import Allowance
from exams.domain.attempts import Attempt, AttemptStatus, StatusChange
from exams.domain.errors import Conflict
from exams.domain.exams import CourseConfig, Exam, ExamType, Provider
from exams.domain.reviews import REVIEW_ACTION, ControlResult
from exams.domain.users import User
from exams.ports.clock import SYSTEM_CLOCK, Clock

from . import tables as t
from .session import UnitDatabase, insert_on_conflict

ACTIVE = (AttemptStatus.STARTED.value, AttemptStatus.READY_TO_SUBMIT.value)
# The same, written into the SQL: what the partial index ``uq_exam_attempts_one_active_per_user`` says, and no
# list parameter to expand on every execution.
_ACTIVE_SQL = [literal_column(f"'{status}'") for status in ACTIVE]

# The reads every learner request makes, built once: building a select (and its cache key) costs
# more CPU than running it on an index.
_USER_BY_ID = select(t.users).where(t.users.c.id == bindparam("id"))
_USER_BY_USERNAME = select(t.users).where(t.users.c.username == bindparam("username"))
_HAS_COURSE_ROLE = select(t.course_staff_roles.c.id).where(
    t.course_staff_roles.c.user_id == bindparam("user_id"),
    t.course_staff_roles.c.course_id == bindparam("course_id")).limit(1)
_PROVIDER_BY_ID = select(t.providers).where(t.providers.c.id == bindparam("id"))
_EXAM_BY_ID = select(t.exams).where(t.exams.c.id == bindparam("id"))
_ACTIVE_EXAM_FOR_CONTENT = (select(t.exams).where(t.exams.c.content_id == bindparam("content_id"), t.exams.c.is_active)
                            .order_by(t.exams.c.id.desc()).limit(1))
_CONFIG_BY_COURSE = select(t.course_configs).where(t.course_configs.c.course_id == bindparam("course_id"))
_ATTEMPT_BY_ID = select(t.attempts).where(t.attempts.c.id == bindparam("id"))
_ATTEMPT_BY_ID_FOR_UPDATE = _ATTEMPT_BY_ID.with_for_update()
_LATEST_ATTEMPT = (select(t.attempts).where(t.attempts.c.user_id == bindparam("user_id"),
                                            t.attempts.c.exam_id == bindparam("exam_id"))
                   .order_by(t.attempts.c.created.desc(), t.attempts.c.id.desc()).limit(1))
_ACTIVE_ATTEMPT = select(t.attempts).where(t.attempts.c.user_id == bindparam("user_id"),
                                           t.attempts.c.status.in_(_ACTIVE_SQL)).limit(1)
# The learner's timer reads the attempt and its exam in one statement (the hottest request there is).
# Only the columns the domain objects are made of: every column read costs the driver a conversion (the
# timestamps most), and the attempt's stored deadline is for the sweeper's index, the domain computes its own.
_UNREAD = {"created", "modified"}
_EXAM_COLUMNS = [c.label(f"x_exam_{c.name}") for c in t.exams.c if c.name not in _UNREAD]
_ATTEMPT_COLUMNS = [c for c in t.attempts.c if c.name != "deadline"]
_ACTIVE_ATTEMPT_WITH_EXAM = (select(*_ATTEMPT_COLUMNS, *_EXAM_COLUMNS).join(t.exams, t.exams.c.id == t.attempts.c.exam_id)
                             .where(t.attempts.c.user_id == bindparam("user_id"), t.attempts.c.status.in_(_ACTIVE_SQL))
                             .limit(1))
_EXAM_AT_CONTENT_WITH_ATTEMPT = (
    select(*_EXAM_COLUMNS, *_ATTEMPT_COLUMNS)
    .outerjoin(t.attempts, and_(t.attempts.c.exam_id == t.exams.c.id, t.attempts.c.user_id == bindparam("user_id")))
    .where(t.exams.c.content_id == bindparam("content_id"), t.exams.c.is_active)
    .order_by(t.exams.c.id.desc(), t.attempts.c.created.desc(), t.attempts.c.id.desc()).limit(1))
# The exam screen (the exam fetch): the exam, the learner's latest attempt, the provider and the allowance, one read.
_PROVIDER_COLUMNS = [c.label(f"x_provider_{c.name}") for c in t.providers.c if c.name not in _UNREAD]
_EXAM_SCREEN = (
    select(*_EXAM_COLUMNS, *_ATTEMPT_COLUMNS, *_PROVIDER_COLUMNS, t.allowances.c.extra_time_mins.label("x_extra_time_mins"))
    .select_from(t.exams)
    .outerjoin(t.attempts, and_(t.attempts.c.exam_id == t.exams.c.id, t.attempts.c.user_id == bindparam("user_id")))
    .outerjoin(t.providers, t.providers.c.id == t.exams.c.provider_id)
    .outerjoin(t.allowances, and_(t.allowances.c.exam_id == t.exams.c.id,
                                  t.allowances.c.user_id == bindparam("user_id")))
    .where(t.exams.c.content_id == bindparam("content_id"), t.exams.c.is_active)
    .order_by(t.exams.c.id.desc(), t.attempts.c.created.desc(), t.attempts.c.id.desc()).limit(1))
_ALLOWANCE_FOR_USER_EXAM = select(t.allowances).where(t.allowances.c.user_id == bindparam("user_id"),
                                                      t.allowances.c.exam_id == bindparam("exam_id"))


class _Row:
    """A result row read by attribute or through ``_mapping``, as SQLAlchemy's rows are."""

    __slots__ = ("_mapping",)

    def __init__(self, mapping: dict):
        self._mapping = mapping

    def __getattr__(self, name):
        try:
            return self._mapping[name]
        except KeyError:
            raise AttributeError(name) from None


class _Unprepared(Exception):
    """libpq refused a pre-built read (the statement or the connection is gone): run it again through SQLAlchemy."""


_DUPLICATE_PREPARED_STATEMENT = b"42P05"
_STALE_PREPARED_STATEMENT = b"0A000"  # "cached plan must not change result type" (a migration altered a column)
_IDLE = pq.TransactionStatus.IDLE


def _sqlstate(result) -> bytes | None:
    return result.error_field(pq.DiagnosticField.SQLSTATE)


def _run_on_cursor(connection, sql: str, args, name: bytes, cursor_class=None):
    driver = connection.connection.driver_connection
    cursor = driver.cursor() if cursor_class is None else cursor_class(driver)
    try:
        cursor.execute(sql, args)
        return cursor.fetchone()
    finally:
        cursor.close()


def _run_prepared_on_libpq(connection, sql: str, args, name: bytes):
    """PostgreSQL: one ``PQexecPrepared`` call on the driver's libpq connection (the GIL released meanwhile).

    psycopg's cursor costs a single-row read ≈ 60 µs of Python around the call (prepare bookkeeping, its
    wait loop, result set-up; docs/performance.md). Here the statement is prepared on the connection once
    under a name of its own, the parameters are written as text by psycopg's adapters, and the row is read
    by its loaders, kept per connection and statement (``Connection.info`` goes with the DBAPI connection
    and is cleared when the pool replaces it).

    Only outside a transaction, which is where the learner's reads run (a request that has not written):
    psycopg deallocates every prepared statement of the connection when a transaction rolls back (its own
    cache's rule), and a statement found gone inside a transaction would abort it. Outside one, a statement
    found gone costs one failed call: the read runs again through SQLAlchemy and is prepared anew next time.
    Inside a transaction the read runs on psycopg's cursor, whose own prepared statements follow that rule.
    """
    driver = connection.connection.driver_connection
    pgconn = driver.pgconn
    if pgconn.transaction_status != _IDLE:
        return _run_on_cursor(connection, sql, args, name, RawCursor)
    statements = connection.info.get("exams.prepared")
    if statements is None:
        statements = connection.info["exams.prepared"] = {}
    transformer = statements.get(name)
    fresh = transformer is None
    if fresh:
        prepared = pgconn.prepare(name, sql.encode())
        if prepared.status != pq.ExecStatus.COMMAND_OK and _sqlstate(prepared) != _DUPLICATE_PREPARED_STATEMENT:
            raise _Unprepared(prepared.error_message)
        transformer = Transformer(driver)
    params = transformer.dump_sequence(args, [PyFormat.TEXT] * len(args)) if args else None
    result = pgconn.exec_prepared(name, params)
    if result.status != pq.ExecStatus.TUPLES_OK:
        statements.pop(name, None)  # gone (deallocated) or stale (a column changed type): prepared anew next time
        if _sqlstate(result) == _STALE_PREPARED_STATEMENT:
            pgconn.exec_(b"DEALLOCATE " + name)
        raise _Unprepared(result.error_message)
    transformer.set_pgresult(result, set_loaders=fresh)  # the loaders for its columns' types, found once
    if fresh:
        statements[name] = transformer
    return transformer.load_row(0, tuple) if result.ntuples else None


class _Prepared:
    """A plain read compiled once per dialect and run by the driver itself.

    Running a pre-built statement through SQLAlchemy costs several times what the query costs on an index
    (its cache key, execution context and result object: ≈ 0.2 ms of CPU). These reads are plain SELECTs
    that need no transaction; they run on ``UnitDatabase.reader()`` (the thread's read connection, or the
    session's once the unit has one, so inside its transaction once it wrote), with SQLAlchemy's bind and
    result conversions for the dialect (SQLite's dates, booleans). On PostgreSQL each is a prepared
    statement of the connection, run through libpq (``_run_prepared_on_libpq``); elsewhere a cursor runs it.
    """

    __slots__ = ("statement", "_by_dialect", "_name")
    _names = itertools.count(1)

    def __init__(self, statement):
        self.statement = statement
        self._by_dialect: dict = {}
        self._name = f"exams_read_{next(self._names)}".encode()

    def compiled(self, dialect):
        found = self._by_dialect.get(dialect.name)
        if found is None:
            run, writer = _run_on_cursor, dialect
            if dialect.driver == "psycopg":
                run, writer = _run_prepared_on_libpq, type(dialect)(paramstyle="numeric_dollar")  # $1 placeholders
            compiled = self.statement.compile(dialect=writer)
            names = tuple(compiled.positiontup) if compiled.positional else None
            binds = {name: proc for name, proc in (compiled._bind_processors or {}).items() if proc is not None}
            columns = [(entry.keyname, entry.type._cached_result_processor(dialect, None))
                       for entry in compiled._result_columns]
            defaults = dict(compiled.params)  # LIMIT's value and the like
            found = self._by_dialect[dialect.name] = (compiled.string, names, binds, columns, defaults, run)
        return found

    def first(self, database: UnitDatabase, params: dict):
        connection = database.reader()
        sql, names, binds, columns, defaults, run = self.compiled(connection.dialect)
        params = {**defaults, **params}
        if binds:
            params = {k: (binds[k](v) if k in binds else v) for k, v in params.items()}
        args = tuple(params[name] for name in names) if names is not None else params
        try:
            if connection._has_events or connection.engine._has_events:  # the engine's listeners see it too
                connection.dispatch.before_cursor_execute(connection, None, sql, args, None, False)
            values = run(connection, sql, args, self._name)
        except Exception:
            # A driver error (a connection lost, say): again through SQLAlchemy, which knows how to deal with it,
            # on a new connection when this one was the thread's read connection.
            connection = database.read_failed(connection) or connection
            return connection.execute(self.statement, params).first()
        if values is None:
            return None
        return _Row({key: (process(value) if process is not None and value is not None else value)
                     for (key, process), value in zip(columns, values)})


_USER_BY_ID, _USER_BY_USERNAME, _HAS_COURSE_ROLE, _PROVIDER_BY_ID, _EXAM_BY_ID, _ACTIVE_EXAM_FOR_CONTENT, \
    _CONFIG_BY_COURSE, _ATTEMPT_BY_ID, _LATEST_ATTEMPT, _ACTIVE_ATTEMPT, _ACTIVE_ATTEMPT_WITH_EXAM, \
    _EXAM_AT_CONTENT_WITH_ATTEMPT, _EXAM_SCREEN, _ALLOWANCE_FOR_USER_EXAM = (
        _Prepared(stmt) for stmt in (
            _USER_BY_ID, _USER_BY_USERNAME, _HAS_COURSE_ROLE, _PROVIDER_BY_ID, _EXAM_BY_ID, _ACTIVE_EXAM_FOR_CONTENT,
            _CONFIG_BY_COURSE, _ATTEMPT_BY_ID, _LATEST_ATTEMPT, _ACTIVE_ATTEMPT, _ACTIVE_ATTEMPT_WITH_EXAM,
            _EXAM_AT_CONTENT_WITH_ATTEMPT, _EXAM_SCREEN, _ALLOWANCE_FOR_USER_EXAM))


def _upsert(session: Session, table, values: dict, keys: list[str], update_cols: list[str] | None,
            returning=None):
    stmt = insert_on_conflict(session, table, values, keys, update_cols)
    return session.execute(stmt if returning is None else stmt.returning(returning))


class _Repo:
    def __init__(self, session: Session | UnitDatabase, clock: Clock = SYSTEM_CLOCK):
        self._database = UnitDatabase.of(session)
        self._now = clock.now

    @property
    def session(self) -> Session:
        return self._database.session

    def _one(self, stmt, params=None):
        if isinstance(stmt, _Prepared):
            return stmt.first(self._database, params)
        return self.session.execute(stmt, params).first()


# ---------------------------------------------------------------------------------------------
def _user(row) -> User:
    return User(id=row.id, username=row.username, email=row.email, full_name=row.full_name,
                lms_user_id=row.lms_user_id, is_staff=row.is_staff, is_active=row.is_active,
                anonymous_user_id=row.anonymous_user_id)


class SqlUserRepository(_Repo):
    def get(self, user_id):
        row = self._one(_USER_BY_ID, {"id": user_id})
        return _user(row) if row else None

    def get_by_username(self, username):
        row = self._one(_USER_BY_USERNAME, {"username": username})
        return _user(row) if row else None

    def get_by_email(self, email):
        row = self._one(select(t.users).where(t.users.c.email == email).order_by(t.users.c.id).limit(1))
        return _user(row) if row else None

    def get_by_anonymous_id(self, anonymous_user_id):
        row = self._one(select(t.users).where(t.users.c.anonymous_user_id == str(anonymous_user_id)))
        return _user(row) if row else None

    def ensure(self, user):
        now = self._now()
        # ON CONFLICT DO NOTHING: two first requests of a new learner both succeed.
        _upsert(self.session, t.users, dict(
            username=user.username, email=user.email, full_name=user.full_name, lms_user_id=user.lms_user_id,
            is_staff=user.is_staff, is_active=user.is_active, anonymous_user_id=user.anonymous_user_id,
            created=now, modified=now), ["username"], None)
        return self.get_by_username(user.username)

    def save(self, user):
        self.session.execute(update(t.users).where(t.users.c.id == user.id).values(
            email=user.email, full_name=user.full_name, lms_user_id=user.lms_user_id,
            is_staff=user.is_staff, is_active=user.is_active, modified=self._now()))


class SqlStaffRoleRepository(_Repo):
    def has_course_role(self, user_id, course_id):
        return self._one(_HAS_COURSE_ROLE, {"user_id": user_id, "course_id": course_id}) is not None

    def _match(self, user_id, course_id, role):
        c = t.course_staff_roles.c
        return and_(c.user_id == user_id, c.course_id == course_id,
                    c.role.is_(None) if role is None else c.role == role)

    def add(self, user_id, course_id, role):
        if self._one(select(t.course_staff_roles.c.id).where(self._match(user_id, course_id, role))):
            return False
        result = _upsert(self.session, t.course_staff_roles,
                         dict(user_id=user_id, course_id=course_id, role=role, created=self._now()),
                         ["user_id", "course_id", "role"], None, returning=t.course_staff_roles.c.id)
        return result.first() is not None

    def remove(self, user_id, course_id, role):
        return self.session.execute(delete(t.course_staff_roles).where(
            self._match(user_id, course_id, role))).rowcount > 0

    def roles(self, user_id, course_id):
        c = t.course_staff_roles.c
        return [r.role for r in self.session.execute(
            select(c.role).where(c.user_id == user_id, c.course_id == course_id).order_by(c.id))]

    def listing(self, course_id=None):
        c, u = t.course_staff_roles.c, t.users.c
        stmt = select(u.username, c.course_id, c.role).join(t.users, u.id == c.user_id)
        if course_id is not None:
            stmt = stmt.where(c.course_id == course_id)
        rows = self.session.execute(stmt)
        return sorted(((r.username, r.course_id, r.role) for r in rows), key=lambda r: (r[1], r[0], r[2] or ""))


# ---------------------------------------------------------------------------------------------
def _provider(row) -> Provider:
    return Provider(id=row.id, name=row.name, verbose_name=row.verbose_name,
                    lti_configuration_id=row.lti_configuration_id, org_key=row.org_key,
                    tech_support_phone=row.tech_support_phone, tech_support_email=row.tech_support_email,
                    tech_support_url=row.tech_support_url, is_active=row.is_active)


class SqlProviderRepository(_Repo):
    def get(self, provider_id):
        row = self._one(_PROVIDER_BY_ID, {"id": provider_id})
        return _provider(row) if row else None

    def get_by_name(self, name):
        row = self._one(select(t.providers).where(t.providers.c.name == name))
        return _provider(row) if row else None

    def list(self, org=None, include_disabled=False):
        stmt = select(t.providers).order_by(t.providers.c.id)
        if not include_disabled:
            stmt = stmt.where(t.providers.c.is_active)
        if org is not None:
            stmt = stmt.where((t.providers.c.org_key == org) | t.providers.c.org_key.is_(None))
        return [_provider(r) for r in self.session.execute(stmt)]

    def add(self, provider):
        now = self._now()
        try:
            new_id = self.session.execute(insert(t.providers).values(
                name=provider.name, verbose_name=provider.verbose_name,
                lti_configuration_id=provider.lti_configuration_id, org_key=provider.org_key,
                tech_support_phone=provider.tech_support_phone, tech_support_email=provider.tech_support_email,
                tech_support_url=provider.tech_support_url, is_active=provider.is_active, created=now,
                modified=now)).inserted_primary_key[0]
        except IntegrityError:
            raise Conflict(f"A provider named {provider.name!r} already exists.") from None
        return self.get(new_id)

    def save(self, provider):
        self.session.execute(update(t.providers).where(t.providers.c.id == provider.id).values(
            verbose_name=provider.verbose_name, lti_configuration_id=provider.lti_configuration_id,
            org_key=provider.org_key, tech_support_phone=provider.tech_support_phone,
            tech_support_email=provider.tech_support_email, tech_support_url=provider.tech_support_url,
            is_active=provider.is_active, modified=self._now()))

    def _users_of(self, provider_id):
        return union(select(t.course_configs.c.course_id).where(t.course_configs.c.provider_id == provider_id),
                     select(t.exams.c.course_id).where(t.exams.c.provider_id == provider_id))

    def courses_using(self, provider_id):
        return sorted(r[0] for r in self.session.execute(self._users_of(provider_id)))

    def remove(self, provider_id):
        # One statement: the foreign keys cascade, so a provider still named anywhere must not be deleted.
        return self.session.execute(delete(t.providers).where(
            t.providers.c.id == provider_id,
            ~exists().where(t.course_configs.c.provider_id == provider_id),
            ~exists().where(t.exams.c.provider_id == provider_id))).rowcount > 0


# ---------------------------------------------------------------------------------------------
def _exam(row) -> Exam:
    return Exam(id=row.id, course_id=row.course_id, content_id=row.content_id, exam_name=row.exam_name,
                exam_type=ExamType(row.exam_type), time_limit_mins=row.time_limit_mins, due_date=row.due_date,
                hide_after_due=row.hide_after_due, is_active=row.is_active, provider_id=row.provider_id,
                resource_id=row.resource_id)


def _prefixed_provider(row) -> Provider | None:
    """The provider of a row that also holds other tables' columns (``x_provider_<name>``), None when absent."""
    m = row._mapping
    if m["x_provider_id"] is None:
        return None
    return Provider(id=m["x_provider_id"], name=m["x_provider_name"], verbose_name=m["x_provider_verbose_name"],
                    lti_configuration_id=m["x_provider_lti_configuration_id"], org_key=m["x_provider_org_key"],
                    tech_support_phone=m["x_provider_tech_support_phone"],
                    tech_support_email=m["x_provider_tech_support_email"],
                    tech_support_url=m["x_provider_tech_support_url"], is_active=m["x_provider_is_active"])


def _prefixed_exam(row) -> Exam:
    """The exam of a row that also holds an attempt's columns (the exam's are labelled ``x_exam_<name>``)."""
    m = row._mapping
    return Exam(id=m["x_exam_id"], course_id=m["x_exam_course_id"], content_id=m["x_exam_content_id"],
                exam_name=m["x_exam_exam_name"], exam_type=ExamType(m["x_exam_exam_type"]),
                time_limit_mins=m["x_exam_time_limit_mins"], due_date=m["x_exam_due_date"],
                hide_after_due=m["x_exam_hide_after_due"], is_active=m["x_exam_is_active"],
                provider_id=m["x_exam_provider_id"], resource_id=m["x_exam_resource_id"])


def _exam_values(exam: Exam) -> dict:
    return dict(course_id=exam.course_id, content_id=exam.content_id, exam_name=exam.exam_name,
                exam_type=exam.exam_type.value, time_limit_mins=exam.time_limit_mins, due_date=exam.due_date,
                hide_after_due=exam.hide_after_due, is_active=exam.is_active, provider_id=exam.provider_id,
                resource_id=exam.resource_id)


class SqlExamRepository(_Repo):
    def get(self, exam_id):
        row = self._one(_EXAM_BY_ID, {"id": exam_id})
        return _exam(row) if row else None

    def active_for_content(self, content_id):
        row = self._one(_ACTIVE_EXAM_FOR_CONTENT, {"content_id": content_id})
        return _exam(row) if row else None

    def active_in_course(self, course_id):
        return [_exam(r) for r in self.session.execute(
            select(t.exams).where(t.exams.c.course_id == course_id, t.exams.c.is_active).order_by(t.exams.c.id))]

    # No savepoints: a Conflict fails the use case and the whole transaction is rolled back. (On SQLite a
    # savepoint that opens the transaction commits when released, outside the request's transaction.)
    def add(self, exam):
        now = self._now()
        try:
            exam.id = self.session.execute(
                insert(t.exams).values(**_exam_values(exam), created=now, modified=now)).inserted_primary_key[0]
        except IntegrityError:
            raise Conflict(f"An active exam already exists for content_id={exam.content_id}.") from None
        return exam

    def save(self, exam):
        try:
            self.session.execute(update(t.exams).where(t.exams.c.id == exam.id).values(
                **_exam_values(exam), modified=self._now()))
        except IntegrityError:
            raise Conflict(f"An active exam already exists for content_id={exam.content_id}.") from None


class SqlCourseConfigRepository(_Repo):
    def get(self, course_id):
        row = self._one(_CONFIG_BY_COURSE, {"course_id": course_id})
        if row is None:
            return None
        return CourseConfig(course_id=row.course_id, provider_id=row.provider_id,
                            escalation_email=row.escalation_email, allow_opt_out=row.allow_opt_out)

    def put(self, config):
        now = self._now()
        _upsert(self.session, t.course_configs, dict(
            course_id=config.course_id, provider_id=config.provider_id, escalation_email=config.escalation_email,
            allow_opt_out=config.allow_opt_out, created=now, modified=now),
            ["course_id"], ["provider_id", "escalation_email", "allow_opt_out", "modified"])


# ---------------------------------------------------------------------------------------------
def _attempt(row) -> Attempt:
    return Attempt(id=row.id, user_id=row.user_id, exam_id=row.exam_id, status=AttemptStatus(row.status),
                   attempt_number=row.attempt_number, start_time=row.start_time, end_time=row.end_time,
                   allowed_time_limit_mins=row.allowed_time_limit_mins, created=row.created, modified=row.modified)


class SqlAttemptRepository(_Repo):
    def get(self, attempt_id, for_update=False):
        row = self._one(_ATTEMPT_BY_ID_FOR_UPDATE if for_update else _ATTEMPT_BY_ID, {"id": attempt_id})
        return _attempt(row) if row else None

    def latest_for(self, user_id, exam_id):
        row = self._one(_LATEST_ATTEMPT, {"user_id": user_id, "exam_id": exam_id})
        return _attempt(row) if row else None

    def active_for_user(self, user_id):
        row = self._one(_ACTIVE_ATTEMPT, {"user_id": user_id})
        return _attempt(row) if row else None

    def active_with_exam(self, user_id):
        row = self._one(_ACTIVE_ATTEMPT_WITH_EXAM, {"user_id": user_id})
        return (_attempt(row), _prefixed_exam(row)) if row else None

    def at_content(self, user_id, content_id):
        row = self._one(_EXAM_AT_CONTENT_WITH_ATTEMPT, {"user_id": user_id, "content_id": content_id})
        if row is None:
            return None
        return _prefixed_exam(row), (_attempt(row) if row.id is not None else None)

    def exam_screen(self, user_id, content_id):
        row = self._one(_EXAM_SCREEN, {"user_id": user_id, "content_id": content_id})
        if row is None:
            return None
        return (_prefixed_exam(row), _attempt(row) if row.id is not None else None, _prefixed_provider(row),
                row.x_extra_time_mins or 0)

    def find(self, anonymous_user_id, resource_id, attempt_number, registration_id):
        """The attempt a vendor names by (LTI sub, resource link id, attempt number), of its own exams."""
        stmt = (select(t.attempts).join(t.users, t.users.c.id == t.attempts.c.user_id)
                .join(t.exams, t.exams.c.id == t.attempts.c.exam_id)
                .join(t.providers, t.providers.c.id == t.exams.c.provider_id)
                .where(t.users.c.anonymous_user_id == str(anonymous_user_id), t.exams.c.resource_id == resource_id,
                       t.attempts.c.attempt_number == attempt_number,
                       t.providers.c.lti_configuration_id == registration_id))
        rows = self.session.execute(stmt.limit(2)).all()
        return _attempt(rows[0]) if len(rows) == 1 else None

    def _values(self, a: Attempt) -> dict:
        return dict(status=a.status.value, start_time=a.start_time, end_time=a.end_time,
                    allowed_time_limit_mins=a.allowed_time_limit_mins, deadline=a.deadline(),
                    modified=a.modified or self._now())

    def add(self, attempt):
        # No savepoint: on a conflict the use case fails and the whole transaction is rolled back.
        try:
            attempt.id = self.session.execute(insert(t.attempts).values(
                user_id=attempt.user_id, exam_id=attempt.exam_id, attempt_number=attempt.attempt_number,
                created=attempt.created or self._now(), **self._values(attempt))).inserted_primary_key[0]
        except IntegrityError:
            raise Conflict("The learner already has an attempt at this exam.") from None
        self._record(attempt)
        return attempt

    def save(self, attempt):
        try:
            self.session.execute(update(t.attempts).where(t.attempts.c.id == attempt.id)
                                 .values(**self._values(attempt)))
        except IntegrityError:
            raise Conflict("The learner already has an active attempt.") from None
        self._record(attempt)

    def _record(self, attempt: Attempt) -> None:
        if not attempt.changes:
            return
        self.session.execute(insert(t.attempt_history), [
            dict(attempt_id=attempt.id, user_id=attempt.user_id, exam_id=attempt.exam_id,
                 from_status=c.from_status.value if c.from_status else None, to_status=c.to_status.value,
                 actor_id=c.actor_id, at=c.at) for c in attempt.changes])
        attempt.changes.clear()

    def delete(self, attempt):
        self.session.execute(delete(t.control_results).where(t.control_results.c.attempt_id == attempt.id))
        self.session.execute(delete(t.attempts).where(t.attempts.c.id == attempt.id))

    def list_for_exam(self, exam_id, limit, offset):
        count = self.session.execute(
            select(func.count()).select_from(t.attempts).where(t.attempts.c.exam_id == exam_id)).scalar_one()
        rows = self.session.execute(
            select(t.attempts, t.users.c.username, t.users.c.email, t.users.c.full_name, t.users.c.lms_user_id,
                   t.users.c.is_staff, t.users.c.is_active, t.users.c.anonymous_user_id)
            .join(t.users, t.users.c.id == t.attempts.c.user_id)
            .where(t.attempts.c.exam_id == exam_id)
            .order_by(t.attempts.c.created.desc(), t.attempts.c.id.desc()).limit(limit).offset(offset))
        out = []
        for r in rows:
            out.append((_attempt(r), User(id=r.user_id, username=r.username, email=r.email, full_name=r.full_name,
                                          lms_user_id=r.lms_user_id, is_staff=r.is_staff, is_active=r.is_active,
                                          anonymous_user_id=r.anonymous_user_id)))
        return count, out

    def users_with_attempts(self, exam_id):
        return [_user(r) for r in self.session.execute(
            select(t.users).where(t.users.c.id.in_(select(t.attempts.c.user_id).where(t.attempts.c.exam_id == exam_id)))
            .order_by(t.users.c.id))]

    def expired_ids(self, now, limit):
        c = t.attempts.c
        # No deadline: moved to ready_to_submit without ever starting, so no time is left.
        return list(self.session.execute(
            select(c.id).where(c.status.in_(ACTIVE), or_(c.deadline.is_(None), c.deadline <= now))
            .order_by(c.deadline, c.id).limit(limit)).scalars())

    def history(self, attempt_id):
        h = t.attempt_history.c
        return [StatusChange(attempt_id, AttemptStatus(r.from_status) if r.from_status else None,
                             AttemptStatus(r.to_status), r.actor_id, r.at)
                for r in self.session.execute(select(t.attempt_history).where(h.attempt_id == attempt_id)
                                              .order_by(h.id))]


class SqlAllowanceRepository(_Repo):
    def _allowance(self, row):
        return Allowance(id=row.id, user_id=row.user_id, exam_id=row.exam_id, extra_time_mins=row.extra_time_mins)

    def get(self, allowance_id):
        row = self._one(select(t.allowances).where(t.allowances.c.id == allowance_id))
        return self._allowance(row) if row else None

    def for_user_exam(self, user_id, exam_id):
        row = self._one(_ALLOWANCE_FOR_USER_EXAM, {"user_id": user_id, "exam_id": exam_id})
        return self._allowance(row) if row else None

    def list_for_course(self, course_id):
        a, u, e = t.allowances, t.users, t.exams
        rows = self.session.execute(
            select(a.c.id, a.c.user_id, a.c.exam_id, a.c.extra_time_mins, u.c.username, u.c.email,
                   e.c.exam_name, e.c.course_id, e.c.content_id, e.c.exam_type, e.c.time_limit_mins)
            .join(u, u.c.id == a.c.user_id).join(e, e.c.id == a.c.exam_id)
            .where(e.c.course_id == course_id).order_by(a.c.id))
        return [(self._allowance(r), User(id=r.user_id, username=r.username, email=r.email),
                 Exam(id=r.exam_id, course_id=r.course_id, content_id=r.content_id, exam_name=r.exam_name,
                      exam_type=ExamType(r.exam_type), time_limit_mins=r.time_limit_mins)) for r in rows]

    def upsert(self, allowances: Iterable[Allowance]):
        now = self._now()
        for allowance in allowances:
            _upsert(self.session, t.allowances, dict(
                user_id=allowance.user_id, exam_id=allowance.exam_id, extra_time_mins=allowance.extra_time_mins,
                created=now, modified=now), ["user_id", "exam_id"], ["extra_time_mins", "modified"])

    def delete(self, allowance):
        self.session.execute(delete(t.allowances).where(t.allowances.c.id == allowance.id))


class SqlControlResultRepository(_Repo):
    def _result(self, row):
        return ControlResult(id=row.id, attempt_id=row.attempt_id, action_type=row.action_type,
                             incident_time=row.incident_time, severity=Decimal(row.severity).quantize(Decimal("0.01")),
                             reason_code=row.reason_code)

    def add(self, result):
        new_id = self.session.execute(insert(t.control_results).values(
            attempt_id=result.attempt_id, action_type=result.action_type, incident_time=result.incident_time,
            severity=result.severity, reason_code=result.reason_code, created=self._now())).inserted_primary_key[0]
        return ControlResult(new_id, result.attempt_id, result.action_type, result.incident_time,
                             result.severity, result.reason_code)

    def first_for_attempts(self, attempt_ids):
        if not attempt_ids:
            return {}
        c = t.control_results.c
        firsts = (select(func.min(c.id)).where(c.attempt_id.in_(attempt_ids), c.action_type == REVIEW_ACTION)
                  .group_by(c.attempt_id))
        rows = self.session.execute(select(t.control_results).where(c.id.in_(firsts)))
        return {r.attempt_id: self._result(r) for r in rows}

    def for_attempt(self, attempt_id):
        c = t.control_results.c
        return [self._result(r) for r in self.session.execute(
            select(t.control_results).where(c.attempt_id == attempt_id).order_by(c.id))]


class _Each:
    """A repository of ``SqlRepositories``, made on first use (a learner's read needs one or two of eight)."""

    def __init__(self, repository: type[_Repo]):
        self.repository = repository

    def __set_name__(self, owner, name: str) -> None:
        self.name = name

    def __get__(self, repos, owner=None):
        if repos is None:
            return self
        made = repos.__dict__[self.name] = self.repository(repos._database, repos._clock)
        return made


class SqlRepositories:
    """All repositories over one session (one unit of work)."""

    users = _Each(SqlUserRepository)
    staff_roles = _Each(SqlStaffRoleRepository)
    providers = _Each(SqlProviderRepository)
    exams = _Each(SqlExamRepository)
    configs = _Each(SqlCourseConfigRepository)
    attempts = _Each(SqlAttemptRepository)
    allowances = _Each(SqlAllowanceRepository)
    control_results = _Each(SqlControlResultRepository)

    def __init__(self, session: Session | UnitDatabase, clock: Clock = SYSTEM_CLOCK):
        self._database = UnitDatabase.of(session)
        self._clock = clock

    @property
    def session(self) -> Session:
        return self._database.session

    def ping(self) -> None:
        self.session.execute(text("SELECT 1"))
