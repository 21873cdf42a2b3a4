"""The pylti1p3 proctoring tool of the LTI tests reports through the ACS with its own ServiceConnector.

Each learner is launched through the real flow (the tool validates our LtiStartProctoring, posts its
LtiStartAssessment); then the tool, knowing only what the launch told it (``sub``, resource link,
attempt number, the ACS URL of the acs claim) and what the operator gave it (the token URL), obtains a
service token with pylti1p3's ``ServiceConnector`` and posts control messages: every outcome, over HTTP.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from pylti1p3.exception import LtiServiceException
from pylti1p3.service_connector import ServiceConnector

from tests.e2e.lti_tool import LTI, LTI_AP
from tests.e2e.test_lti_pylti1p3 import Browser

pytestmark = pytest.mark.e2e

ACS_SCOPE = "https://purl.imsglobal.org/spec/lti-ap/scope/control.all"
VND = "application/vnd.ims.lti-ap.v1.control+json"


def proctored(stack, username: str, user_id: int):
    """A learner launched through the tool and started; the tool's LtiStartProctoring claims."""
    learner = stack.learner(username, user_id)
    browser = Browser()
    browser.sign_in("127.0.0.1", learner.token)
    assert "Exam page" in browser.go(f"{stack.platform.url}/lti/start_proctoring/{learner.attempt_id}").text
    stack.act(learner, "start")
    return learner, stack.tool.last("LtiStartProctoring")


def control(connector: ServiceConnector, launch: dict, **fields) -> dict:
    message = {"user": {"iss": launch["iss"], "sub": launch["sub"]},
               "resource_link": {"id": launch[LTI + "resource_link"]["id"]},
               "attempt_number": launch[LTI_AP + "attempt_number"], "action": "terminate",
               "incident_time": datetime.now(timezone.utc).isoformat(), "incident_severity": 0.1, "reason_code": "1",
               **fields}
    answer = connector.make_service_request([ACS_SCOPE], launch[LTI_AP + "acs"]["assessment_control_url"],
                                            is_post=True, data=json.dumps(message), content_type=VND)
    return answer["body"]


def test_the_pylti1p3_tool_drives_every_acs_outcome_with_its_service_connector(lti_stack):
    stack = lti_stack
    connector = ServiceConnector(stack.tool.registration())
    outcomes = {}
    for (username, user_id), fields, expected in [
        (("noether", 201), {"incident_severity": 0.1}, "verified"),
        (("lovelace", 202), {"incident_severity": "0.9"}, "second_review_required"),
        (("hamilton", 203), {"reason_code": 2, "incident_severity": 1}, "error"),
        (("johnson", 204), {"action": "flag", "reason_code": "15", "incident_severity": 0.5}, "started"),
    ]:
        learner, launch = proctored(stack, username, user_id)
        assert control(connector, launch, **fields) == {"status": "terminated"}
        outcomes[username] = stack.status(learner)
        assert outcomes[username] == expected, username
    # One client-credentials exchange served every report (the connector caches its token).
    assert len(connector._access_tokens) == 1


def test_the_acs_refuses_the_tool_a_finished_attempt_and_a_bad_severity(lti_stack):
    stack = lti_stack
    connector = ServiceConnector(stack.tool.registration())
    learner, launch = proctored(stack, "turing", 205)
    with pytest.raises(LtiServiceException) as refused:
        control(connector, launch, incident_severity="NaN")
    assert refused.value.response.status_code == 400
    assert refused.value.response.json()["code"] == "invalid_incident_severity"
    assert stack.status(learner) == "started"
    control(connector, launch)
    with pytest.raises(LtiServiceException) as refused:
        control(connector, launch, incident_severity=0.9)
    assert refused.value.response.status_code == 400
    assert stack.status(learner) == "verified"
