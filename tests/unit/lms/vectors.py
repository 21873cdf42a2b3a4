"""Golden wire data copied from /work/shared/reference/event-bus.md §1.3 (produced there by openedx-events 10.5.0
``serialize_event_data_to_bytes`` and checked against plain fastavro and Apache avro)."""

# exam.attempt.verified.v1, student 42 "learner", requesting_user null: 136 bytes.
VERIFIED_HEX = (
    "54010e6c6561726e65721a6c406578616d706c652e636f6d124cc3a92041726e65723e636f757273652d76313a6564582b44656d6f58"
    "2b44656d6f5f436f7572736574626c6f636b2d76313a6564582b44656d6f582b44656d6f5f436f757273652b747970654073657175"
    "656e7469616c2b626c6f636b406578616d311270726f63746f72656400"
)

# course_access_role.removed.v1, user 7 "staff", org edX, role limited_staff: 82 bytes.
ROLE_REMOVED_HEX = (
    "0e010a73746166661a73406578616d706c652e636f6d1253616d205374616666066564583e636f757273652d76313a6564582b4465"
    "6d6f582b44656d6f5f436f757273651a6c696d697465645f7374616666"
)

# Pieces of the vectors above, used to build the other shapes the reference describes in words: the UserData
# bytes of each user are the start of their vector.
STUDENT_USERDATA_HEX = VERIFIED_HEX[: 34 * 2]  # 54 01 0e "learner" 1a "l@example.com" 12 "Lé Arner"
STAFF_USERDATA_HEX = ROLE_REMOVED_HEX[: 32 * 2]  # 0e 01 0a "staff" 1a "s@example.com" 12 "Sam Staff"

# Same record with requesting_user = the student (the SUBMITTED shape): 170 bytes, ends 02 + the student again.
SUBMITTED_HEX = VERIFIED_HEX[:-2] + "02" + STUDENT_USERDATA_HEX
# Same record with requesting_user = the staff user (the RESET shape: the caller).
RESET_BY_STAFF_HEX = VERIFIED_HEX[:-2] + "02" + STAFF_USERDATA_HEX

COURSE_KEY = "course-v1:edX+DemoX+Demo_Course"
USAGE_KEY = "block-v1:edX+DemoX+Demo_Course+type@sequential+block@exam1"

STUDENT = dict(lms_user_id=42, is_active=True, username="learner", email="l@example.com", full_name="Lé Arner")
STAFF = dict(lms_user_id=7, is_active=True, username="staff", email="s@example.com", full_name="Sam Staff")

# The schemas as event-bus.md §1.3 prints them (namespace of the first type of each family).
EXAM_SCHEMA_JSON = """
{
  "name": "CloudEvent",
  "type": "record",
  "doc": "Avro Event Format for CloudEvents created with openedx_events/schema",
  "namespace": "org.openedx.learning.exam.attempt.submitted.v1",
  "fields": [
    {"name": "exam_attempt", "type": {
      "name": "ExamAttemptData", "type": "record", "fields": [
        {"name": "student_user", "type": {
          "name": "UserData", "type": "record", "fields": [
            {"name": "id", "type": "long"},
            {"name": "is_active", "type": "boolean"},
            {"name": "pii", "type": {
              "name": "UserPersonalData", "type": "record", "fields": [
                {"name": "username", "type": "string"},
                {"name": "email", "type": "string"},
                {"name": "name", "type": "string"}]}}]}},
        {"name": "course_key", "type": "string"},
        {"name": "usage_key", "type": "string"},
        {"name": "exam_type", "type": "string"},
        {"name": "requesting_user", "type": ["null", "UserData"], "default": null}]}}]
}
"""

ROLE_SCHEMA_JSON = """
{
  "name": "CloudEvent",
  "type": "record",
  "doc": "Avro Event Format for CloudEvents created with openedx_events/schema",
  "namespace": "org.openedx.learning.user.course_access_role.added.v1",
  "fields": [
    {"name": "course_access_role_data", "type": {
      "name": "CourseAccessRoleData", "type": "record", "fields": [
        {"name": "user", "type": {
          "name": "UserData", "type": "record", "fields": [
            {"name": "id", "type": "long"},
            {"name": "is_active", "type": "boolean"},
            {"name": "pii", "type": {
              "name": "UserPersonalData", "type": "record", "fields": [
                {"name": "username", "type": "string"},
                {"name": "email", "type": "string"},
                {"name": "name", "type": "string"}]}}]}},
        {"name": "org_key", "type": "string"},
        {"name": "course_key", "type": "string"},
        {"name": "role", "type": "string"}]}}]
}
"""
