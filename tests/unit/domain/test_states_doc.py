"""docs/states.md is generated from the domain's rules and must not drift from them."""

from __future__ import annotations

from pathlib import Path

from exams.domain.attempts import COMPLETED, INCOMPLETE, AttemptStatus
from exams.domain.states_doc import main, moves, render

S = AttemptStatus
DOC = Path(__file__).resolve().parents[3] / "docs" / "states.md"


def test_docs_states_md_is_what_the_rules_generate():
    assert DOC.read_text(encoding="utf-8") == render(), \
        "docs/states.md is stale: run .venv/bin/python -m exams.domain.states_doc docs/states.md"


def test_the_check_mode_tells_a_stale_file(tmp_path):
    stale = tmp_path / "states.md"
    stale.write_text("old\n")
    assert main(["--check", str(stale)]) == 1
    assert main([str(stale)]) == 0 and main(["--check", str(stale)]) == 0


def test_the_diagram_names_all_twelve_statuses_and_the_four_actors():
    text = render()
    for status in S:
        assert f"`{status.value}`" in text or f" {status.value} " in text
    found = moves()
    actors = {actor for by_actor in found.values() for actor in by_actor}
    assert actors == {"learner", "staff", "vendor", "expiry"}


def test_the_moves_follow_the_rules():
    found = moves()
    # No completed attempt returns to an incomplete status.
    assert not [(a, b) for a, b in found if a in COMPLETED | {S.EXPIRED} and b in INCOMPLETE]
    # Only the clock and the learner submit; only staff reject; expiry only submits in-progress attempts.
    assert {b for (a, b), who in found.items() if "expiry" in who} == {S.SUBMITTED}
    assert {a for (a, b), who in found.items() if "expiry" in who} == {S.STARTED, S.READY_TO_SUBMIT}
    assert all(set(who) == {"staff"} for (a, b), who in found.items() if b is S.REJECTED)
    # An attempt that never started is never verifiable: from the never-started statuses no move reaches
    # verified or second review, and from the finished ones those moves are marked "started only".
    for status in (S.CREATED, S.DOWNLOAD_SOFTWARE_CLICKED, S.READY_TO_START):
        assert (status, S.VERIFIED) not in found and (status, S.SECOND_REVIEW_REQUIRED) not in found
    for status in (S.SUBMITTED, S.ERROR, S.REJECTED):
        for target in (S.VERIFIED, S.SECOND_REVIEW_REQUIRED):
            for whats in found.get((status, target), {}).values():
                assert all(w.endswith("started only") for w in whats)
