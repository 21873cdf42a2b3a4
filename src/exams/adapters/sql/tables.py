"""The schema: the only definition of the tables (Alembic's target metadata)."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (BigInteger, Boolean, CheckConstraint, Column, DateTime, ForeignKey, Index, Integer,
                        LargeBinary, MetaData, Numeric, String, Table, Text, UniqueConstraint, text)
from sqlalchemy.types import TypeDecorator

metadata = MetaData(naming_convention={
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
})


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


def _timestamps():
    return (Column("created", UTCDateTime(), nullable=False),
            Column("modified", UTCDateTime(), nullable=False))


ACTIVE_STATUSES = "('started', 'ready_to_submit')"

users = Table(
    "users", metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(150), nullable=False, unique=True),
    Column("email", String(254), nullable=False, server_default=""),
    Column("full_name", String(255), nullable=False, server_default=""),
    Column("lms_user_id", Integer, index=True),
    Column("is_staff", Boolean, nullable=False, server_default=text("false")),
    Column("is_active", Boolean, nullable=False, server_default=text("true")),
    Column("anonymous_user_id", String(36), nullable=False, unique=True),
    *_timestamps(),
)
Index("ix_users_email", users.c.email)

course_staff_roles = Table(
    "course_staff_roles", metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("course_id", String(255), nullable=False),
    Column("role", String(255)),
    Column("created", UTCDateTime(), nullable=False),
    UniqueConstraint("user_id", "course_id", "role", name="uq_course_staff_roles_user_course_role"),
)

providers = Table(
    "proctoring_providers", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("verbose_name", String(255), nullable=False),
    Column("lti_configuration_id", String(255), nullable=False, server_default=""),
    Column("org_key", String(255)),
    Column("tech_support_phone", String(255)),
    Column("tech_support_email", String(255)),
    Column("tech_support_url", String(255)),
    *_timestamps(),
    # A disabled provider is kept (its courses and attempts refer to it) but offered to no course (console).
    Column("is_active", Boolean, nullable=False, server_default=text("true")),
)

exams = Table(
    "exams", metadata,
    Column("id", Integer, primary_key=True),
    Column("resource_id", String(255), nullable=False, index=True),
    Column("course_id", String(255), nullable=False, index=True),
    Column("content_id", String(255), nullable=False),
    Column("provider_id", Integer, ForeignKey("proctoring_providers.id", ondelete="CASCADE")),
    Column("exam_name", Text, nullable=False),
    Column("exam_type", String(32), nullable=False),
    Column("time_limit_mins", Integer, nullable=False),
    Column("due_date", UTCDateTime()),
    Column("hide_after_due", Boolean, nullable=False, server_default=text("false")),
    Column("is_active", Boolean, nullable=False, server_default=text("false")),
    *_timestamps(),
    CheckConstraint("time_limit_mins >= 0", name="time_limit_not_negative"),
    CheckConstraint("exam_type IN ('proctored', 'timed', 'practice', 'onboarding')", name="known_exam_type"),
)
# One active exam per subsection: the rule Studio's registration relies on, kept by the database.
Index("uq_exams_one_active_per_content", exams.c.course_id, exams.c.content_id, unique=True,
      postgresql_where=exams.c.is_active, sqlite_where=exams.c.is_active)
Index("ix_exams_active_content", exams.c.content_id,
      postgresql_where=exams.c.is_active, sqlite_where=exams.c.is_active)

course_configs = Table(
    "course_exam_configurations", metadata,
    Column("id", Integer, primary_key=True),
    Column("course_id", String(255), nullable=False, unique=True),
    Column("provider_id", Integer, ForeignKey("proctoring_providers.id", ondelete="CASCADE")),
    Column("allow_opt_out", Boolean, nullable=False, server_default=text("false")),
    Column("escalation_email", String(254)),
    *_timestamps(),
)

attempts = Table(
    "exam_attempts", metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("exam_id", Integer, ForeignKey("exams.id", ondelete="CASCADE"), nullable=False),
    Column("attempt_number", Integer, nullable=False, server_default=text("1")),
    Column("status", String(64), nullable=False),
    Column("start_time", UTCDateTime()),
    Column("end_time", UTCDateTime()),
    Column("allowed_time_limit_mins", Integer),
    # start_time + allowed minutes, kept so that the sweeper finds overdue attempts by index.
    Column("deadline", UTCDateTime()),
    *_timestamps(),
    # One attempt per learner and exam.
    UniqueConstraint("user_id", "exam_id", name="uq_exam_attempts_user_exam"),
    # Never reuse the id of a reset (deleted) attempt: the history and the outbox name attempts by id.
    sqlite_autoincrement=True,
)
# At most one active attempt per learner, whatever the exam.
Index("uq_exam_attempts_one_active_per_user", attempts.c.user_id, unique=True,
      postgresql_where=text(f"status IN {ACTIVE_STATUSES}"), sqlite_where=text(f"status IN {ACTIVE_STATUSES}"))
Index("ix_exam_attempts_exam_created", attempts.c.exam_id, attempts.c.created)
Index("ix_exam_attempts_overdue", attempts.c.deadline,
      postgresql_where=text(f"status IN {ACTIVE_STATUSES}"), sqlite_where=text(f"status IN {ACTIVE_STATUSES}"))

attempt_history = Table(
    "exam_attempt_history", metadata,
    Column("id", Integer, primary_key=True),
    # No foreign key: the history outlives a reset (deleted) attempt.
    Column("attempt_id", Integer, nullable=False, index=True),
    Column("user_id", Integer, nullable=False),
    Column("exam_id", Integer, nullable=False),
    Column("from_status", String(64)),
    Column("to_status", String(64), nullable=False),
    Column("actor_id", Integer),
    Column("at", UTCDateTime(), nullable=False),
)

allowances = Table(
    "student_allowances", metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("exam_id", Integer, ForeignKey("exams.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("extra_time_mins", Integer, nullable=False),
    *_timestamps(),
    UniqueConstraint("user_id", "exam_id", name="uq_student_allowances_user_exam"),
    CheckConstraint("extra_time_mins >= 0", name="extra_time_not_negative"),
)

control_results = Table(
    "assessment_control_results", metadata,
    Column("id", Integer, primary_key=True),
    Column("attempt_id", Integer, ForeignKey("exam_attempts.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("action_type", String(64), nullable=False),
    Column("incident_time", UTCDateTime(), nullable=False),
    Column("severity", Numeric(3, 2), nullable=False),
    Column("reason_code", String(64), nullable=False),
    Column("created", UTCDateTime(), nullable=False),
)

# -- LTI 1.3 proctoring ------------------------------------------------------------------------
# A proctoring tool registered at this platform (edx-exams: lti_consumer's LtiConfiguration).
# proctoring_providers.lti_configuration_id holds this table's id as a string, as edx-exams does.
lti_registrations = Table(
    "lti_registrations", metadata,
    Column("id", Integer, primary_key=True),
    Column("client_id", String(255), nullable=False, unique=True),
    Column("deployment_id", String(255), nullable=False, server_default="1"),
    Column("oidc_login_url", Text, nullable=False),
    Column("launch_url", Text, nullable=False),
    # JSON list of exact redirect URIs; empty means only launch_url.
    Column("redirect_uris", Text, nullable=False, server_default="[]"),
    Column("tool_jwks_url", Text),
    Column("tool_public_key", Text),
    # Our signing key for this registration (private JWK JSON or PEM) and the kid we publish for it.
    Column("platform_private_key", Text, nullable=False),
    Column("platform_kid", String(255), nullable=False, unique=True),
    Column("created", UTCDateTime(), nullable=False),
    # After a rotation: the previous key's public JWK, published until retiring_until (the grace period).
    Column("retiring_public_jwk", Text),
    Column("retiring_until", UTCDateTime()),
)

# Single-use values (LtiStartAssessment nonces, client assertion jtis), kept until they expire.
lti_nonces = Table(
    "lti_nonces", metadata,
    Column("id", Integer, primary_key=True),
    Column("key", String(100), nullable=False, unique=True),
    Column("expires_at", UTCDateTime(), nullable=False, index=True),
)

# Server-side state of one launch, found by its random, single-use lti_message_hint.
lti_launches = Table(
    "lti_launches", metadata,
    Column("id", Integer, primary_key=True),
    Column("message_hint", String(64), nullable=False, unique=True),
    Column("message_type", String(64), nullable=False),
    Column("registration_id", Integer, ForeignKey("lti_registrations.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("attempt_id", Integer, ForeignKey("exam_attempts.id", ondelete="CASCADE"), index=True),
    Column("exam_id", Integer, ForeignKey("exams.id", ondelete="CASCADE")),
    # SHA-256 of the browser secret in the learner's launch cookie: the launch belongs to that browser.
    Column("browser_binding", String(64), nullable=False),
    Column("session_data", String(128)),
    Column("hint_expires_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False, index=True),
    Column("used", Boolean, nullable=False, server_default=text("false")),
    Column("completed", Boolean, nullable=False, server_default=text("false")),
    Column("end_assessment_return", Boolean, nullable=False, server_default=text("false")),
    Column("created", UTCDateTime(), nullable=False),
)
Index("ix_lti_launches_user_registration", lti_launches.c.user_id, lti_launches.c.registration_id)

# -- event bus -----------------------------------------------------------------------------------
# Exam attempt events for the LMS, written in the transaction of the attempt change and published
# by the relay afterwards (docs/events.md). ``seq`` is the publishing order.
event_outbox = Table(
    "event_outbox", metadata,
    Column("seq", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False, unique=True),  # the idempotency key: Redis `id`
    Column("event_type", String(128), nullable=False),
    Column("topic", String(128), nullable=False),  # unprefixed
    Column("partition_key", String(255), nullable=False),  # the course key: the unit of ordering
    Column("event_time", String(40), nullable=False),  # the exact wire text (+00:00)
    Column("minorversion", Integer, nullable=False, server_default=text("0")),
    Column("source", String(255), nullable=False),
    Column("sourcehost", String(255), nullable=False),
    Column("sourcelib", String(32), nullable=False),
    # The schemaless Avro payload; NULL when the event could not be encoded (see ``unencoded``).
    Column("payload", LargeBinary),
    # JSON facts of an event that could not be encoded (e.g. a user without lms_user_id), to rebuild it.
    Column("unencoded", Text),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("next_attempt_at", UTCDateTime()),
    Column("last_error", Text),
    Column("published_at", UTCDateTime()),
    Column("broker_msg_id", String(64)),
    Column("dead", Boolean, nullable=False, server_default=text("false")),
)
Index("ix_event_outbox_unpublished", event_outbox.c.published_at, event_outbox.c.seq)

# Who may relay: one row per relay kind, taken and renewed by compare-and-set.
event_relay_lease = Table(
    "event_relay_lease", metadata,
    Column("name", String(64), primary_key=True),
    Column("owner", String(255)),
    Column("expires_at", UTCDateTime()),
)

# Course access role events already applied (one row per event id: a redelivery is a no-op).
event_inbox = Table(
    "event_inbox", metadata,
    Column("id", Integer, primary_key=True),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("event_type", String(128), nullable=False),
    Column("message_id", String(64), nullable=False),
    Column("outcome", String(32), nullable=False, server_default=""),
    Column("processed_at", UTCDateTime(), nullable=False),
)

# Incoming messages that could not be applied (undecodable, or failing too often), kept for an operator.
event_inbox_dead = Table(
    "event_inbox_dead", metadata,
    Column("id", Integer, primary_key=True),
    Column("message_id", String(64), nullable=False),
    Column("event_id", String(36)),
    Column("event_type", String(128)),
    Column("error", Text, nullable=False),
    Column("raw", Text, nullable=False, server_default="{}"),  # JSON of the message fields
    Column("times_delivered", Integer, nullable=False, server_default=text("1")),
    Column("created_at", UTCDateTime(), nullable=False),
)

# -- Learner emails ------------------------------------------------------------------------------
# The mail outbox: written in the transaction of the attempt change that causes an email, delivered
# after the commit (exams.services.mail). Sent and failed messages are kept for operators.
mail_outbox = Table(
    "mail_outbox", metadata,
    Column("id", Integer, primary_key=True),
    Column("message_id", String(255), nullable=False, unique=True),
    Column("recipient", String(254), nullable=False),
    Column("subject", String(255), nullable=False),
    Column("body_text", Text, nullable=False),
    Column("body_html", Text, nullable=False),
    Column("reference", String(255), nullable=False, server_default=""),
    Column("state", String(16), nullable=False, server_default="pending"),
    # Delivery attempts so far; a claim increments it, so it also fences a sender that lost its claim.
    Column("tries", Integer, nullable=False, server_default=text("0")),
    Column("next_attempt_at", UTCDateTime(), nullable=False),
    Column("last_error", Text),
    Column("created", UTCDateTime(), nullable=False),
    Column("sent_at", UTCDateTime()),
    CheckConstraint("state IN ('pending', 'sent', 'failed')", name="known_state"),
)
Index("ix_mail_outbox_due", mail_outbox.c.next_attempt_at,
      postgresql_where=text("state = 'pending'"), sqlite_where=text("state = 'pending'"))

# -- Operators' console ---------------------------------------------------------------------------
# Every action taken in the console: who, what, on what, when and why. Rows are only ever added.
console_audit_log = Table(
    "console_audit_log", metadata,
    Column("id", Integer, primary_key=True),
    Column("at", UTCDateTime(), nullable=False, index=True),
    # The operator as they were at the time (no foreign key: the log outlives users).
    Column("actor_id", Integer),
    Column("actor_username", String(150), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", String(255), nullable=False, server_default=""),
    # The course the action was about; NULL for service-wide actions (providers, outboxes, keys).
    Column("course_id", String(255), index=True),
    Column("reason", Text, nullable=False, server_default=""),
    Column("details", Text, nullable=False, server_default="{}"),  # JSON
)
