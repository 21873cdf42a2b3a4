"""docs/states.md from the domain's own rules: ``python -m exams.domain.states_doc [--check] [PATH]``.

Every move is found by asking the rules, not by listing moves: for each status, each actor tries each
thing it can do (the learner's and staff's actions through ``resolve_action``, the vendor's reviews
through ``decide_control``, the tool's LtiStartAssessment, the expiry of an attempt whose time is up),
and ``Attempt.transition`` says whether the move is legal. Probes are made both for an attempt that
started (it has a start time) and for one that never did, so rules that depend on it show up.
"""

from __future__ import annotations

import sys
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from .attempts import (COMPLETED, INCOMPLETE, LEARNER_ACTIONS, STAFF_ACTIONS, Attempt, AttemptStatus,
                       resolve_action)
from .errors import DomainError
from .exams import Exam, ExamType
from .reviews import TERMINATE, ControlRequest, decide_control

S = AttemptStatus
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
LEARNER, STAFF, VENDOR, EXPIRY = "learner", "staff", "vendor", "expiry"
ACTORS = (LEARNER, STAFF, VENDOR, EXPIRY)
OWNER_ID, STAFF_ID = 7, 1
# Terminate reports that reach each review outcome (reason code, severity).
TERMINATES = (("1", "0.1"), ("1", "0.9"), ("0", "1.0"))
ALWAYS_STARTED = frozenset({S.STARTED, S.READY_TO_SUBMIT})
NEVER_STARTED = frozenset({S.CREATED, S.DOWNLOAD_SOFTWARE_CLICKED, S.READY_TO_START})


def _exam() -> Exam:
    return Exam(id=5, course_id="course-v1:org+course+run", content_id="block-v1:org+course+run+type@sequential+block@x",
                exam_name="Exam", exam_type=ExamType.PROCTORED, time_limit_mins=30)


def _probes(status: AttemptStatus) -> list[tuple[bool, Attempt]]:
    """Attempts in ``status``: one that started (if it can have) and one that never did (if it can be)."""
    out = []
    for started in (True, False):
        if (started and status in NEVER_STARTED) or (not started and status in ALWAYS_STARTED):
            continue
        start = NOW - timedelta(minutes=40) if started else None
        out.append((started, Attempt(id=3, user_id=OWNER_ID, exam_id=5, status=status, start_time=start,
                                     allowed_time_limit_mins=30 if started else None)))
    return out


def _copy(attempt: Attempt) -> Attempt:
    return Attempt(id=attempt.id, user_id=attempt.user_id, exam_id=attempt.exam_id, status=attempt.status,
                   start_time=attempt.start_time, allowed_time_limit_mins=attempt.allowed_time_limit_mins)


def _tries(actor: str, attempt: Attempt, exam: Exam) -> list[tuple[str, AttemptStatus]]:
    """(what the actor does, the status it asks for) for every thing ``actor`` may try on ``attempt``."""
    tries = []
    if actor in (LEARNER, STAFF):
        actions = LEARNER_ACTIONS if actor == LEARNER else STAFF_ACTIONS
        for action in actions:
            try:
                target = resolve_action(action, attempt, exam, caller_id=OWNER_ID if actor == LEARNER else STAFF_ID,
                                        caller_is_course_staff=actor == STAFF)
            except DomainError:
                continue
            tries.append((action, target))
    elif actor == VENDOR:
        tries.append(("LtiStartAssessment", S.READY_TO_START))
        for code, severity in TERMINATES:
            request = ControlRequest(user_sub="", resource_link_id="", attempt_number=1, action=TERMINATE,
                                     incident_time=NOW, severity=Decimal(severity), reason_code=code)
            try:
                decision = decide_control(request, attempt, [])
            except DomainError:
                continue
            if decision.move_to is not None:
                tries.append(("terminate", decision.move_to))
    elif actor == EXPIRY and attempt.is_expired(NOW):
        tries.append(("time is up", S.SUBMITTED))
    return tries


