"""Avro schemas of the event payloads we exchange with the LMS, exactly as openedx-events derives them.

Each schema is the ``CloudEvent`` record openedx-events builds from the signal's data class (event-bus.md §1.3):
the event type is the namespace, nested attrs classes become records named after the class, ``UserData`` is
defined once and then referenced by its bare name, and an attribute defaulting to None is ``["null", T]`` with
``"default": null``. Field order is the attrs definition order and is part of the binary format.

The schemas only differ by namespace within a family, so they are built by two functions and then frozen in
``SCHEMAS``. Treat the returned dicts as read-only.
"""

from __future__ import annotations

import json

from exams.ports.events import (
    COURSE_ACCESS_ROLE_EVENT_TYPES,
    COURSE_ACCESS_ROLE_TOPIC,
    EXAM_ATTEMPT_EVENT_TYPES,
    EXAM_ATTEMPT_TOPIC,
)

_CLOUD_EVENT_DOC = "Avro Event Format for CloudEvents created with openedx_events/schema"


def _user_data_record() -> dict:
    """``UserData``: ``id``, ``is_active`` (inherited from UserNonPersonalData) then ``pii``."""
    return {
        "name": "UserData",
        "type": "record",
        "fields": [
            {"name": "id", "type": "long"},
            {"name": "is_active", "type": "boolean"},
            {
                "name": "pii",
                "type": {
                    "name": "UserPersonalData",
                    "type": "record",
                    "fields": [
                        {"name": "username", "type": "string"},
                        {"name": "email", "type": "string"},
                        {"name": "name", "type": "string"},
                    ],
                },
            },
        ],
    }


def exam_attempt_schema(event_type: str) -> dict:
    """The ``CloudEvent`` schema of one of the five exam attempt events (data kwarg ``exam_attempt``)."""
    if event_type not in EXAM_ATTEMPT_EVENT_TYPES:
        raise KeyError(event_type)
    return {
        "name": "CloudEvent",
        "type": "record",
        "doc": _CLOUD_EVENT_DOC,
        "namespace": event_type,
        "fields": [
            {
                "name": "exam_attempt",
                "type": {
                    "name": "ExamAttemptData",
                    "type": "record",
                    "fields": [
                        {"name": "student_user", "type": _user_data_record()},
                        {"name": "course_key", "type": "string"},
                        {"name": "usage_key", "type": "string"},
                        {"name": "exam_type", "type": "string"},
                        # Second use of UserData: a reference by bare name, not a redefinition.
                        {"name": "requesting_user", "type": ["null", "UserData"], "default": None},
                    ],
                },
            }
        ],
    }


def course_access_role_schema(event_type: str) -> dict:
    """The ``CloudEvent`` schema of a course access role event (data kwarg ``course_access_role_data``).

    Field order ``user, org_key, course_key, role`` follows the attrs class, not its docstring.
    """
    if event_type not in COURSE_ACCESS_ROLE_EVENT_TYPES:
        raise KeyError(event_type)
    return {
        "name": "CloudEvent",
        "type": "record",
        "doc": _CLOUD_EVENT_DOC,
        "namespace": event_type,
        "fields": [
            {
                "name": "course_access_role_data",
                "type": {
                    "name": "CourseAccessRoleData",
                    "type": "record",
                    "fields": [
                        {"name": "user", "type": _user_data_record()},
                        {"name": "org_key", "type": "string"},
                        {"name": "course_key", "type": "string"},
                        {"name": "role", "type": "string"},
                    ],
                },
            }
        ],
    }


#: event type -> schema dict, for all seven event types.
SCHEMAS: dict[str, dict] = {
    **{t: exam_attempt_schema(t) for t in EXAM_ATTEMPT_EVENT_TYPES},
    **{t: course_access_role_schema(t) for t in COURSE_ACCESS_ROLE_EVENT_TYPES},
}

#: event type -> unprefixed topic.
TOPICS: dict[str, str] = {
    **{t: EXAM_ATTEMPT_TOPIC for t in EXAM_ATTEMPT_EVENT_TYPES},
    **{t: COURSE_ACCESS_ROLE_TOPIC for t in COURSE_ACCESS_ROLE_EVENT_TYPES},
}

#: event type -> name of the single data kwarg of the signal (the one top-level field).
DATA_FIELDS: dict[str, str] = {
    **{t: "exam_attempt" for t in EXAM_ATTEMPT_EVENT_TYPES},
    **{t: "course_access_role_data" for t in COURSE_ACCESS_ROLE_EVENT_TYPES},
}


def schema_string(event_type: str) -> str:
    """The schema as openedx-events registers it with a schema registry: ``json.dumps(schema, sort_keys=True)``."""
    return json.dumps(SCHEMAS[event_type], sort_keys=True)
