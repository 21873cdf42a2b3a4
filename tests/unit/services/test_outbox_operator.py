"""The event outbox's operator (``exams events status|replay|purge``) over in-memory fakes: what it reports, what it
sends again and what it refuses (OperatorError), each refusal changing nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest

from exams.delivery.operator import OperatorError, OutboxOperator
from exams.delivery.relay import RELAY_LEASE
from tests.unit.services.test_relay import NOW, A, B, FakeBus, World


class ReplayBus(FakeBus):
    """``ReplayingBus``: ``force`` appends again and says so in the id."""

    def publish(self, message, force=False):
        if force:
            self.published.append(message.headers["id"])
            return f"{len(self.published)}-forced"
        return super().publish(message)


@pytest.fixture
def w():
    world = World()
    world.bus = world.relay.bus = ReplayBus()
    world.operator = OutboxOperator(transact=world.units.transact, clock=world.clock, encoder=world.encoder,
                                    bus=world.bus, backend="redis")
    return world


def published(w, course=A) -> str:
    event_id = w.event(course)
    entry = w.entry(event_id)
    w.outbox.mark_published(entry.seq, "1-0", w.clock.now())
    return event_id


def dead(w, course=A) -> str:
    event_id = w.event(course)
    w.outbox.mark_dead(w.entry(event_id).seq, "message too large")
    return event_id


def test_status_counts_waiting_dead_and_published_events_and_ages_the_oldest_waiting_one(w):
    w.event(A)
    w.clock.advance(seconds=90)
    w.event(B)
    published(w)
    held = dead(w)
    w.outbox.acquire_lease(RELAY_LEASE, "relay-1", w.clock.now(), 30)
    status = w.operator.status()
    assert (status["backend"], status["unpublished"], status["dead"], status["published_kept"]) == ("redis", 2, 1, 1)
    assert status["oldest_unpublished_age_seconds"] == 90
    assert status["relay"]["owner"] == "relay-1" and status["relay"]["active"] is True
    assert [e["event_id"] for e in status["held"]] == [held]
    assert status["held"][0]["last_error"] == "message too large"


def test_replay_needs_exactly_one_of_an_event_id_and_a_time(w):
    for kwargs in ({}, {"event_id": "x", "since": NOW}):
        with pytest.raises(OperatorError, match="exactly one"):
            w.operator.replay(**kwargs)


def test_replaying_an_unknown_event_is_refused(w):
    with pytest.raises(OperatorError, match="no event nope"):
        w.operator.replay(event_id="nope")


def test_replaying_a_dead_event_requeues_it_for_the_relay(w):
    held = dead(w)
    assert w.operator.replay(event_id=held) == {"requeued": [{"event_id": held, "rebuilt": False}], "republished": []}
    entry = w.entry(held)
    assert not entry.dead and entry.published_at is None
    assert w.relay.tick().published == 1 and w.bus.published == [held]


def test_a_published_event_is_sent_again_only_with_force(w):
    sent = published(w)
    with pytest.raises(OperatorError, match="use --force"):
        w.operator.replay(event_id=sent)
    assert w.bus.published == []  # the refusal sent nothing
    w.clock.advance(minutes=5)
    answer = w.operator.replay(event_id=sent, force=True)
    assert answer == {"requeued": [], "republished": [{"event_id": sent, "broker_msg_id": "1-forced"}]}
    assert w.entry(sent).broker_msg_id == "1-forced" and w.entry(sent).published_at == w.clock.now()


def test_replay_since_a_time_requeues_held_events_and_republishes_only_with_force(w):
    old_dead = dead(w)
    w.clock.advance(hours=1)
    since = w.clock.now()
    new_dead, sent = dead(w), published(w, B)
    answer = w.operator.replay(since=since)
    assert [r["event_id"] for r in answer["requeued"]] == [new_dead] and answer["republished"] == []
    assert w.entry(old_dead).dead  # before the time: left alone
    forced = w.operator.replay(since=since, force=True)
    assert [r["event_id"] for r in forced["republished"]] == [sent]


def test_without_a_bus_nothing_can_be_republished(w):
    sent = published(w)
    w.operator.bus = None
    with pytest.raises(OperatorError, match="no event bus"):
        w.operator.replay(event_id=sent, force=True)


def test_purge_deletes_a_held_event_but_refuses_one_still_waiting(w):
    waiting, held = w.event(A), dead(w)
    with pytest.raises(OperatorError, match="still waiting"):
        w.operator.purge(event_id=waiting)
    assert w.entry(waiting) is not None
    assert w.operator.purge(event_id=held) == {"purged": 1, "event_id": held}
    assert w.entry(held) is None
    with pytest.raises(OperatorError, match="no event"):
        w.operator.purge(event_id=held)


def test_purge_by_age_deletes_only_published_events_older_than_the_days_given(w):
    old = published(w)
    w.clock.advance(days=10)
    recent, waiting = published(w), w.event(B)
    answer = w.operator.purge(older_than_days=7)
    assert answer["purged"] == 1 and answer["published_before"] == w.clock.now() - timedelta(days=7)
    assert w.entry(old) is None
    assert w.entry(recent) is not None and w.entry(waiting) is not None
