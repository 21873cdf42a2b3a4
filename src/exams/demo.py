"""``exams -c INI demo``: a demo course to try the attempt API with curl (development only).

Seeds, idempotently, a course configured with the provider ``demo_proctoring`` and three exams
(proctored, timed, practice), a learner and a course staff member, and clears the learner's earlier
demo attempts so that the walk can be repeated. Returns ready-to-paste shell lines: tokens made as
``exams token`` makes them (HS256 with the configured secret) and curl commands that take a timed
attempt from creation to submission against ``exams.root_url``.
"""

from __future__ import annotations

import json
import shlex
import time

from exams.adapters.tokens.lms_jwt import sign_hs256
from exams.container import Container
from exams.units import run_in_transaction
from exams.domain.exams import ExamSpec, ExamType, Provider
from exams.domain.users import UserClaims
from exams.settings import Settings, SettingsError

COURSE = "course-v1:demo+exams+2026"
PROVIDER = "demo_proctoring"
LEARNER = ("demo_learner", 990001)
STAFF = ("demo_staff", 990002)
TOKEN_TTL = 8 * 3600
EXAMS = (  # (block name, display name, type, minutes)
    ("proctored", "Demo proctored exam", ExamType.PROCTORED, 60),
    ("timed", "Demo timed exam", ExamType.TIMED, 30),
    ("practice", "Demo practice exam", ExamType.PRACTICE, 15),
)


def usage_key(block: str) -> str:
    return f"block-v1:{COURSE.split(':', 1)[1]}+type@sequential+block@{block}"


def _token(settings: Settings, username: str, user_id: int, now: int) -> str:
    claims = {"iss": settings["exams.jwt.issuer"], "aud": settings["exams.jwt.audience"], "iat": now,
              "exp": now + TOKEN_TTL, "preferred_username": username, "administrator": False,
              "email": f"{username}@example.com", "version": "1.2.0", "is_restricted": False,
              "scopes": ["user_id", "email", "profile"], "filters": [], "user_id": user_id}
    return sign_hs256(claims, settings["exams.jwt.secret_key"])


def _seed(services, provider: str = PROVIDER) -> dict[str, int]:
    """Provider, course configuration, exams, users and role; the learner's demo attempts cleared."""
    if services.repos.providers.get_by_name(provider) is None:
        services.exams.add_provider(Provider(None, provider, "Demo proctoring", tech_support_email="help@example.com",
                                             tech_support_url="https://example.com/help"))
    services.exams.configure(COURSE, provider, "exams-demo@example.com")
    services.exams.register(COURSE, [
        ExamSpec(content_id=usage_key(block), exam_name=name, exam_type=exam_type, time_limit_mins=minutes,
                 due_date=None, hide_after_due=False, is_active=True) for block, name, exam_type, minutes in EXAMS])
    learner = services.users.provision(UserClaims(username=LEARNER[0], email=f"{LEARNER[0]}@example.com",
                                                  lms_user_id=LEARNER[1], is_staff=False))
    services.users.provision(UserClaims(username=STAFF[0], email=f"{STAFF[0]}@example.com", lms_user_id=STAFF[1],
                                        is_staff=False))
    services.users.add_course_role(STAFF[0], COURSE, "staff")
    ids = {e.content_id: e.id for e in services.exams.active_exams(COURSE)}
    for exam_id in ids.values():
        # Straight from the repository: a demo reset is not news for the LMS (no event, no email).
        attempt = services.repos.attempts.latest_for(learner.id, exam_id)
        if attempt is not None:
            services.repos.attempts.delete(attempt)
    return {block: ids[usage_key(block)] for block, _, _, _ in EXAMS}


