"""The composition root: settings refused at load, the engine built once at start-up, one unit-of-work mechanism,
and the clock port followed by the SQL repositories."""

from __future__ import annotations

import threading
from datetime import datetime, timezone

import pytest
from dependency_injector import providers

import exams.container as container_module
from exams import settings as settings_module
from exams.container import build_container
from exams.domain.users import User
from exams.ports.outcomes import DeferredOutcomeSink
from exams.settings import SettingsError, load, require_role_events
from exams.units import Services, run_in_transaction
from tests.fakes import FakeClock

DB = "sqlite:///var/exams.db"


@pytest.mark.parametrize("raw, message", [
    ({"exams.lms.oauth_client_id": "exams"}, r"Missing setting 'exams\.lms\.oauth_client_secret' \(required with "
                                             r"exams\.lms\.oauth_client_id; environment variable "
                                             r"EXAMS_LMS_OAUTH_CLIENT_SECRET\)"),
    ({"exams.email.backend": "smtp"}, r"'exams\.email\.from_address' \(required with exams\.email\.backend = smtp"),
    ({"exams.email.backend": "file"}, r"'exams\.email\.from_address' \(required with exams\.email\.backend = file"),
    ({"exams.email.backend": "smtp", "exams.email.from_address": "exams@example.com",
      "exams.email.smtp_use_tls": "true", "exams.email.smtp_use_ssl": "true"}, "exclude each other"),
])
def test_settings_that_need_or_exclude_each_other_stop_the_load(raw, message):
    with pytest.raises(SettingsError, match=message):
        load({"sqlalchemy.url": DB, **raw}, environ={})


def test_role_events_are_refused_on_kafka_only():
    kafka = load({"sqlalchemy.url": DB, "exams.event_bus.backend": "kafka",
                  "exams.event_bus.kafka.bootstrap_servers": "localhost:9092",
                  "exams.event_bus.kafka.schema_registry_url": "http://localhost:8081"}, environ={})
    with pytest.raises(SettingsError, match="read from Redis only"):
        require_role_events(kafka)
    require_role_events(load({"sqlalchemy.url": DB}, environ={}))


def test_relative_paths_are_relative_to_the_ini_folder_absolute_ones_stay():
    raw = settings_module.resolve_paths({"exams.email.file_dir": "/srv/mail"}, "/etc/exams")
    assert raw == {"exams.email.file_dir": "/srv/mail", "exams.access_token.key_file": "/etc/exams/var/access-token-key.json"}
    assert settings_module.resolve_paths({"a": "b"}, None) == {"a": "b"}


def test_the_engine_is_built_once_at_start_up_not_by_concurrent_first_requests(monkeypatch, tmp_path):
    built = []
    real = container_module.make_engine
    monkeypatch.setattr(container_module, "make_engine", lambda url: built.append(url) or real(url))
    container = build_container(load({"sqlalchemy.url": f"sqlite:///{tmp_path}/x.db"}, environ={}))
    assert len(built) == 1
    factories = []
    threads = [threading.Thread(target=lambda: factories.append(container.session_factory())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(built) == 1 and len({id(f) for f in factories}) == 1


def test_a_unit_of_work_builds_each_use_case_once_and_shares_its_repositories(tmp_path):
    from exams.adapters.sql.migrate import upgrade

    url = f"sqlite:///{tmp_path}/x.db"
    upgrade(url)
    container = build_container(load({"sqlalchemy.url": url}, environ={}))

    def work(services: Services):
        assert services.attempts is services.attempts
        assert services.attempts.repos is services.users.repos is services.exams.repos is services.repos
        assert services.lti.attempts is services.attempts and services.acs.attempts is services.attempts
        assert isinstance(services.outcomes, DeferredOutcomeSink)  # built at the first outcome
        assert services._outcome_sinks().sinks == []  # no event bus, no emails: nothing to build
        return True

    assert run_in_transaction(container, work)


def test_the_sql_repositories_read_the_time_from_the_injected_clock(tmp_path):
    from exams.adapters.sql.migrate import upgrade

    url = f"sqlite:///{tmp_path}/x.db"
    upgrade(url)
    container = build_container(load({"sqlalchemy.url": url}, environ={}))
    at = datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    container.clock.override(providers.Object(FakeClock(at)))
    run_in_transaction(container, lambda s: s.users.add_course_role("staffer", "course-v1:a+b+c", "staff"))

    def created(services: Services):
        from sqlalchemy import select

        from exams.adapters.sql import tables

        row = services.session.execute(select(tables.course_staff_roles.c.created)).one()
        return row.created

    stamp = run_in_transaction(container, created)
    assert stamp.replace(tzinfo=timezone.utc) == at
    assert isinstance(run_in_transaction(container, lambda s: s.repos.users.get_by_username("staffer")), User)


def test_concurrent_first_requests_build_no_engine_or_adapter_of_their_own(monkeypatch, tmp_path):
    from webtest import TestApp

    from exams.adapters.sql.migrate import upgrade
    from exams.app import main
    from tests.conftest import app_settings, auth

    url = f"sqlite:///{tmp_path}/x.db"
    upgrade(url)
    engines, platforms = [], []
    real_engine, real_platform = container_module.make_engine, container_module.JwcryptoLtiPlatform
    monkeypatch.setattr(container_module, "make_engine", lambda u: engines.append(u) or real_engine(u))
    monkeypatch.setattr(container_module, "JwcryptoLtiPlatform",
                        lambda *a, **kw: platforms.append(a) or real_platform(*a, **kw))
    app = TestApp(main({}, **app_settings(url)))
    assert (len(engines), len(platforms)) == (1, 1)  # at start-up, before any request
    statuses = []
    threads = [threading.Thread(target=lambda: statuses.append(
        app.get("/api/v1/exams/attempt/latest", headers=auth("learner")).status_int)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 8
    assert (len(engines), len(platforms)) == (1, 1)
