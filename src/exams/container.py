"""The dependency-injection container: which adapter serves which port, one of each per process.

Every provider here lives as long as the process. The use cases of one unit of work (one request, one
command) are built over its session by ``exams.units.Services`` from these providers. Settings are
already validated (``exams.settings.load``). Tests swap an adapter with
``container.<provider>.override(providers.Object(fake))``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import socket
import uuid

from dependency_injector import containers, providers

from exams.adapters.lms.connection import redis_client as make_redis_client
from exams.adapters.lms.connection import stream_status
from exams.adapters.lms.redis_bus import RedisEventBus, RedisRoleEventReader
from exams.adapters.lms.wire import LmsEventEncoder
from exams.adapters.lms_http import LmsLegacyProctoring
from exams.adapters.lti import JwcryptoLtiPlatform, UrllibKeysetFetcher, render_autosubmit_form
from exams.adapters.lti.vendor import LtiProctoringVendor
from exams.adapters.mail.files import FileMailer
from exams.adapters.mail.smtp import SmtpMailer
from exams.adapters.sql.session import ReadConnections, make_engine, make_session_factory
from exams.adapters.sql.units import SqlEventTransactions, SqlMailTransactions
from exams.adapters.tokens.access_tokens import JwcryptoAccessTokenSigner, load_or_create_key
from exams.adapters.tokens.lms_jwt import JwcryptoJwtVerifier
from exams.delivery.mail import BackgroundMailSender, MailDelivery
from exams.delivery.operator import OutboxOperator
from exams.delivery.relay import OutboxRelay
from exams.delivery.roles import RoleConsumer
from exams.ports.clock import SystemClock
from exams.ports.events import EXAM_ATTEMPT_TOPIC
from exams.services.lti import LtiConfig
from exams.services.users import KnownUsers
from exams.settings import Settings, require_role_events


# -- builders of the adapters a setting chooses ------------------------------------------------------------------------
def _access_token_key(s: Settings) -> dict:
    return s["exams.access_token.private_jwk"] or load_or_create_key(s["exams.access_token.key_file"])


def _derived_secret(s: Settings, key: str, purpose: bytes) -> str:
    """Setting ``key`` when set, else a secret derived from the access-token key (which every process shares)."""
    if s[key]:
        return s[key]
    material = json.dumps(_access_token_key(s), sort_keys=True).encode("utf-8")
    return hmac.new(material, purpose, hashlib.sha256).hexdigest()


def _legacy_proctoring(s: Settings) -> LmsLegacyProctoring | None:
    """edx-proctoring in the LMS (docs/lms.md); None when no OAuth2 client is configured (nothing is forwarded)."""
    if not s["exams.lms.oauth_client_id"]:
        return None
    return LmsLegacyProctoring(s["exams.lms_root_url"], s["exams.lms.oauth_client_id"],
                               s["exams.lms.oauth_client_secret"], timeout=s["exams.lms.timeout"])


def _mailer(s: Settings):
    """Where learner emails go (docs/lms.md); None when they are off (exams.email.backend = none)."""
    e = "exams.email."
    if s[e + "backend"] == "file":
        return FileMailer(s[e + "file_dir"], from_address=s[e + "from_address"])
    if s[e + "backend"] == "smtp":
        return SmtpMailer(s[e + "smtp_host"], s[e + "smtp_port"], from_address=s[e + "from_address"],
                          use_tls=s[e + "smtp_use_tls"], use_ssl=s[e + "smtp_use_ssl"],
                          username=s[e + "smtp_username"], password=s[e + "smtp_password"],
                          timeout=s[e + "smtp_timeout"])
    return None


def _event_bus(s: Settings, redis_client):
    """The bus attempt events go to (docs/events.md); None when there is none."""
    b = "exams.event_bus."
    if s[b + "backend"] == "kafka":
        from exams.adapters.lms.kafka_bus import KafkaEventBus  # confluent-kafka is an extra: exams[kafka]

        k = b + "kafka."
        return KafkaEventBus(s[k + "bootstrap_servers"], s[k + "schema_registry_url"],
                             topic_prefix=s[b + "topic_prefix"] or None, api_key=s[k + "api_key"],
                             api_secret=s[k + "api_secret"], schema_registry_api_key=s[k + "schema_registry_api_key"],
                             schema_registry_api_secret=s[k + "schema_registry_api_secret"])
    if s[b + "backend"] == "redis":
        # A replay without --force must stay a no-op for as long as published events are kept.
        dedupe_days = max(14, s[b + "outbox_retention_days"] + 1)
        return RedisEventBus(redis_client(), topic_prefix=s[b + "topic_prefix"] or None,
                             maxlen=s[b + "redis_stream_maxlen"], dedupe_ttl_seconds=dedupe_days * 24 * 3600)
    return None


def _role_reader(s: Settings, redis_client, block_ms: int = 5000):
    if s["exams.event_bus.backend"] == "none":
        return None
    require_role_events(s)
    return RedisRoleEventReader(redis_client(), topic_prefix=s["exams.event_bus.topic_prefix"] or None,
                                group=s["exams.event_bus.role_consumer.group"],
                                consumer_name=s["exams.event_bus.role_consumer.consumer_name"] or None,
                                block_ms=block_ms)


def _stream_status(s: Settings, redis_client, bus):
    """The operator's view of the Redis stream (length, the LMS group's lag); None with another bus."""
    if bus is None or s["exams.event_bus.backend"] != "redis":
        return None
    return lambda: stream_status(redis_client(), bus.stream_for(EXAM_ATTEMPT_TOPIC))


def relay_owner() -> str:
    """A name for this relay that no other process shares."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"



