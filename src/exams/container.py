"""The dependency-injection container: the one place that knows which adapter serves which port.

Tests swap an adapter with ``container.<provider>.override(providers.Object(fake))``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import socket
import uuid
from typing import Any, Callable, TypeVar

import transaction
from dependency_injector import containers, providers

from exams.adapters.lti import JwcryptoLtiPlatform, UrllibKeysetFetcher, render_autosubmit_form
from exams.adapters.lti.vendor import LtiProctoringVendor
from exams.adapters.sql.lti_repositories import LtiRepositories
from exams.adapters.lms.connection import redis_client as make_redis_client
from exams.adapters.lms.connection import stream_status
from exams.adapters.lms.redis_bus import RedisEventBus, RedisRoleEventReader
from exams.adapters.lms.wire import LmsEventEncoder
from exams.adapters.sql.outbox import SqlEventInbox, SqlOutbox
from exams.adapters.sql.repositories import SqlRepositories
from exams.adapters.sql.session import database_reachable, make_engine, make_session_factory, session_in_transaction
from exams.adapters.system import SystemClock
from exams.adapters.tokens.access_tokens import JwcryptoAccessTokenSigner, load_or_create_key
from exams.adapters.tokens.lms_jwt import JwcryptoJwtVerifier
from exams.ports.events import EXAM_ATTEMPT_TOPIC
from exams.ports.outcomes import CompositeOutcomeSink
from exams.services.acs import AcsService
from exams.services.attempts import AttemptService
from exams.services.events import EventOutcomeSink, EventUnit, OutboxOperator, OutboxRelay
from exams.services.exams import ExamService
from exams.services.lti import LtiConfig, LtiService
from exams.services.roles import RoleConsumer
from exams.services.users import UserService
from exams.settings import Settings

T = TypeVar("T")


# -- legacy edx-proctoring forwarding (docs/lms.md) -----------------------------------------------
def _legacy_proctoring(s: Settings):
    """The edx-proctoring client, or None when no OAuth2 client is configured (nothing is forwarded)."""
    from exams.adapters.lms_http import LmsLegacyProctoring
    from exams.settings import SettingsError

    if not s["exams.lms.oauth_client_id"]:
        return None
    if not s["exams.lms.oauth_client_secret"]:
        raise SettingsError("Missing setting 'exams.lms.oauth_client_secret' (required with "
                            "exams.lms.oauth_client_id; environment variable EXAMS_LMS_OAUTH_CLIENT_SECRET).")
    return LmsLegacyProctoring(s["exams.lms_root_url"], s["exams.lms.oauth_client_id"],
                               s["exams.lms.oauth_client_secret"], timeout=s["exams.lms.timeout"])


# -- learner emails (docs/lms.md) -------------------------------------------------------------------
def _mailer(s: Settings):
    """The mail adapter, or None when learner emails are off (exams.email.backend = none)."""
    from exams.adapters.mail.files import FileMailer
    from exams.adapters.mail.smtp import SmtpMailer
    from exams.settings import SettingsError

    backend = s["exams.email.backend"]
    if backend == "none":
        return None
    if not s["exams.email.from_address"]:
        raise SettingsError(f"Missing setting 'exams.email.from_address' (required with exams.email.backend = "
                            f"{backend}; environment variable EXAMS_EMAIL_FROM_ADDRESS).")
    if backend == "file":
        return FileMailer(s["exams.email.file_dir"], from_address=s["exams.email.from_address"])
    if s["exams.email.smtp_use_tls"] and s["exams.email.smtp_use_ssl"]:
        raise SettingsError("Settings 'exams.email.smtp_use_tls' (STARTTLS) and 'exams.email.smtp_use_ssl' "
                            "(implicit TLS) exclude each other.")
    return SmtpMailer(s["exams.email.smtp_host"], s["exams.email.smtp_port"],
                      from_address=s["exams.email.from_address"], use_tls=s["exams.email.smtp_use_tls"],
                      use_ssl=s["exams.email.smtp_use_ssl"], username=s["exams.email.smtp_username"],
                      password=s["exams.email.smtp_password"], timeout=s["exams.email.smtp_timeout"])


def _learner_emails(settings: Settings, mailer, clock, sender, session):
    """The learner-email sink of one unit of work (None when emails are off).

    Its messages go to the outbox in the session's transaction; an after-commit hook of that transaction
    wakes the sender, so a message leaves at once, and only once its attempt change is committed.
    """
    from exams.adapters.sql.mail_outbox import SqlMailOutbox
    from exams.services.mail import LearnerEmails

    if mailer is None:
        return None
    manager = session.info.get("transaction_manager")

    def wake_sender_after_commit() -> None:
        if manager is not None and sender is not None:
            manager.get().addAfterCommitHook(lambda committed: sender.wake() if committed else None)

    return LearnerEmails(SqlMailOutbox(session), SqlRepositories(session).configs, clock,
                         learning_mfe_url=settings["exams.learning_mfe_url"],
                         lms_root_url=settings["exams.lms_root_url"], on_enqueued=wake_sender_after_commit)


def build_mail_delivery(container: "Container"):
    """Delivery of the mail outbox (the sender thread, `exams mail send`); None when emails are off."""
    from exams.adapters.sql.mail_outbox import SqlMailOutbox
    from exams.services.mail import MailDelivery

    mailer = container.mailer()
    if mailer is None:
        return None

    def transactions(work):
        return run_in_transaction(container, lambda services: work(SqlMailOutbox(services.session)))

    return MailDelivery(transactions, mailer, container.clock())


def _mail_sender(container: "Container"):
    from exams.services.mail import BackgroundMailSender

    delivery = build_mail_delivery(container)
    if delivery is None:
        return None
    return BackgroundMailSender(delivery, interval=container.settings()["exams.email.send_interval"] or 30)


def _access_token_key(configured: dict | None, key_file: str) -> dict:
    return configured if configured else load_or_create_key(key_file)


def _lti_launch_cookie_secret(s: Settings) -> str:
    """The configured secret, else one derived from the access-token key (which every process shares)."""
    if s["exams.lti.launch_cookie_secret"]:
        return s["exams.lti.launch_cookie_secret"]
    key = _access_token_key(s["exams.access_token.private_jwk"], s["exams.access_token.key_file"])
    material = json.dumps(key, sort_keys=True).encode("utf-8")
    return hmac.new(material, b"exams.lti.launch_cookie", hashlib.sha256).hexdigest()


def _lti_platform(s: Settings, clock, keyset_fetcher) -> JwcryptoLtiPlatform:
    return JwcryptoLtiPlatform(s["exams.root_url"], platform_name=s["exams.lti.platform_name"] or None,
                               clock=lambda: clock.now().timestamp(), keyset_fetcher=keyset_fetcher)


# -- event bus (docs/events.md) ---------------------------------------------------------------------------------------
def _event_outcomes(settings: Settings, encoder, clock, session):
    """The attempt-event sink of one unit of work; nothing at all when no bus is configured."""
    if settings["exams.event_bus.backend"] == "none":
        return None
    return EventOutcomeSink(SqlOutbox(session), encoder, clock, source=settings["exams.event_bus.source"])


def _outcome_sinks(*sink_factories, session) -> CompositeOutcomeSink:
    """Every outcome sink of one unit of work (attempt events, learner emails, ...); a factory may give None."""
    return CompositeOutcomeSink([s for s in (make(session=session) for make in sink_factories) if s is not None])


def _dedupe_ttl_seconds(retention_days: int) -> int:
    # A replay without --force must stay a no-op for as long as published events are kept.
    return max(14, retention_days + 1) * 24 * 3600


def _kafka_event_bus(settings: Settings):
    """The Kafka bus (confluent-kafka is an extra: `pip install exams[kafka]`)."""
    from exams.adapters.lms.kafka_bus import KafkaEventBus

    k = "exams.event_bus.kafka."
    return KafkaEventBus(settings[k + "bootstrap_servers"], settings[k + "schema_registry_url"],
                         topic_prefix=settings["exams.event_bus.topic_prefix"] or None,
                         api_key=settings[k + "api_key"], api_secret=settings[k + "api_secret"],
                         schema_registry_api_key=settings[k + "schema_registry_api_key"],
                         schema_registry_api_secret=settings[k + "schema_registry_api_secret"])


def _event_bus(settings: Settings, client):
    if settings["exams.event_bus.backend"] == "none":
        return None
    if settings["exams.event_bus.backend"] == "kafka":
        return _kafka_event_bus(settings)
    return RedisEventBus(client(), topic_prefix=settings["exams.event_bus.topic_prefix"] or None,
                         maxlen=settings["exams.event_bus.redis_stream_maxlen"],
                         dedupe_ttl_seconds=_dedupe_ttl_seconds(settings["exams.event_bus.outbox_retention_days"]))


def _role_reader(settings: Settings, client, block_ms: int = 5000):
    if settings["exams.event_bus.backend"] == "none":
        return None
    if settings["exams.event_bus.backend"] == "kafka":
        from exams.settings import SettingsError
        raise SettingsError("Course access role events are read from Redis only; with exams.event_bus.backend = "
                            "kafka there is no role consumer (docs/events.md).")
    return RedisRoleEventReader(client(), topic_prefix=settings["exams.event_bus.topic_prefix"] or None,
                                group=settings["exams.event_bus.role_consumer.group"],
                                consumer_name=settings["exams.event_bus.role_consumer.consumer_name"] or None,
                                block_ms=block_ms)


def relay_owner() -> str:
    """A name for this relay that no other process shares."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"



