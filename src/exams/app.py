"""Composition root: ``main(global_config, **settings)`` builds the WSGI application."""

from __future__ import annotations

import logging
import os
import threading

from pyramid.config import Configurator

from exams import settings as settings_module
from exams.container import Container, Services, build_container, build_relay, database_is_up, run_in_transaction

log = logging.getLogger(__name__)


def _resolve_paths(raw: dict, here: str | None) -> dict:
    """Relative file settings are relative to the ini file's folder."""
    if here:
        key_file = raw.get("exams.access_token.key_file", "var/access-token-key.json")
        if not os.path.isabs(key_file):
            raw = {**raw, "exams.access_token.key_file": os.path.join(here, key_file)}
        mail_dir = raw.get("exams.email.file_dir", "var/mail")
        if not os.path.isabs(mail_dir):
            raw = {**raw, "exams.email.file_dir": os.path.join(here, mail_dir)}
    return raw


def main(global_config, container: Container | None = None, **raw_settings):
    """The WSGI app for PasteDeploy (``pserve development.ini``); tests may pass a prepared container."""
    raw_settings = _resolve_paths(raw_settings, (global_config or {}).get("here"))
    settings = settings_module.load(raw_settings)
    container = container or build_container(settings)

    pyramid_settings = {**raw_settings, "tm.manager_hook": "pyramid_tm.explicit_manager", "tm.annotate_user": "false"}
    with Configurator(settings=pyramid_settings) as config:
        config.registry.container = container
        config.registry.exams_settings = settings
        config.registry.jwt_verifier = container.jwt_verifier()
        config.registry.database_reachable = lambda: database_is_up(container)
        _observability(config.registry, container, settings)
        # One transaction per request; views never commit (an error response aborts it).
        config.include("pyramid_tm")
        config.add_request_method(_dbsession, "dbsession", reify=True)
        config.add_request_method(lambda r: Services(container, r.dbsession), "services", reify=True)
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


def _observability(registry, container: Container, settings) -> None:
    """What /metrics and /health/ready read (exams.adapters.http.observe), and the attempt-change counter."""
    if settings["exams.event_bus.backend"] == "redis":
        from exams.adapters.lms.connection import redis_client

        probe = redis_client(settings["exams.event_bus.redis_url"], socket_timeout=1.0, connect_timeout=1.0)

        def bus_reachable() -> bool:
            try:
                return bool(probe.ping())
            except Exception:
                return False

        registry.event_bus_reachable = bus_reachable
    if settings["exams.metrics.enabled"]:
        from dependency_injector import providers

        from exams.adapters.http.observe import attempt_metrics_sink

        if not any(getattr(arg, "provides", None) is attempt_metrics_sink for arg in container.outcomes.args):
            container.outcomes.add_args(providers.Object(attempt_metrics_sink))
        registry.operational_status = lambda: operational_status(container)


def operational_status(container: Container) -> dict:
    """Outbox and mail figures for the metrics gauges (one short read transaction)."""
    from exams.adapters.sql.mail_outbox import SqlMailOutbox
    from exams.adapters.sql.outbox import SqlEventInbox, SqlOutbox
    from exams.services.events import RELAY_LEASE

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


def _dbsession(request):
    from exams.adapters.sql.session import session_in_transaction

    return session_in_transaction(request.registry.container.session_factory(), request.tm)


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
    relay = build_relay(container)
    thread = threading.Thread(target=relay.run, args=(stop, interval), name="exams-event-relay", daemon=True)
    thread.stop = stop
    thread.start()
    log.info("event relay running in-process as %s", relay.owner)
    return thread
