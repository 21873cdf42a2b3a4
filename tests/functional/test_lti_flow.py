"""The learner's LTI proctoring flow through the HTTP stack, with the tool played by the test."""

from __future__ import annotations

from tests.functional.test_lti_support import (  # noqa: F401 (fixtures)
    LEARNER, attempt_status, exam_url, launch, other_tool_key, platform_keys, post_start_assessment,
    start_assessment_claims, tool_key, world)


def test_the_learner_goes_from_start_to_submitted_through_the_tool(testapp, wsgi, world):
    claims = launch(testapp, world)
    assert attempt_status(wsgi, world.attempt_id) == "download_software_clicked"
    token = world.tool_key.sign(start_assessment_claims(claims))
    response = post_start_assessment(testapp, token)
    assert response.location == exam_url()
    assert attempt_status(wsgi, world.attempt_id) == "ready_to_start"
    testapp.put_json(f"/api/v1/exams/attempt/{world.attempt_id}", {"action": "start"}, headers=LEARNER)
    assert attempt_status(wsgi, world.attempt_id) == "started"
    end = testapp.get(f"/lti/end_assessment/{world.attempt_id}", headers=LEARNER, status=302)
    assert end.location == exam_url()
    assert attempt_status(wsgi, world.attempt_id) == "submitted"
