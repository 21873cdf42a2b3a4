"""Run INSIDE the compat venv (openedx-events + edx-event-bus-redis + Django), never in the service's venv.

Called by test_openedx_compat.py as ``<compat python> compat_harness.py <redis url> <expected exam events>``
with a JSON request on stdin; prints one JSON report on stdout. It plays the LMS:

1. reports ``AvroSignalSerializer(signal).schema`` for the seven event types we exchange;
2. decodes each payload we send with the real deserializer, and re-serialises it with the real serializer;
3. runs the real ``RedisEventConsumer`` (as ``consume_events`` does, with ``check_backlog``) on
   ``dev-learning-exam-attempt-lifecycle`` and reports every exam signal it fired, with data and metadata;
4. publishes the requested course access role events with the real Redis producer, for our reader to read.
"""

import json
import sys
import threading
from datetime import datetime

from django.conf import settings

REDIS_URL, EXPECTED = sys.argv[1], int(sys.argv[2])
settings.configure(
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth"],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
    EVENT_BUS_REDIS_CONNECTION_URL=REDIS_URL,
    EVENT_BUS_TOPIC_PREFIX="dev",
    EVENT_BUS_REDIS_CONSUMER_POLL_TIMEOUT=1,
    EVENTS_SERVICE_NAME="lms",
    USE_TZ=True,
)
import django  # noqa: E402

django.setup()

import attr  # noqa: E402
from opaque_keys.edx.keys import CourseKey  # noqa: E402
from openedx_events.event_bus.avro.deserializer import deserialize_bytes_to_event_data  # noqa: E402
from openedx_events.event_bus.avro.serializer import AvroSignalSerializer, serialize_event_data_to_bytes  # noqa: E402
from openedx_events.learning.data import CourseAccessRoleData, UserData, UserPersonalData  # noqa: E402
from openedx_events.tooling import OpenEdxPublicSignal, load_all_signals  # noqa: E402

load_all_signals()
from edx_event_bus_redis import RedisEventConsumer, create_producer  # noqa: E402

EXAM_TYPES = [
    "org.openedx.learning.exam.attempt.submitted.v1",
    "org.openedx.learning.exam.attempt.verified.v1",
    "org.openedx.learning.exam.attempt.rejected.v1",
    "org.openedx.learning.exam.attempt.errored.v1",
    "org.openedx.learning.exam.attempt.reset.v1",
]
ROLE_TYPES = [
    "org.openedx.learning.user.course_access_role.added.v1",
    "org.openedx.learning.user.course_access_role.removed.v1",
]


def plain(value):
    """attrs objects and opaque keys as JSON-friendly values (keys as str, with their class name)."""
    if attr.has(type(value)):
        return {f.name: plain(getattr(value, f.name)) for f in attr.fields(type(value))}
    if value is None or isinstance(value, (bool, int, str)):
        return value
    return {"class": type(value).__name__, "str": str(value)}


request = json.load(sys.stdin)
report = {"schemas": {}, "decoded": {}, "received": [], "errors": [], "role_events_sent": []}

for event_type in EXAM_TYPES + ROLE_TYPES:
    report["schemas"][event_type] = AvroSignalSerializer(OpenEdxPublicSignal.get_signal_by_type(event_type)).schema

for name, item in request["payloads"].items():
    signal = OpenEdxPublicSignal.get_signal_by_type(item["event_type"])
    try:
        data = deserialize_bytes_to_event_data(bytes.fromhex(item["hex"]), signal)
        report["decoded"][name] = {
            "data": {k: plain(v) for k, v in data.items()},
            "reserialized_hex": serialize_event_data_to_bytes(data, signal).hex(),
        }
    except Exception as exc:  # report, don't die: the test shows what failed
        report["decoded"][name] = {"error": f"{type(exc).__name__}: {exc}"}

received = []


def on_exam_event(sender, signal=None, **kwargs):  # module level: Django signals hold weak references
    metadata = kwargs["metadata"]
    received.append({
        "signal": signal.event_type,
        "from_event_bus": kwargs.get("from_event_bus"),
        "metadata": {
            "event_type": metadata.event_type, "id": str(metadata.id), "time": metadata.time.isoformat(),
            "time_is_utc": metadata.time.utcoffset().total_seconds() == 0, "source": metadata.source,
            "sourcehost": metadata.sourcehost, "sourcelib": list(metadata.sourcelib),
            "minorversion": metadata.minorversion,
        },
        "exam_attempt": plain(kwargs["exam_attempt"]),
    })
    if len(received) >= EXPECTED:
        consumer._shut_down()


for event_type in EXAM_TYPES:
    OpenEdxPublicSignal.get_signal_by_type(event_type).connect(on_exam_event)

consumer = RedisEventConsumer(
    topic="learning-exam-attempt-lifecycle", group_id="compat", consumer_name="c1", check_backlog=True
)
# The consumer must run in the main thread (it uses SIGALRM timeouts); the last expected event or a watchdog
# stops it.
watchdog = threading.Timer(30, consumer._shut_down)
watchdog.daemon = True
watchdog.start()
consumer.consume_indefinitely()
watchdog.cancel()
report["received"] = received

producer = create_producer()
for item in request.get("role_events", []):
    signal = OpenEdxPublicSignal.get_signal_by_type(item["event_type"])
    user = item["user"]
    data = CourseAccessRoleData(
        user=UserData(id=user["id"], is_active=user["is_active"],
                      pii=UserPersonalData(username=user["username"], email=user["email"], name=user["name"])),
        org_key=item["org_key"], course_key=CourseKey.from_string(item["course_key"]), role=item["role"],
    )
    metadata = signal.generate_signal_metadata(time=datetime.fromisoformat(item["time"]))
    producer.send(signal=signal, topic="learning-course-access-role-lifecycle",
                  event_key_field="course_access_role_data.course_key",
                  event_data={"course_access_role_data": data}, event_metadata=metadata)
    report["role_events_sent"].append({"id": str(metadata.id), "source": metadata.source,
                                       "sourcelib": ".".join(map(str, metadata.sourcelib))})

print("COMPAT-REPORT " + json.dumps(report))