def moves() -> dict[tuple[AttemptStatus, AttemptStatus], dict[str, set[str]]]:
    """{(from, to): {actor: {"what" or "what (started attempts only)", ...}}} for every legal move."""
    exam = _exam()
    found: dict[tuple[AttemptStatus, AttemptStatus], dict[str, dict[str, set[bool]]]] = {}
    for status in S:
        for started, probe in _probes(status):
            for actor in ACTORS:
                for what, target in _tries(actor, probe, exam):
                    if target is status:
                        continue
                    attempt = _copy(probe)
                    try:
                        if attempt.transition(target, NOW, exam, actor_id=None) is None:
                            continue
                    except DomainError:
                        continue
                    found.setdefault((status, target), {}).setdefault(actor, {}).setdefault(what, set()).add(started)
    out: dict[tuple[AttemptStatus, AttemptStatus], dict[str, set[str]]] = {}
    for key, by_actor in found.items():
        for actor, whats in by_actor.items():
            for what, started in whats.items():
                qualified = what if started != {True} or key[0] in ALWAYS_STARTED else f"{what}, started only"
                out.setdefault(key, {}).setdefault(actor, set()).add(qualified)
    return out


def _label(by_actor: dict[str, set[str]]) -> str:
    """``learner (submit) + expiry (time is up)``: no ";" or ":", which end or split a Mermaid statement."""
    return " + ".join(f"{actor} ({', '.join(sorted(by_actor[actor]))})" for actor in ACTORS if actor in by_actor)


def render() -> str:
    found = moves()
    order = list(S)
    lines = [
        "# Exam attempt states",
        "",
        "<!-- Generated by `python -m exams.domain.states_doc` from the domain's rules "
        "(src/exams/domain/attempts.py, reviews.py); tests/unit/domain/test_states_doc.py fails when it "
        "is stale. Do not edit by hand. -->",
        "",
        "The 12 statuses of an exam attempt and every move between them, with who may cause it:",
        "",
        "* **learner**: the attempt's owner, through `PUT /api/v1/exams/attempt/<id>` (`start`, `stop`, `submit`, "
        "`click_download_software`, `error`); `GET /lti/start_proctoring/<id>` is `click_download_software` and "
        "`GET /lti/end_assessment/<id>` is `submit`;",
        "* **staff**: course staff, `verify` and `reject` through the same PUT;",
        "* **vendor**: the proctoring tool, its LtiStartAssessment message and its Assessment Control Service "
        "`terminate` reports (a `flag` records a result and moves nothing);",
        "* **expiry**: the clock, when an attempt's allowed time is up (on the next read, or the sweeper).",
        "",
        "Rules behind the diagram: a completed (or expired) attempt never returns to an incomplete status; starting "
        "needs no other active attempt of the learner; once finished, only staff reviews change an attempt. "
        "**An attempt that never started** (it has no start time: the learner never started the clock) may be "
        "ended (`submitted`), errored or rejected, but never becomes `verified` or `second_review_required`: a "
        "vendor's terminate of it makes it `error`, and staff cannot verify it (\"started only\" below). "
        "`timed_out` and `expired` are never entered: a time-out submits.",
        "",
        "```mermaid",
        "stateDiagram-v2",
        "    [*] --> created: learner creates the attempt",
    ]
    for (source, target) in sorted(found, key=lambda k: (order.index(k[0]), order.index(k[1]))):
        lines.append(f"    {source.value} --> {target.value}: {_label(found[(source, target)])}")
    lines += ["```", "", "## Moves by status", "", "| from | to | who (what) |", "|---|---|---|"]
    for (source, target) in sorted(found, key=lambda k: (order.index(k[0]), order.index(k[1]))):
        lines.append(f"| `{source.value}` | `{target.value}` | {_label(found[(source, target)])} |")
    lines += ["", "## Status groups", "",
              f"* incomplete: {', '.join(f'`{s.value}`' for s in order if s in INCOMPLETE)}",
              f"* completed: {', '.join(f'`{s.value}`' for s in order if s in COMPLETED)}",
              "* neither: `expired`", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    check = "--check" in args
    args = [a for a in args if a != "--check"]
    path = args[0] if args else "docs/states.md"
    text = render()
    if check:
        try:
            with open(path, encoding="utf-8") as fh:
                current = fh.read()
        except FileNotFoundError:
            current = None
        if current != text:
            print(f"{path} is stale: run python -m exams.domain.states_doc {path}", file=sys.stderr)
            return 1
        return 0
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
