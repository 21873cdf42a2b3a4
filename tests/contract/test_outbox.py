"""The event outbox contract (exams.ports.outbox ``Outbox`` and ``RelayLease``), on the in-memory fake, SQLite and
PostgreSQL alike: the relay's unit tests run on the fake, so it must keep what the SQL outbox keeps."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from exams.ports.events import WireMessage
from exams.ports.outbox import Lease, UnencodedEvent

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)
C = "course-v1:edx+test+f19"
TYPE = "org.openedx.learning.exam.attempt.submitted.v1"


def message(course=C, event_id=None, payload=b"\x02avro") -> WireMessage:
    headers = {"type": TYPE, "id": event_id or str(uuid.uuid4()), "source": "openedx/exams/web",
               "time": "2026-05-01T12:00:00+00:00", "minorversion": "0", "sourcehost": "exams-1",
               "sourcelib": "1.2.3"}
    return WireMessage(topic="learning-exam-attempt-lifecycle", key=course.encode("utf-8"), value=payload,
                       headers=headers)


def unencoded(event_id=None) -> UnencodedEvent:
    return UnencodedEvent(event_type=TYPE, event_id=event_id or str(uuid.uuid4()), time=NOW, course_key=C,
                          usage_key="block-v1:x", exam_type="proctored", student_id=3, requesting_user_id=None,
                          attempt_id=9)


def held(outbox, facts=None) -> int:
    headers = {"time": NOW.isoformat(), "minorversion": "0", "sourcehost": "", "source": "openedx/exams/web",
               "sourcelib": "1.2.3"}
    return outbox.append_unencoded(facts or unencoded(), "learning-exam-attempt-lifecycle", headers,
                                   "user 'x' has no lms_user_id", NOW)


def test_appended_events_wait_in_order_with_their_message_as_written(outbox):
    first, second = message(), message(course="course-v1:edx+other+f19")
    a = outbox.append(first, NOW)
    b = outbox.append(second, NOW + timedelta(seconds=1))
    assert b > a
    waiting = outbox.unpublished(10)
    assert [e.seq for e in waiting] == [a, b]
    assert waiting[0].message == first and waiting[1].partition_key == "course-v1:edx+other+f19"
    assert (waiting[0].event_id, waiting[0].event_type, waiting[0].attempts, waiting[0].dead) == \
        (first.headers["id"], TYPE, 0, False)
    assert outbox.unpublished(1) == waiting[:1]
    assert outbox.get(second.headers["id"]) == waiting[1]
    assert outbox.get(str(uuid.uuid4())) is None


def test_a_published_event_leaves_the_queue_and_is_kept_until_purged(outbox):
    kept, old = message(), message()
    a = outbox.append(old, NOW - timedelta(days=9))
    b = outbox.append(kept, NOW)
    outbox.mark_published(a, "1-0", NOW - timedelta(days=8))
    outbox.mark_published(b, "2-0", NOW)
    assert outbox.unpublished(10) == []
    assert [e.broker_msg_id for e in outbox.published_since(NOW - timedelta(days=30), 10)] == ["1-0", "2-0"]
    assert [e.seq for e in outbox.published_since(NOW, 10)] == [b]
    assert outbox.stats().published == 2
    assert outbox.purge_published(NOW - timedelta(days=7)) == 1
    assert outbox.get(old.headers["id"]) is None and outbox.get(kept.headers["id"]).published_at == NOW


def test_a_failed_publish_counts_the_attempt_and_waits_for_its_retry(outbox):
    seq = outbox.append(message(), NOW)
    outbox.mark_failed(seq, "BusUnavailable: down", NOW + timedelta(seconds=2))
    outbox.mark_failed(seq, "BusUnavailable: still down", NOW + timedelta(seconds=4))
    [entry] = outbox.unpublished(10)
    assert (entry.attempts, entry.last_error, entry.next_attempt_at, entry.dead) == \
        (2, "BusUnavailable: still down", NOW + timedelta(seconds=4), False)
    outbox.mark_published(seq, "3-0", NOW + timedelta(seconds=5))
    assert outbox.get(entry.event_id).next_attempt_at is None


def test_a_dead_event_holds_back_its_course_until_an_operator_requeues_it(outbox):
    seq = outbox.append(message(), NOW)
    outbox.mark_dead(seq, "PublishRejected: too large")
    [entry] = outbox.unpublished(10)  # still there: it holds its course back
    assert entry.dead and entry.attempts == 1 and entry.last_error == "PublishRejected: too large"
    assert [e.seq for e in outbox.held(10)] == [seq]
    assert (outbox.stats().dead, outbox.stats().unpublished) == (1, 0)
    outbox.requeue(seq)
    [again] = outbox.unpublished(10)
    assert (again.dead, again.attempts, again.next_attempt_at, again.published_at) == (False, 0, None, None)
    assert outbox.held(10) == []


def test_an_unencodable_event_is_held_with_its_facts_and_requeued_once_rebuilt(outbox):
    facts = unencoded()
    seq = held(outbox, facts)
    assert outbox.unpublished(10) == []
    [entry] = outbox.held(10)
    assert (entry.seq, entry.message, entry.unencoded, entry.dead) == (seq, None, facts, True)
    assert entry.last_error == "user 'x' has no lms_user_id"
    assert outbox.stats().unencodable == 1 and outbox.stats().dead == 0
    rebuilt = message(event_id=facts.event_id)
    outbox.requeue(seq, rebuilt)
    [ready] = outbox.unpublished(10)
    assert (ready.message, ready.unencoded, ready.dead, ready.last_error) == (rebuilt, None, False, None)


def test_stats_count_each_kind_and_name_the_oldest_waiting_event(outbox):
    assert outbox.stats().oldest_unpublished_at is None
    outbox.append(message(), NOW + timedelta(minutes=1))
    outbox.append(message(), NOW + timedelta(minutes=2))
    published = outbox.append(message(), NOW)
    outbox.mark_published(published, "1-0", NOW)
    held(outbox)
    stats = outbox.stats()
    assert (stats.unpublished, stats.dead, stats.unencodable, stats.published) == (2, 0, 1, 1)
    assert stats.oldest_unpublished_at == NOW + timedelta(minutes=1)


def test_an_operator_may_drop_an_event(outbox):
    seq = outbox.append(message(), NOW)
    outbox.delete(seq)
    assert outbox.unpublished(10) == [] and outbox.stats().unpublished == 0


def test_one_relay_holds_the_lease_until_it_expires_or_is_released(outbox):
    assert outbox.lease("relay") is None
    assert outbox.acquire_lease("relay", "a", NOW, 30) is True
    assert outbox.lease("relay") == Lease("relay", "a", NOW + timedelta(seconds=30))
    assert outbox.acquire_lease("relay", "b", NOW + timedelta(seconds=10), 30) is False
    assert outbox.acquire_lease("relay", "a", NOW + timedelta(seconds=10), 30) is True  # renewed
    assert outbox.acquire_lease("relay", "b", NOW + timedelta(seconds=39), 30) is False
    assert outbox.acquire_lease("relay", "b", NOW + timedelta(seconds=41), 30) is True  # a's expired
    outbox.release_lease("relay", "a")  # not a's any more: nothing happens
    assert outbox.lease("relay").owner == "b"
    outbox.release_lease("relay", "b")
    assert outbox.lease("relay") == Lease("relay", None, None)
    assert outbox.acquire_lease("relay", "a", NOW + timedelta(seconds=42), 30) is True
    assert outbox.acquire_lease("other", "b", NOW, 30) is True  # leases are by name
