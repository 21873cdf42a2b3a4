"""Racing requests of one learner against a real server: the database keeps the rules, losers get the rule's 400.

PostgreSQL only: it is the production database, and the one where concurrent transactions really
overlap (SQLite serializes writers). The app is the one ``main()`` builds, served by waitress on
127.0.0.1 with enough threads that every request of a burst runs at once; a barrier releases them together.
"""

from __future__ import annotations

import http.client
import json
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.served import ServedApp
from tests.conftest import auth
from tests.functional.attempt_world import LEARNER, World, setup_course

pytestmark = pytest.mark.postgresql_only
BURST = 12
ROUNDS = 3
ALREADY_EXISTS = "because an attempt already exists."
ALREADY_STARTED = "because it has already started!"
OTHER_ACTIVE = "because another exam attempt is currently active!"


@pytest.fixture
def live(testapp, wsgi, clock, engine):
    """(world, base URL) with the app served on a free loopback port."""
    if engine.dialect.name != "postgresql":
        pytest.skip("concurrent transactions: PostgreSQL only")
    server = ServedApp(wsgi, threads=BURST * 2, name="waitress-under-test").start()
    world, world.exams = setup_course(testapp, wsgi, clock, **{
        f"exam{i}": {"exam_type": "timed", "minutes": 30} for i in range(BURST)})
    try:
        yield world, ("127.0.0.1", server.port)
    finally:
        server.close()


def burst(address, requests: list[tuple[str, str, dict, dict | None]]) -> list[tuple[int, dict]]:
    """Send every (method, path, headers, body) at the same moment, each on its own connection."""
    barrier = threading.Barrier(len(requests))

    def send(request):
        method, path, headers, body = request
        conn = http.client.HTTPConnection(*address, timeout=30)
        try:
            payload = json.dumps(body).encode() if body is not None else None
            conn.connect()
            barrier.wait(timeout=30)
            conn.request(method, path, body=payload, headers={**headers, "Content-Type": "application/json"})
            response = conn.getresponse()
            raw = response.read()
            return response.status, json.loads(raw) if raw else {}
        finally:
            conn.close()

    with ThreadPoolExecutor(max_workers=len(requests)) as pool:
        return list(pool.map(send, requests))


def statuses(results) -> Counter:
    return Counter(status for status, _ in results)


def details(results) -> list[str]:
    return [body.get("detail", "") for status, body in results if status != 200]


def create(exam_id, start_clock="true", headers=LEARNER):
    return ("POST", "/api/v1/exams/attempt", headers, {"exam_id": exam_id, "start_clock": start_clock})


def start(attempt_id, headers=LEARNER):
    return ("PUT", f"/api/v1/exams/attempt/{attempt_id}", headers, {"action": "start"})


def active_attempts(world: World, username: str) -> list[tuple]:
    return [row for row in world.attempts_of(username) if row[1] in ("started", "ready_to_submit")]


def test_parallel_creates_of_one_exam_make_exactly_one_attempt(live):
    world, address = live
    for round_ in range(ROUNDS):
        headers = auth(f"racer{round_}", user_id=500 + round_)
        world.latest(headers=headers)  # provisioned before the race: this race is about attempts
        results = burst(address, [create(world.exams["exam0"], headers=headers)] * BURST)
        assert statuses(results) == {200: 1, 400: BURST - 1}, results
        assert all(detail.endswith(ALREADY_EXISTS) for detail in details(results)), details(results)
        assert world.attempts_of(f"racer{round_}") == [(world.exams["exam0"], "started")]


def test_parallel_creates_and_starts_of_many_exams_leave_one_attempt_active(live):
    world, address = live
    for round_ in range(ROUNDS):
        headers = auth(f"racer{round_}", user_id=600 + round_)
        world.latest(headers=headers)
        results = burst(address, [create(world.exams[f"exam{i}"], headers=headers) for i in range(BURST)])
        assert statuses(results) == {200: 1, 400: BURST - 1}, results
        assert all(detail.endswith(OTHER_ACTIVE) for detail in details(results)), details(results)
        # Create-and-start is atomic: the losers left no attempt behind.
        assert len(world.attempts_of(f"racer{round_}")) == 1
        assert len(active_attempts(world, f"racer{round_}")) == 1