def seed(container: Container, settings: Settings, config_path: str) -> str:
    """Seed the demo course and return the shell lines that walk a timed attempt through the API."""
    if not settings["exams.demo.enabled"]:
        raise SettingsError("the demo is for development: set exams.demo.enabled = true (EXAMS_DEMO_ENABLED) "
                            "in the ini file first")
    if not settings["exams.jwt.secret_key"]:
        raise SettingsError("no exams.jwt.secret_key (EXAMS_JWT_SECRET_KEY) is configured: cannot sign the demo "
                            "tokens")
    provider = PROVIDER
    if settings["exams.lti.allow_http_tool_urls"]:
        # Where the development proctoring tool can run (development.ini), the demo course uses it, so that
        # the proctored exam can be launched end to end on this machine.
        from exams.devtool.registration import PROVIDER_NAME, ensure_registered

        ensure_registered(container, settings)
        provider = PROVIDER_NAME
    exam_ids = run_in_transaction(container, lambda services: _seed(services, provider))
    now = int(time.time())
    root = settings["exams.root_url"]
    timed = exam_ids["timed"]
    learner = '-H "Authorization: JWT $LEARNER_TOKEN"'
    staff = '-H "Authorization: JWT $STAFF_TOKEN"'
    nl = r"-w '\n'"  # a newline after each answer, so that the JSON answers do not run together
    as_json = "-H 'Content-Type: application/json'"
    exam_view = f'"$EXAMS/api/v1/student/exam/attempt/course_id/{COURSE}/content_id/{usage_key("timed")}"'
    attempt_url = '"$EXAMS/api/v1/exams/attempt/$ATTEMPT_ID"'
    read_id = "python3 -c 'import json, sys; print(json.load(sys.stdin)[\"exam_attempt_id\"])'"
    create_body = json.dumps({"exam_id": timed, "start_clock": "true"})
    config = shlex.quote(config_path)
    lines = [
        f"# Demo course {COURSE}, configured with the provider {provider}:",
        *(f"#   {block:<9} exam_id={exam_ids[block]:<4} {name} ({minutes} min)  {usage_key(block)}"
          for block, name, _, minutes in EXAMS),
        f"# Learner {LEARNER[0]} (LMS user id {LEARNER[1]}); course staff {STAFF[0]} (LMS user id {STAFF[1]}).",
        f"# The tokens below are valid for {TOKEN_TTL // 3600} hours; new ones with",
        f"#   exams -c {config} token --username {LEARNER[0]} --user-id {LEARNER[1]}",
        "# Running the demo again clears the learner's demo attempts.",
        *([f"# The proctored exam launches the development proctoring tool: start it with",
           f"#   exams -c {config} devtool      (then open http://localhost:18741/sandbox)"]
          if provider != PROVIDER else []),
        "",
        f"export EXAMS={shlex.quote(root)}",
        f"export LEARNER_TOKEN={_token(settings, *LEARNER, now)}",
        f"export STAFF_TOKEN={_token(settings, *STAFF, now)}",
        "",
        '# 1. The learner opens the timed exam: no attempt yet ("attempt": {})',
        f"curl -s {nl} {learner} {exam_view}",
        '# 2. "I am ready to start this timed exam": create the attempt with the clock started',
        f"ATTEMPT_ID=$(curl -s -X POST {learner} {as_json} -d '{create_body}' \"$EXAMS/api/v1/exams/attempt\" "
        f"| {read_id})",
        'echo "attempt $ATTEMPT_ID"',
        "# 3. The timer polls the attempt: started, with the seconds left",
        f'curl -s {nl} {learner} "$EXAMS/api/v1/exams/attempt/latest"',
        "# 4. The LMS may now render the exam content: an access token for it",
        f'curl -s {nl} {learner} "$EXAMS/api/v1/access_tokens/exam_id/{timed}/"',
        '# 5. "End my exam": stop the attempt (ready_to_submit), then submit it',
        f"curl -s {nl} -X PUT {learner} {as_json} -d '{{\"action\": \"stop\"}}' {attempt_url}",
        f"curl -s {nl} -X PUT {learner} {as_json} -d '{{\"action\": \"submit\"}}' {attempt_url}",
        "# 6. The learner's view of the exam now holds the submitted attempt",
        f"curl -s {nl} {learner} {exam_view}",
        "# 7. Course staff see the attempt in the exams dashboard's list",
        f'curl -s {nl} {staff} "$EXAMS/api/v1/instructor_view/course_id/{COURSE}/attempts?exam_id={timed}"',
        "# 8. Course staff reset it (204), and the learner may start again from step 2",
        rf"curl -s -w '%{{http_code}}\n' -X DELETE {staff} {attempt_url}",
    ]
    return "\n".join(lines)
