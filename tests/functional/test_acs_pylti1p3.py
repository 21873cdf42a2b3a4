"""A tool built on the real LTI 1.3 tool library, pylti1p3, reports every ACS outcome through the real HTTP stack.

pylti1p3's own ``ServiceConnector`` signs the client assertion, obtains the service token from our
token endpoint and posts the control message, as a vendor's code would: the service is served by
waitress on loopback (one server per database backend).
"""

from __future__ import annotations

import json

import pytest
from pylti1p3.exception import LtiServiceException
from pylti1p3.registration import Registration
from pylti1p3.service_connector import ServiceConnector

from exams.ports.lti import ACS_SCOPE
from tests.served import ServedApp
from tests.functional.acs_world import ROOT, VND, World


@pytest.fixture(scope="module")
def served(wsgi):
    server = ServedApp(wsgi).start()
    yield server.url
    server.close()


@pytest.fixture
def world(testapp, engine):
    world = World(engine)
    world.add_tool("proctorio")
    world.add_tool("examity")
    return world


def connector(served, tool) -> ServiceConnector:
    """The tool's side, configured as a vendor configures pylti1p3 from our `provider list` output."""
    registration = (Registration()
                    .set_issuer(ROOT)
                    .set_client_id(tool.registration.client_id)
                    .set_auth_token_url(served + tool.token_path)
                    # The service sits behind a port here; the assertion names our public token URL.
                    .set_auth_audience(ROOT + tool.token_path)
                    .set_tool_private_key(tool.key.export_to_pem(private_key=True, password=None).decode())
                    .set_tool_public_key(tool.key.export_to_pem().decode()))
    return ServiceConnector(registration)


def report(served, tool, connection, learner, **changes):
    return connection.make_service_request([ACS_SCOPE], served + tool.acs_path, is_post=True,
                                           data=json.dumps(learner.message(**changes)), content_type=VND)


@pytest.mark.parametrize("changes, outcome", [
    ({"reason_code": "1", "incident_severity": 0.1}, "verified"),
    ({"reason_code": "1", "incident_severity": "0.9"}, "second_review_required"),
    ({"reason_code": 2, "incident_severity": 1}, "error"),
])
def test_pylti1p3_obtains_a_token_and_terminates_with_each_outcome(served, world, changes, outcome):
    tool = world.tools[0]
    learner = world.add_learner(tool)
    answer = report(served, tool, connector(served, tool), learner, **changes)
    assert answer["body"] == {"status": "terminated"}
    assert world.status(learner) == outcome
    assert [r.action_type for r in world.results(learner)] == ["terminate"]


def test_pylti1p3_flags_then_terminates_with_one_token(served, world):
    tool = world.tools[0]
    learner = world.add_learner(tool)
    connection = connector(served, tool)
    assert report(served, tool, connection, learner, action="flag", reason_code="15")["body"] == \
        {"status": "terminated"}
    assert world.status(learner) == "started"
    report(served, tool, connection, learner)
    assert world.status(learner) == "verified"
    assert [r.action_type for r in world.results(learner)] == ["flag", "terminate"]


def test_pylti1p3_with_the_token_of_one_tool_cannot_touch_the_other_tools_attempts(served, world):
    tool, other = world.tools
    learner = world.add_learner(other, content="block-v1:edx+acs+2024+type@sequential+block@2")
    connection = connector(served, tool)
    with pytest.raises(LtiServiceException) as refused:
        report(served, other, connection, learner)
    assert refused.value.response.status_code == 403
    with pytest.raises(LtiServiceException) as refused:
        report(served, tool, connection, learner)
    assert refused.value.response.status_code == 404
    assert world.status(learner) == "started"
