"""The schema constants are the ones openedx-events derives (event-bus.md §1.3)."""

import json

import fastavro
import pytest

from exams.adapters.lms.schemas import SCHEMAS, TOPICS, schema_string
from exams.ports.events import COURSE_ACCESS_ROLE_EVENT_TYPES, EXAM_ATTEMPT_EVENT_TYPES
from tests.unit.lms.vectors import EXAM_SCHEMA_JSON, ROLE_SCHEMA_JSON


def with_namespace(schema_json, namespace):
    schema = json.loads(schema_json)
    schema["namespace"] = namespace
    return schema


@pytest.mark.parametrize("event_type", EXAM_ATTEMPT_EVENT_TYPES)
def test_exam_attempt_schemas_equal_the_reference_with_their_own_namespace(event_type):
    assert SCHEMAS[event_type] == with_namespace(EXAM_SCHEMA_JSON, event_type)
    assert TOPICS[event_type] == "learning-exam-attempt-lifecycle"


@pytest.mark.parametrize("event_type", COURSE_ACCESS_ROLE_EVENT_TYPES)
def test_role_schemas_equal_the_reference_with_their_own_namespace(event_type):
    assert SCHEMAS[event_type] == with_namespace(ROLE_SCHEMA_JSON, event_type)
    assert TOPICS[event_type] == "learning-course-access-role-lifecycle"


def test_field_order_is_the_attrs_definition_order():
    exam = SCHEMAS[EXAM_ATTEMPT_EVENT_TYPES[0]]["fields"][0]["type"]
    assert [f["name"] for f in exam["fields"]] == [
        "student_user", "course_key", "usage_key", "exam_type", "requesting_user"]
    role = SCHEMAS[COURSE_ACCESS_ROLE_EVENT_TYPES[0]]["fields"][0]["type"]
    assert [f["name"] for f in role["fields"]] == ["user", "org_key", "course_key", "role"]
    user = role["fields"][0]["type"]
    assert [f["name"] for f in user["fields"]] == ["id", "is_active", "pii"]


@pytest.mark.parametrize("event_type", list(SCHEMAS))
def test_every_schema_parses_with_fastavro(event_type):
    parsed = fastavro.parse_schema(SCHEMAS[event_type], named_schemas={})
    assert parsed["name"] == f"{event_type}.CloudEvent"


def test_schema_string_is_sorted_json_as_registered_upstream():
    event_type = EXAM_ATTEMPT_EVENT_TYPES[0]
    assert schema_string(event_type) == json.dumps(SCHEMAS[event_type], sort_keys=True)
    assert json.loads(schema_string(event_type)) == SCHEMAS[event_type]
