"""Reading course access role events from a real Redis with a consumer group (event-bus.md §4.6, §4.8 item 9)."""

import uuid
from datetime import datetime, timezone

import pytest

from exams.adapters.lms.redis_bus import RedisRoleEventReader
from exams.adapters.lms.wire import encode_event, redis_fields
from exams.ports.events import (
    COURSE_ACCESS_ROLE_ADDED,
    COURSE_ACCESS_ROLE_REMOVED,
    BusUnavailable,
    CourseAccessRoleEvent,
    EventUser,
)

STREAM = "dev-learning-course-access-role-lifecycle"
STAFF = EventUser(lms_user_id=7, is_active=True, username="staff", email="s@example.com", full_name="Sam Staff")
# event-bus.md §1.3 golden vector of a role event (the LMS's bytes).
ROLE_REMOVED_HEX = (
    "0e010a73746166661a73406578616d706c652e636f6d1253616d205374616666066564583e636f757273652d76313a6564582b4465"
    "6d6f582b44656d6f5f436f757273651a6c696d697465645f7374616666"
)


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def role_event(event_type=COURSE_ACCESS_ROLE_ADDED, role="limited_staff", **overrides):
    return CourseAccessRoleEvent(event_type=event_type, user=STAFF, org_key="edX",
                                 course_key="course-v1:edX+DemoX+Demo_Course", role=role,
                                 time=datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc), **overrides)


def lms_xadd(client, event):
    """Append a role event the way the LMS's edx-event-bus-redis producer does."""
    return client.xadd(STREAM, redis_fields(encode_event(event)), maxlen=10000, approximate=True).decode()


def make_reader(client, clock=None, **kwargs):
    return RedisRoleEventReader(client, topic_prefix="dev", group="edx-exams", consumer_name="exams-1",
                                block_ms=50, clock=clock or FakeClock(), **kwargs)


def test_entries_already_in_the_stream_are_read_on_the_first_run(redis_client):
    added = role_event()
    removed = role_event(COURSE_ACCESS_ROLE_REMOVED)
    ids = [lms_xadd(redis_client, added), lms_xadd(redis_client, removed)]

    deliveries = make_reader(redis_client).read()

    assert [d.message_id for d in deliveries] == ids
    assert [d.event for d in deliveries] == [added, removed]
    assert all(d.error is None and d.times_delivered == 1 for d in deliveries)


def test_the_golden_lms_bytes_decode(redis_client):
    fields = {"type": COURSE_ACCESS_ROLE_REMOVED, "id": str(uuid.uuid1()), "source": "openedx/lms/web",
              "time": "2026-01-02T03:04:05.678901+00:00", "minorversion": "0", "sourcehost": "lms",
              "sourcelib": "10.5.0", "event_data": bytes.fromhex(ROLE_REMOVED_HEX)}
    redis_client.xadd(STREAM, fields)

    (delivery,) = make_reader(redis_client).read()

    assert delivery.event.role == "limited_staff"
    assert delivery.event.user == STAFF
    assert not delivery.event.added


def test_acked_entries_are_not_delivered_again(redis_client):
    lms_xadd(redis_client, role_event())
    clock = FakeClock()
    reader = make_reader(redis_client, clock)
    (delivery,) = reader.read()

    reader.ack(delivery.message_id)
    clock.now += 3600

    assert redis_client.xpending(STREAM, "edx-exams")["pending"] == 0
    assert reader.read() == []
    assert make_reader(redis_client).read() == []


def test_an_unacked_entry_comes_back_on_the_next_pending_walk_with_its_delivery_count(redis_client):
    message_id = lms_xadd(redis_client, role_event())
    clock = FakeClock()
    reader = make_reader(redis_client, clock, pending_rescan_seconds=30)
    assert [d.message_id for d in reader.read()] == [message_id]  # e.g. the DB transaction failed: no ack

    assert reader.read() == []  # not before the rescan interval
    clock.now += 31
    (again,) = reader.read()

    assert again.message_id == message_id
    assert again.times_delivered == 2
    reader.ack(message_id)
    clock.now += 31
    assert reader.read() == []


def test_a_restarted_reader_first_processes_what_it_had_not_acked(redis_client):
    message_id = lms_xadd(redis_client, role_event())
    make_reader(redis_client).read()  # crashed before acking

    (delivery,) = make_reader(redis_client).read()

    assert delivery.message_id == message_id
    assert delivery.times_delivered == 2


def test_entries_added_while_the_reader_was_stopped_are_not_skipped(redis_client):
    reader = make_reader(redis_client)
    reader.ensure_group()
    assert reader.read() == []
    message_id = lms_xadd(redis_client, role_event())

    (delivery,) = make_reader(redis_client).read()

    assert delivery.message_id == message_id


