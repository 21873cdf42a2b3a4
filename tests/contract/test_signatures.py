"""Each fake implements its port as the SQL adapter does: every method the port declares, with the same
parameters (names, order and defaults), on the fake and on the adapter."""

from __future__ import annotations

import inspect

import pytest

from exams.adapters.sql import lti_repositories as sql_lti
from exams.adapters.sql import outbox as sql_outbox
from exams.adapters.sql import repositories as sql
from exams.ports import lti_store, outbox, repositories as ports
from tests import fakes_events, fakes_lti, fakes_repositories as fakes

TRIPLES = [
    (ports.UserRepository, fakes.FakeUserRepository, sql.SqlUserRepository),
    (ports.StaffRoleRepository, fakes.FakeStaffRoleRepository, sql.SqlStaffRoleRepository),
    (ports.ProviderRepository, fakes.FakeProviderRepository, sql.SqlProviderRepository),
    (ports.ExamRepository, fakes.FakeExamRepository, sql.SqlExamRepository),
    (ports.CourseConfigRepository, fakes.FakeCourseConfigRepository, sql.SqlCourseConfigRepository),
    (ports.AttemptRepository, fakes.FakeAttemptRepository, sql.SqlAttemptRepository),
    (ports.AllowanceRepository, fakes.FakeAllowanceRepository, sql.SqlAllowanceRepository),
    (ports.ControlResultRepository, fakes.FakeControlResultRepository, sql.SqlControlResultRepository),
    (lti_store.RegistrationRepository, fakes_lti.FakeRegistrationRepository, sql_lti.SqlRegistrationRepository),
    (lti_store.LaunchStateRepository, fakes_lti.FakeLaunchStateRepository, sql_lti.SqlLaunchStateRepository),
    (lti_store.NonceRepository, fakes_lti.FakeNonceRepository, sql_lti.SqlNonceStore),
    (outbox.Outbox, fakes_events.FakeOutbox, sql_outbox.SqlOutbox),
    (outbox.RelayLease, fakes_events.FakeOutbox, sql_outbox.SqlOutbox),
    (outbox.EventInbox, fakes_events.FakeEventInbox, sql_outbox.SqlEventInbox),
]


def declared(port) -> dict[str, list[tuple[str, object]]]:
    methods = {}
    for klass in reversed(port.__mro__):
        if klass is object or not getattr(klass, "_is_protocol", False):
            continue
        for name, member in vars(klass).items():
            if callable(member) and not name.startswith("_"):
                methods[name] = member
    return {name: parameters(member) for name, member in methods.items()}


def parameters(function) -> list[tuple[str, object]]:
    return [(p.name, p.default) for p in inspect.signature(function).parameters.values() if p.name != "self"]


@pytest.mark.parametrize("port, fake, adapter", TRIPLES, ids=lambda v: getattr(v, "__name__", str(v)))
def test_the_fake_and_the_adapter_implement_every_method_of_the_port_alike(port, fake, adapter):
    for name, expected in declared(port).items():
        for implementation in (fake, adapter):
            method = getattr(implementation, name, None)
            assert method is not None, f"{implementation.__name__} lacks {port.__name__}.{name}"
            assert [n for n, _ in parameters(method)] == [n for n, _ in expected], \
                f"{implementation.__name__}.{name} does not take the parameters of {port.__name__}.{name}"
            defaults = {n: d for n, d in parameters(method) if d is not inspect.Parameter.empty}
            assert defaults == {n: d for n, d in expected if d is not inspect.Parameter.empty}, \
                f"{implementation.__name__}.{name} has other defaults than {port.__name__}.{name}"