def _console_session_secret(s: Settings) -> str:
    """The configured secret, else one derived from the access-token key (which every process shares)."""
    if s["exams.console.session_secret"]:
        return s["exams.console.session_secret"]
    key = _access_token_key(s["exams.access_token.private_jwk"], s["exams.access_token.key_file"])
    material = json.dumps(key, sort_keys=True).encode("utf-8")
    return hmac.new(material, b"exams.console.session", hashlib.sha256).hexdigest()

class Container(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)

    engine = providers.Singleton(
        lambda s: make_engine(s["sqlalchemy.url"]), settings)
    session_factory = providers.Singleton(make_session_factory, engine)
    clock = providers.Singleton(SystemClock)
    # None when forwarding to edx-proctoring is not configured.
    legacy_proctoring = providers.Singleton(_legacy_proctoring, settings)
    # Learner emails: the mail adapter and the in-process sender (both None when emails are off), and
    # the outcome sink of one unit of work (called with session=...).
    __self__ = providers.Self()
    mailer = providers.Singleton(_mailer, settings)
    mail_sender = providers.Singleton(_mail_sender, __self__)
    learner_emails = providers.Factory(_learner_emails, settings, mailer, clock, mail_sender)

    jwt_verifier = providers.Singleton(
        lambda s: JwcryptoJwtVerifier(issuer=s["exams.jwt.issuer"], audience=s["exams.jwt.audience"],
                                      secret_key=s["exams.jwt.secret_key"], public_jwks=s["exams.jwt.public_jwks"],
                                      leeway=s["exams.jwt.leeway"]), settings)
    access_tokens = providers.Singleton(
        lambda s: JwcryptoAccessTokenSigner(
            _access_token_key(s["exams.access_token.private_jwk"], s["exams.access_token.key_file"]),
            issuer=s["exams.access_token.issuer"]), settings)

    # LTI 1.3 proctoring platform. Tests swap the tool side with container.lti_platform.override(...).
    lti_keyset_fetcher = providers.Singleton(
        lambda s: UrllibKeysetFetcher(allowed_schemes=("http", "https") if s["exams.lti.allow_http_tool_urls"]
                                      else ("https",)), settings)
    lti_platform = providers.Singleton(_lti_platform, settings, clock, lti_keyset_fetcher)
    lti_config = providers.Singleton(
        lambda s: LtiConfig(root_url=s["exams.root_url"], learning_mfe_url=s["exams.learning_mfe_url"],
                            launch_ttl=s["exams.lti.launch_ttl"], session_ttl=s["exams.lti.session_ttl"],
                            allow_http_tool_urls=s["exams.lti.allow_http_tool_urls"]), settings)
    lti_launch_cookie_secret = providers.Singleton(_lti_launch_cookie_secret, settings)
    lti_form_renderer = providers.Object(render_autosubmit_form)
    # What proctoring vendors speak when they call us (token endpoint, ACS credentials): LTI Advantage.
    # Another vendor protocol is another ProctoringVendor here (docs/architecture.md).
    proctoring_vendor = providers.Singleton(LtiProctoringVendor, platform=lti_platform)

    # Per unit of work: called with session=...
    repositories = providers.Factory(SqlRepositories)

    event_encoder = providers.Singleton(LmsEventEncoder)
    redis_client = providers.Singleton(lambda s: make_redis_client(s["exams.event_bus.redis_url"]), settings)
    event_bus = providers.Singleton(_event_bus, settings, redis_client.provider)
    role_reader = providers.Factory(_role_reader, settings, redis_client.provider)
    # Called with session=...; None when exams.event_bus.backend = none.
    event_outcomes = providers.Factory(_event_outcomes, settings, event_encoder, clock)
    # Called with session=...: every sink of attempt outcomes (add yours as another positional argument).
    outcomes = providers.Factory(_outcome_sinks, event_outcomes.provider, learner_emails.provider)

    lti_repositories = providers.Factory(lambda session, clock: LtiRepositories(session, now=clock.now), clock=clock)
    users = providers.Factory(UserService)
    exams = providers.Factory(ExamService)
    attempts = providers.Factory(AttemptService, clock=clock, access_tokens=access_tokens)
    lti = providers.Factory(LtiService, platform=lti_platform, clock=clock, config=lti_config)
    acs = providers.Factory(AcsService, vendor=proctoring_vendor, clock=clock,
                            issuer=providers.Callable(lambda s: s["exams.root_url"], settings))