def test_parallel_starts_of_one_attempt_start_it_once(live, outcomes):
    world, address = live
    for round_ in range(ROUNDS):
        attempt_id = world.create(world.exams[f"exam{round_}"], headers=auth(f"racer{round_}", user_id=700 + round_))[
            "exam_attempt_id"]
        results = burst(address, [start(attempt_id, auth(f"racer{round_}", user_id=700 + round_))] * BURST)
        assert statuses(results) == {200: 1, 400: BURST - 1}, results
        assert all(detail.endswith(ALREADY_STARTED) for detail in details(results)), details(results)
        assert [row[1] for row in world.history(attempt_id)] == ["created", "started"]
        assert [c for c in outcomes.changes if c[0] == attempt_id] == [(attempt_id, "started", f"racer{round_}", None)]


def test_parallel_starts_of_many_attempts_leave_one_active(live):
    world, address = live
    for round_ in range(ROUNDS):
        headers = auth(f"racer{round_}", user_id=800 + round_)
        ids = [world.create(world.exams[f"exam{i}"], headers=headers)["exam_attempt_id"] for i in range(BURST)]
        results = burst(address, [start(attempt_id, headers) for attempt_id in ids])
        assert statuses(results) == {200: 1, 400: BURST - 1}, results
        assert all(detail.endswith(OTHER_ACTIVE) for detail in details(results)), details(results)
        assert len(active_attempts(world, f"racer{round_}")) == 1


def test_creates_and_starts_mixed_keep_every_rule(live):
    world, address = live
    headers = auth("mixed", user_id=900)
    ids = [world.create(world.exams[f"exam{i}"], headers=headers)["exam_attempt_id"] for i in range(BURST // 2)]
    requests = [start(attempt_id, headers) for attempt_id in ids]
    requests += [create(world.exams[f"exam{i}"], headers=headers) for i in range(BURST // 2, BURST)]
    requests += [create(world.exams["exam0"], headers=headers)]
    results = burst(address, requests)
    assert statuses(results)[500] == 0 and statuses(results)[200] == 1, results
    assert len(active_attempts(world, "mixed")) == 1
    exams = [exam_id for exam_id, _ in world.attempts_of("mixed")]
    # The six created before, plus the one created here if a create won (a losing create leaves nothing).
    assert len(exams) == len(set(exams)) == BURST // 2 + (1 if statuses(results[BURST // 2:])[200] else 0)


def test_parallel_reads_of_an_attempt_out_of_time_submit_it_once(live, outcomes):
    world, address = live
    attempt_id = world.start(world.exams["exam0"])
    world.later(minutes=31)
    read = ("GET", "/api/v1/exams/attempt/latest", LEARNER, None)
    results = burst(address, [read] * BURST)
    assert statuses(results) == {200: BURST}
    # A read that comes after the submission finds no active attempt any more: {} (as in edx-exams).
    seen = Counter((body.get("attempt_id"), body.get("attempt_status"), body.get("time_remaining_seconds"))
                   for _, body in results)
    assert set(seen) <= {(attempt_id, "submitted", 0), (None, None, None)} and seen[(attempt_id, "submitted", 0)]
    assert [row[1] for row in world.history(attempt_id)] == ["created", "started", "submitted"]
    assert [c[1] for c in outcomes.changes if c[0] == attempt_id].count("submitted") == 1


def test_the_sweeper_racing_the_learners_submit_submits_once(live, outcomes):
    world, address = live
    attempt_id = world.start(world.exams["exam0"])
    world.later(minutes=31)
    submit = ("PUT", f"/api/v1/exams/attempt/{attempt_id}", LEARNER, {"action": "submit"})
    with ThreadPoolExecutor(max_workers=1) as pool:
        swept = pool.submit(lambda: world.tx(lambda s: s.attempts.expire_overdue()))
        results = burst(address, [submit] * (BURST // 2))
        assert swept.result() in (0, 1)
    assert statuses(results) == {200: BURST // 2}
    assert world.attempt(attempt_id).status.value == "submitted"
    assert [row[1] for row in world.history(attempt_id)].count("submitted") == 1
    assert [c[1] for c in outcomes.changes if c[0] == attempt_id].count("submitted") == 1