def test_a_malformed_entry_is_delivered_with_an_error_and_the_reader_carries_on(redis_client):
    bad_payload = redis_client.xadd(STREAM, {"type": COURSE_ACCESS_ROLE_ADDED, "id": str(uuid.uuid4()),
                                             "event_data": b"\x01\x02"}).decode()
    no_type = redis_client.xadd(STREAM, {"event_data": b"x"}).decode()
    other_type = redis_client.xadd(STREAM, {"type": "org.openedx.learning.user.course_access_role.renamed.v1",
                                            "event_data": b"x"}).decode()
    bad_time = redis_client.xadd(STREAM, {**redis_fields(encode_event(role_event())),
                                          "time": "2026-01-02T05:04:05+02:00"}).decode()
    good = lms_xadd(redis_client, role_event())
    reader = make_reader(redis_client)

    deliveries = reader.read(max_count=10)

    assert [d.message_id for d in deliveries] == [bad_payload, no_type, other_type, bad_time, good]
    errors = {d.message_id: d.error for d in deliveries}
    assert "corrupt" in errors[bad_payload]
    assert "no 'type'" in errors[no_type]
    assert "not a course access role event type" in errors[other_type]
    assert "not in UTC" in errors[bad_time]
    assert errors[good] is None
    assert deliveries[0].raw["event_data"] == b"\x01\x02" and deliveries[0].event is None
    for delivery in deliveries:
        reader.ack(delivery.message_id)
    assert redis_client.xpending(STREAM, "edx-exams")["pending"] == 0


def test_an_entry_without_an_id_gets_a_stable_one(redis_client):
    fields = redis_fields(encode_event(role_event()))
    del fields["id"]
    redis_client.xadd(STREAM, fields)

    first = make_reader(redis_client).read()[0].event.event_id
    second = make_reader(redis_client).read()[0].event.event_id  # redelivered from the pending list

    assert first == second


def test_a_pending_entry_trimmed_from_the_stream_is_delivered_as_an_error(redis_client):
    message_id = lms_xadd(redis_client, role_event())
    clock = FakeClock()
    reader = make_reader(redis_client, clock, pending_rescan_seconds=30, claim_interval_seconds=600)
    reader.read()
    redis_client.xdel(STREAM, message_id)
    clock.now += 31

    (delivery,) = reader.read()

    assert delivery.message_id == message_id
    assert delivery.event is None and "no longer exists" in delivery.error


def test_a_trimmed_entry_left_by_a_dead_consumer_is_dropped_from_the_pending_list(redis_client):
    message_id = lms_xadd(redis_client, role_event())
    RedisRoleEventReader(redis_client, topic_prefix="dev", group="edx-exams", consumer_name="dead-one").read()
    redis_client.xdel(STREAM, message_id)

    assert make_reader(redis_client, claim_idle_ms=0).read() == []
    assert redis_client.xpending(STREAM, "edx-exams")["pending"] == 0


def test_entries_of_a_dead_consumer_are_claimed(redis_client):
    message_id = lms_xadd(redis_client, role_event())
    RedisRoleEventReader(redis_client, topic_prefix="dev", group="edx-exams", consumer_name="dead-one").read()

    reader = make_reader(redis_client, claim_idle_ms=0)
    (delivery,) = reader.read()

    assert delivery.message_id == message_id
    assert delivery.times_delivered == 2
    reader.ack(message_id)
    assert redis_client.xpending(STREAM, "edx-exams")["pending"] == 0


def test_read_respects_max_count_and_walks_the_pending_list_in_pages(redis_client):
    ids = [lms_xadd(redis_client, role_event()) for _ in range(5)]
    make_reader(redis_client).read(max_count=5)  # all five now pending, unacked

    reader = make_reader(redis_client)
    pages = [reader.read(max_count=2) for _ in range(3)]

    assert [[d.message_id for d in page] for page in pages] == [ids[:2], ids[2:4], ids[4:]]
    assert reader.read(max_count=2) == []


def test_groups_are_independent_and_not_reset_on_restart(redis_client):
    lms_xadd(redis_client, role_event())
    reader = make_reader(redis_client)
    reader.ack(reader.read()[0].message_id)
    other = RedisRoleEventReader(redis_client, topic_prefix="dev", group="another", consumer_name="x", block_ms=10)

    assert len(other.read()) == 1
    make_reader(redis_client).ensure_group()  # BUSYGROUP is fine and does not move the group
    assert make_reader(redis_client).read() == []


def test_the_group_is_recreated_if_the_stream_disappears(redis_client):
    reader = make_reader(redis_client)
    reader.ensure_group()
    redis_client.delete(STREAM)

    with pytest.raises(BusUnavailable, match="NOGROUP"):
        reader.read()
    message_id = lms_xadd(redis_client, role_event())

    assert [d.message_id for d in reader.read()] == [message_id]


def test_an_unreachable_server_raises_bus_unavailable(closed_port_client):
    reader = RedisRoleEventReader(closed_port_client, topic_prefix="dev")
    with pytest.raises(BusUnavailable):
        reader.read()
    with pytest.raises(BusUnavailable):
        reader.ack("1-0")