class _LazyOutcomes:
    """The outcome sinks (events, emails), built on the first outcome: most requests only read."""

    def __init__(self, build: Callable[[], Any]):
        self._build = build
        self._sink = None

    def _target(self):
        if self._sink is None:
            self._sink = self._build()
        return self._sink

    def status_changed(self, *args, **kwargs) -> None:
        self._target().status_changed(*args, **kwargs)

    def attempt_reset(self, *args, **kwargs) -> None:
        self._target().attempt_reset(*args, **kwargs)


class Services:
    """The use cases of one unit of work (one request, one CLI command), built on demand."""

    def __init__(self, container: Container, session):
        self._container = container
        self.session = session
        self._built: dict[str, Any] = {}

    def _get(self, name: str, factory: Callable[[], T]) -> T:
        if name not in self._built:
            self._built[name] = factory()
        return self._built[name]

    @property
    def repos(self) -> SqlRepositories:
        return self._get("repos", lambda: self._container.repositories(self.session))

    @property
    def legacy_proctoring(self):
        """edx-proctoring in the LMS (ports.legacy.LegacyProctoring), or None when not configured."""
        return self._container.legacy_proctoring()

    @property
    def users(self) -> UserService:
        return self._get("users", lambda: self._container.users(self.repos))

    @property
    def exams(self) -> ExamService:
        return self._get("exams", lambda: self._container.exams(self.repos))

    @property
    def attempts(self) -> AttemptService:
        return self._get("attempts", lambda: self._container.attempts(
            self.repos, outcomes=_LazyOutcomes(lambda: self._container.outcomes(session=self.session))))

    @property
    def lti(self) -> LtiService:
        return self._get("lti", lambda: self._container.lti(
            self.repos, self._container.lti_repositories(self.session), attempts=self.attempts))

    @property
    def acs(self) -> AcsService:
        def build() -> AcsService:
            store = self._container.lti_repositories(self.session)
            return self._container.acs(self.repos, self.attempts, registrations=store.registrations,
                                       nonces=store.nonces)
        return self._get("acs", build)