class Container(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)
    clock = providers.Singleton(SystemClock)

    # The database: built once, at start-up (build_container).
    engine = providers.Singleton(lambda s: make_engine(s["sqlalchemy.url"]), settings)
    session_factory = providers.Singleton(make_session_factory, engine)
    read_connections = providers.Singleton(ReadConnections, engine)  # the learner's reads (docs/performance.md)

    # Signing in: LMS JWTs in, exam access tokens out. Their times are read by other systems (the LMS), so
    # they follow the machine's clock (wall_clock), not the one tests move.
    wall_clock = providers.Singleton(SystemClock)
    jwt_verifier = providers.Singleton(
        lambda s, clock: JwcryptoJwtVerifier(
            issuer=s["exams.jwt.issuer"], audience=s["exams.jwt.audience"], secret_key=s["exams.jwt.secret_key"],
            public_jwks=s["exams.jwt.public_jwks"], leeway=s["exams.jwt.leeway"], clock=clock), settings, wall_clock)
    access_tokens = providers.Singleton(
        lambda s, clock: JwcryptoAccessTokenSigner(_access_token_key(s), issuer=s["exams.access_token.issuer"],
                                                   clock=clock), settings, wall_clock)

    # LTI 1.3 proctoring platform. Tests swap the tool side with container.lti_platform.override(...).
    lti_keyset_fetcher = providers.Singleton(
        lambda s: UrllibKeysetFetcher(allowed_schemes=("http", "https") if s["exams.lti.allow_http_tool_urls"]
                                      else ("https",)), settings)
    lti_platform = providers.Singleton(
        lambda s, clock, fetcher: JwcryptoLtiPlatform(s["exams.root_url"], clock=clock, keyset_fetcher=fetcher,
                                                      platform_name=s["exams.lti.platform_name"] or None),
        settings, clock, lti_keyset_fetcher)
    lti_config = providers.Singleton(
        lambda s: LtiConfig(root_url=s["exams.root_url"], learning_mfe_url=s["exams.learning_mfe_url"],
                            launch_ttl=s["exams.lti.launch_ttl"], session_ttl=s["exams.lti.session_ttl"],
                            allow_http_tool_urls=s["exams.lti.allow_http_tool_urls"]), settings)
    lti_launch_cookie_secret = providers.Singleton(
        _derived_secret, settings, "exams.lti.launch_cookie_secret", b"exams.lti.launch_cookie")
    lti_form_renderer = providers.Object(render_autosubmit_form)
    # What proctoring vendors speak when they call us (token endpoint, ACS credentials): LTI Advantage.
    # Another vendor protocol is another ProctoringVendor here (docs/architecture.md).
    proctoring_vendor = providers.Singleton(LtiProctoringVendor, platform=lti_platform)

    # The users this process provisioned (skips the user read of a request whose claims did not change).
    known_users = providers.Singleton(KnownUsers)

    # edx-proctoring in the LMS, for the courses it still serves (None: nothing is forwarded).
    legacy_proctoring = providers.Singleton(_legacy_proctoring, settings)

    # Learner emails: the mailer, the delivery of the mail outbox and its sender thread (None when off).
    mailer = providers.Singleton(_mailer, settings)
    mail_transactions = providers.Singleton(SqlMailTransactions, session_factory)
    mail_delivery = providers.Singleton(
        lambda mailer, transactions, clock: MailDelivery(transactions, mailer, clock) if mailer else None,
        mailer, mail_transactions, clock)
    mail_sender = providers.Singleton(
        lambda delivery, s: BackgroundMailSender(delivery, interval=s["exams.email.send_interval"] or 30)
        if delivery else None, mail_delivery, settings)

    # The event bus: attempt events out (through the outbox and its relay), course role events in.
    event_encoder = providers.Singleton(LmsEventEncoder)
    redis_client = providers.Singleton(lambda s: make_redis_client(s["exams.event_bus.redis_url"]), settings)
    event_bus = providers.Singleton(_event_bus, settings, redis_client.provider)
    event_transactions = providers.Singleton(SqlEventTransactions, session_factory, clock)
    relay = providers.Factory(
        OutboxRelay, transact=event_transactions, bus=event_bus, clock=clock, owner=providers.Callable(relay_owner),
        retention_days=settings.provided["exams.event_bus.outbox_retention_days"])
    role_reader = providers.Factory(_role_reader, settings, redis_client.provider)
    role_consumer = providers.Factory(RoleConsumer, source=role_reader, transact=event_transactions, clock=clock)
    outbox_operator = providers.Factory(
        OutboxOperator, transact=event_transactions, clock=clock, encoder=event_encoder, bus=event_bus,
        source=settings.provided["exams.event_bus.source"], backend=settings.provided["exams.event_bus.backend"],
        stream_status=providers.Callable(_stream_status, settings, redis_client.provider, event_bus))

    # The operators' console (docs/console.md): the secret its session cookies are signed with.
    console_session_secret = providers.Singleton(
        _derived_secret, settings, "exams.console.session_secret", b"exams.console.session")


def build_container(settings: Settings) -> Container:
    """The container of one process, its engine and session factory built now rather than by a first request
    (concurrent first requests would each build one)."""
    container = Container(settings=settings)
    container.session_factory()
    return container
