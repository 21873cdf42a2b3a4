"""Composition root: ``main(global_config, **settings)`` builds the WSGI application."""

from __future__ import annotations

import logging
import threading

from pyramid.config import Configurator

from exams import settings as settings_module
from exams.adapters.http import RUNTIME, HttpRuntime
from exams.adapters.sql.session import UnitDatabase, database_reachable
from exams.container import Container, build_container
from exams.units import Services, run_in_transaction

log = logging.getLogger(__name__)


def main(global_config, container: Container | None = None, **raw_settings):
    """The WSGI app for PasteDeploy (``pserve development.ini``); tests may pass a prepared container."""
    raw_settings = settings_module.resolve_paths(raw_settings, (global_config or {}).get("here"))
    settings = settings_module.load(raw_settings)
    container = container or build_container(settings)
    session_factory = container.session_factory()  # built once, before any request
    reads = container.read_connections()
    # What requests use is built now, once: concurrent first requests would each build their own.
    for provider in (container.clock, container.access_tokens, container.lti_platform, container.proctoring_vendor,
                     container.lti_config, container.event_encoder, container.legacy_proctoring, container.mailer,
                     container.known_users):
        provider()

    # What the HTTP adapter needs; its includeme turns each into a request method.
    observed = _observability(container, settings)
    outcome_sinks = observed.pop("outcome_sinks")
    runtime = HttpRuntime(
        settings=settings,
        services=lambda request: Services(container, UnitDatabase(session_factory, request.tm, reads=reads),
                                          outcome_sinks=outcome_sinks),
        jwt_verifier=container.jwt_verifier(),
        lti_cookie_secret=container.lti_launch_cookie_secret(),
        lti_form_renderer=container.lti_form_renderer(),
        database_reachable=lambda: database_reachable(container.engine()),
        legacy_forwarding=container.legacy_proctoring() is not None,
        clock=container.clock(),
        console_session_secret=container.console_session_secret(),
        access_token_jwks=lambda: container.access_tokens().public_jwks(),
        **observed,
    )
    pyramid_settings = {**raw_settings, "tm.manager_hook": "pyramid_tm.explicit_manager", "tm.annotate_user": "false",
                        RUNTIME: runtime}
    with Configurator(settings=pyramid_settings) as config:
        # One transaction per request; views never commit (an error response aborts it).
        config.include("pyramid_tm")
        config.include("exams.adapters.http")
        app = config.make_wsgi_app()

    # Learner emails leave after each commit that wrote one, and on retry rounds (docs/lms.md).
    if settings["exams.email.send_interval"] and container.mail_sender() is not None:
        container.mail_sender().start()
    interval = settings["exams.expiry.sweep_interval"]
    if interval:
        start_sweeper(container, interval)
    if settings["exams.event_bus.relay_in_process"] and settings["exams.event_bus.backend"] != "none":
        start_relay(container, settings["exams.event_bus.relay_interval"])
    return app


def _observability(container: Container, settings) -> dict:
    """What /metrics and /health/ready read (exams.adapters.http.observe): HttpRuntime fields."""
    found: dict = {"outcome_sinks": ()}
    if settings["exams.event_bus.backend"] == "redis":
        from exams.adapters.lms.connection import redis_client

        probe = redis_client(settings["exams.event_bus.redis_url"], socket_timeout=1.0, connect_timeout=1.0)

        def bus_reachable() -> bool:
            try:
                return bool(probe.ping())
            except Exception:
                return False

        found["event_bus_reachable"] = bus_reachable
    if settings["exams.metrics.enabled"]:
        from exams.adapters.http.observe import attempt_metrics_sink

        found["outcome_sinks"] = (attempt_metrics_sink,)  # attempt moves counted once committed
        found["operational_status"] = lambda: operational_status(container)
    return found


def operational_status(container: Container) -> dict:
    """Outbox and mail figures for the metrics gauges (one short read transaction)."""
    from exams.adapters.sql.mail_outbox import SqlMailOutbox
    from exams.adapters.sql.outbox import SqlEventInbox, SqlOutbox
    from exams.delivery.relay import RELAY_LEASE

    def work(services) -> dict:
        now = container.clock().now()
        outbox = SqlOutbox(services.session)
        stats = outbox.stats()
        lease = outbox.lease(RELAY_LEASE)
        mail = SqlMailOutbox(services.session).status(limit=0)
        oldest_mail = mail.oldest_pending
        if oldest_mail is not None and oldest_mail.tzinfo is None:
            oldest_mail = oldest_mail.replace(tzinfo=now.tzinfo)
        return {
            "outbox_unpublished": stats.unpublished, "outbox_dead": stats.dead,
            "outbox_unencodable": stats.unencodable,
            "outbox_oldest_age_seconds": (now - stats.oldest_unpublished_at).total_seconds()
            if stats.oldest_unpublished_at else 0,
            "relay_active": int(bool(lease and lease.owner and lease.expires_at and lease.expires_at > now)),
            "role_events_dead": SqlEventInbox(services.session).dead_count(),
            "mail_pending": mail.pending, "mail_failed": mail.failed,
            "mail_oldest_age_seconds": (now - oldest_mail).total_seconds() if oldest_mail else 0,
        }

    return run_in_transaction(container, work)


def start_sweeper(container: Container, interval: int) -> threading.Thread:
    """Submit abandoned attempts at their deadline even when nobody reads them."""
    stop = threading.Event()

    def loop():
        while not stop.wait(interval):
            try:
                count = run_in_transaction(container, lambda services: services.attempts.expire_overdue())
                if count:
                    log.info("expiry sweep submitted %d overdue attempts", count)
            except Exception:  # keep sweeping; the next round retries
                log.exception("expiry sweep failed")

    thread = threading.Thread(target=loop, name="exams-expiry-sweeper", daemon=True)
    thread.stop = stop
    thread.start()
    return thread


def start_relay(container: Container, interval: float) -> threading.Thread:
    """Publish the event outbox from this process (development, small installs). Every process may run one:
    they compete for the relay lease and only its holder publishes."""
    stop = threading.Event()
    relay = container.relay()
    thread = threading.Thread(target=relay.run, args=(stop, interval), name="exams-event-relay", daemon=True)
    thread.stop = stop
    thread.start()
    log.info("event relay running in-process as %s", relay.owner)
    return thread