# -- operators' console (docs/console.md): a separate addition ---------------------------------------------------------
def _console_service(services: "Services"):
    from exams.adapters.sql.console import SqlConsoleStore
    from exams.services.console import ConsoleService

    store = services._container.lti_repositories(services.session)
    return ConsoleService(services.repos, SqlConsoleStore(services.session), services.attempts, services.exams,
                          services.users, services._container.clock(), nonces=store.nonces,
                          lti=lambda: services.lti, events=lambda: build_outbox_operator(services._container),
                          mail=lambda: _mail_outbox(services))


def _mail_outbox(services: "Services"):
    from exams.adapters.sql.mail_outbox import SqlMailOutbox

    return SqlMailOutbox(services.session)


Container.console_session_secret = providers.Singleton(_console_session_secret, Container.settings)
Services.console = property(lambda self: self._get("console", lambda: _console_service(self)))
Services.mail_outbox = property(lambda self: self._get("mail_outbox", lambda: _mail_outbox(self)))
Services.outbox_operator = property(lambda self: build_outbox_operator(self._container))


def build_container(settings: Settings) -> Container:
    container = Container(settings=settings)
    return container


def run_in_transaction(container: Container, work: Callable[[Services], T]) -> T:
    """Run ``work`` in its own transaction (scripts, the sweeper); commit on success, roll back on error."""
    manager = transaction.TransactionManager(explicit=True)
    with manager:
        session = session_in_transaction(container.session_factory(), manager)
        try:
            return work(Services(container, session))
        finally:
            pass


def event_transact(container: Container) -> Callable[[Callable[[EventUnit], T]], T]:
    """Runs event work (relay, role consumer, operator) in its own transaction each time."""
    def transact(work: Callable[[EventUnit], T]) -> T:
        return run_in_transaction(container, lambda s: work(
            EventUnit(outbox=SqlOutbox(s.session), inbox=SqlEventInbox(s.session), repos=s.repos)))
    return transact


def build_relay(container: Container, owner: str | None = None) -> OutboxRelay:
    settings = container.settings()
    return OutboxRelay(transact=event_transact(container), bus=container.event_bus(), clock=container.clock(),
                       owner=owner or relay_owner(),
                       retention_days=settings["exams.event_bus.outbox_retention_days"])


def build_role_consumer(container: Container, block_ms: int = 5000) -> RoleConsumer:
    return RoleConsumer(source=container.role_reader(block_ms=block_ms), transact=event_transact(container),
                        clock=container.clock())


def build_outbox_operator(container: Container) -> OutboxOperator:
    settings = container.settings()
    bus = container.event_bus()
    return OutboxOperator(transact=event_transact(container), clock=container.clock(),
                          encoder=container.event_encoder(), bus=bus,
                          source=settings["exams.event_bus.source"], backend=settings["exams.event_bus.backend"],
                          stream_status=(lambda: stream_status(container.redis_client(),
                                                               bus.stream_for(EXAM_ATTEMPT_TOPIC)))
                          if bus and settings["exams.event_bus.backend"] == "redis" else None)


def database_is_up(container: Container) -> bool:
    return database_reachable(container.engine())
