"""Property-based fuzzing of every described operation (schemathesis), on SQLite and on PostgreSQL.

Each operation of the OpenAPI description gets generated requests, valid ones and invalid ones, sent
through the real WSGI app with valid credentials (an LMS JWT of a learner or of staff, the vendor's
service token for the ACS), against a database seeded with a configured course, an exam, an attempt and
a tool registration. Properties, for every request:

* no 5xx;
* the status, media type and body are those the description declares (schemathesis' checks and ours);
* a refused request (4xx) changes no table (tests/functional/dbstate.py);
* no request takes more than HANG_SECONDS.

Bounded: FUZZ_EXAMPLES per operation (about a minute per backend on the 2-core machine);
``EXAMS_FUZZ_EXAMPLES`` raises it for a longer hunt.
"""

from __future__ import annotations

import json
import os
import signal
import time
from datetime import datetime, timedelta, timezone

import pytest
import schemathesis
from dependency_injector import providers
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (content_type_conformance, response_schema_conformance,
                                         status_code_conformance)

from exams.adapters.http.openapi import document
from exams.units import run_in_transaction
from exams.domain.exams import Exam, ExamType
from tests.conftest import auth
from tests.fakes import FakeProctoringVendor
from tests.functional.acs_world import World as AcsWorld
from tests.functional.dbstate import snapshot
from tests.openapi_check import description

FUZZ_EXAMPLES = int(os.environ.get("EXAMS_FUZZ_EXAMPLES", "25"))
HANG_SECONDS = 10
COURSE = "course-v1:edx+test+f19"
STATS_FILE = os.environ.get("EXAMS_FUZZ_STATS")  # a JSON line per operation and backend, when set

SCHEMA = schemathesis.openapi.from_dict(document())
OPERATIONS = sorted((result.ok() for result in SCHEMA.get_all_operations()), key=lambda o: o.label)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
STAFF = auth("fuzz_staff", staff=True, user_id=1)
LEARNER = auth("learner", user_id=10)


class Hang(Exception):
    pass


def _alarm(signum, frame):
    raise Hang(f"a request took more than {HANG_SECONDS} s")


@pytest.fixture
def seeded(wsgi, db):
    """Tool registration "1" with its provider, a configured course, a proctored exam and a started attempt."""
    vendor = FakeProctoringVendor()
    wsgi.container.proctoring_vendor.override(providers.Object(vendor))
    tool = AcsWorld(db).add_tool("proctorio")
    now = datetime.now(timezone.utc)

    def work(services):
        services.exams.configure(COURSE, "proctorio", "escalation@example.com")
        exam = services.repos.exams.add(Exam(
            id=None, course_id=COURSE, content_id="block-v1:edx+test+f19+type@sequential+block@exam1",
            exam_name="Final", exam_type=ExamType.PROCTORED, time_limit_mins=60, provider_id=tool.provider_id,
            due_date=now + timedelta(days=7)))
        return exam

    exam = run_in_transaction(wsgi.container, work)
    from webtest import TestApp

    app = TestApp(wsgi)
    app.get("/api/v1/exams/attempt/latest", headers=LEARNER)  # the learner's first sight creates the user
    attempt_id = app.post_json("/api/v1/exams/attempt", {"exam_id": exam.id, "start_clock": "true"},
                               headers=LEARNER).json["exam_attempt_id"]
    yield {"tool": tool, "exam": exam, "attempt_id": attempt_id}
    wsgi.container.proctoring_vendor.reset_override()


def credentials(operation, seeded, who: str) -> dict:
    security = operation.definition.raw.get("security")
    if security == [{"serviceToken": []}]:
        return {"Authorization": f"Bearer {seeded['tool'].fake_token()}"}
    return {"staff": STAFF, "learner": LEARNER, "none": {}}[who]


def record(backend: str, label: str, count: int, seconds: float, statuses: dict) -> None:
    if STATS_FILE:
        with open(STATS_FILE, "a") as fh:
            fh.write(json.dumps({"backend": backend, "operation": label, "examples": count,
                                 "seconds": round(seconds, 3), "statuses": statuses}) + "\n")


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda o: o.label)
def test_fuzz(wsgi, database_url, seeded, operation):
    engine = wsgi.container.engine()
    backend = "postgresql" if database_url.startswith("postgresql") else "sqlite"
    # Valid requests and invalid ones (wrong types, values outside their schema, missing fields), mixed.
    strategy = st.one_of(operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
                         operation.as_strategy(generation_mode=GenerationMode.NEGATIVE))
    calls = [0]
    statuses: dict[int, int] = {}
    started = time.monotonic()
    state = [snapshot(engine)]

    @settings(max_examples=FUZZ_EXAMPLES, deadline=None, database=None, derandomize=False,
              suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate, Phase.shrink])
    @given(case=strategy, who=st.sampled_from(["staff", "learner", "none"]))
    def fuzz(case, who):
        previous = signal.signal(signal.SIGALRM, _alarm)
        signal.alarm(HANG_SECONDS)
        try:
            response = case.call(app=wsgi, headers=credentials(operation, seeded, who))
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, previous)
        calls[0] += 1
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        case.validate_response(response, checks=CHECKS)
        description().check(wsgi.registry, case.method.upper(), _path(response), response.status_code,
                            _content_type(response), response.content)
        after = snapshot(engine)
        if 400 <= response.status_code < 500:
            assert after == state[0], f"a refused request ({response.status_code}) changed the database"
        state[0] = after

    fuzz()
    record(backend, operation.label, calls[0], time.monotonic() - started, statuses)
    assert calls[0] > 0


def _content_type(response) -> str | None:
    value = response.headers.get("content-type") or response.headers.get("Content-Type")
    return value[0] if isinstance(value, list) else value


def _path(response) -> str:
    from urllib.parse import unquote, urlsplit

    return unquote(urlsplit(response.request.url).path)
