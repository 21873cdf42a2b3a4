"""The LTI store contract (exams.ports.lti_store): registrations, launch state and single-use nonces, on the
in-memory fakes, SQLite and PostgreSQL alike (tests/fakes_lti.py must keep what the SQL store keeps)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from exams.domain.errors import Conflict
from exams.ports.lti import MESSAGE_END_ASSESSMENT, MESSAGE_START_PROCTORING
from exams.ports.lti_store import LaunchState
from tests.fakes_lti import a_registration

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)


def launch(registration_id, user_id, attempt_id, exam_id, *, hint="hint-1", binding="b" * 64,
           message_type=MESSAGE_START_PROCTORING, **kw) -> LaunchState:
    values = dict(id=None, message_hint=hint, message_type=message_type, registration_id=registration_id,
                  user_id=user_id, attempt_id=attempt_id, exam_id=exam_id, browser_binding=binding,
                  session_data="s" * 43, hint_expires_at=NOW + timedelta(minutes=10),
                  expires_at=NOW + timedelta(hours=2), created=NOW)
    values.update(kw)
    return LaunchState(**values)


def test_a_registration_round_trips_with_its_redirect_uris_and_keys(lti):
    repos = lti.store
    stored = repos.registrations.add(a_registration())
    assert stored.registration_id.isdigit()
    assert repos.registrations.get(stored.registration_id) == stored
    assert repos.registrations.get_by_client_id("tool-1") == stored
    assert stored.redirect_uris == ("https://tool.example/launch", "https://tool.example/other")
    assert stored.deployment_id == "1"
    assert stored.tool_public_key is None
    assert repos.registrations.list() == [stored]


def test_unknown_or_malformed_registration_ids_find_nothing(lti):
    repos = lti.store
    repos.registrations.add(a_registration())
    for bad in ("999", "abc", "", "1; drop table", "1" * 40, "-1"):
        assert repos.registrations.get(bad) is None
    assert repos.registrations.get_by_client_id("nope") is None


def test_a_taken_client_id_or_kid_is_a_conflict_and_the_transaction_goes_on(lti):
    repos = lti.store
    repos.registrations.add(a_registration())
    with pytest.raises(Conflict):
        repos.registrations.add(a_registration(kid="kid-2"))
    with pytest.raises(Conflict):
        repos.registrations.add(a_registration(client_id="tool-2"))
    other = repos.registrations.add(a_registration(client_id="tool-3", kid="kid-3", redirect_uris=()))
    assert [r.client_id for r in repos.registrations.list()] == ["tool-1", "tool-3"]
    assert other.allowed_redirect_uris() == ("https://tool.example/launch",)


def test_a_nonce_is_usable_once_until_it_expires(lti):
    nonces = lti.store.nonces
    assert nonces.use("lti:abc", NOW + timedelta(minutes=5)) is True
    assert nonces.use("lti:abc", NOW + timedelta(minutes=5)) is False
    assert nonces.use("lti:other", NOW + timedelta(minutes=5)) is True


def test_an_expired_nonce_may_be_used_again_by_one_caller(lti):
    nonces = lti.store.nonces
    assert nonces.use("lti:abc", NOW + timedelta(minutes=5))
    lti.clock.at = NOW + timedelta(minutes=6)
    assert nonces.use("lti:abc", NOW + timedelta(minutes=20)) is True
    assert nonces.use("lti:abc", NOW + timedelta(minutes=20)) is False


def test_purging_forgets_only_expired_nonces(lti):
    nonces = lti.store.nonces
    nonces.use("old", NOW - timedelta(seconds=1))
    nonces.use("new", NOW + timedelta(minutes=1))
    assert nonces.purge_expired(NOW) == 1
    assert nonces.use("new", NOW + timedelta(minutes=1)) is False


def test_nonce_keys_must_be_short_strings(lti):
    nonces = lti.store.nonces
    with pytest.raises(ValueError):
        nonces.use("x" * 101, NOW)
    with pytest.raises(ValueError):
        nonces.use("", NOW)
    with pytest.raises(ValueError):
        nonces.use("naive", datetime(2026, 1, 1))


def test_a_launch_is_found_by_its_hint_and_its_hint_is_spent_once(lti):
    repos = lti.store
    reg = repos.registrations.add(a_registration())
    user_id, exam_id, attempt_id = lti.seed_attempt(NOW)
    stored = repos.launches.add(launch(reg.registration_id, user_id, attempt_id, exam_id))
    assert stored.id is not None
    assert repos.launches.get_by_hint("hint-1") == stored
    assert repos.launches.get_by_hint("other") is None
    assert repos.launches.get_by_hint("x" * 65) is None
    assert repos.launches.mark_used(stored.id, NOW) is True
    assert repos.launches.mark_used(stored.id, NOW) is False
    assert repos.launches.get_by_hint("hint-1").used is True


def test_a_hint_cannot_be_spent_after_it_expired(lti):
    repos = lti.store
    reg = repos.registrations.add(a_registration())
    user_id, exam_id, attempt_id = lti.seed_attempt(NOW)
    stored = repos.launches.add(launch(reg.registration_id, user_id, attempt_id, exam_id))
    assert repos.launches.mark_used(stored.id, NOW + timedelta(minutes=10)) is False


def test_pending_starts_are_this_browsers_used_uncompleted_unexpired_start_launches(lti):
    repos = lti.store
    reg = repos.registrations.add(a_registration())
    other_reg = repos.registrations.add(a_registration(client_id="tool-2", kid="kid-2"))
    user_id, exam_id, attempt_id = lti.seed_attempt(NOW)
    mine = repos.launches.add(launch(reg.registration_id, user_id, attempt_id, exam_id, hint="mine"))
    newer = repos.launches.add(launch(reg.registration_id, user_id, attempt_id, exam_id, hint="newer"))
    repos.launches.add(launch(reg.registration_id, user_id, attempt_id, exam_id, hint="unused"))
    elsewhere = repos.launches.add(launch(reg.registration_id, user_id, attempt_id, exam_id, hint="elsewhere",
                                          binding="c" * 64))
    other_tool = repos.launches.add(launch(other_reg.registration_id, user_id, attempt_id, exam_id, hint="tool2"))
    ending = repos.launches.add(launch(reg.registration_id, user_id, attempt_id, exam_id, hint="end",
                                       message_type=MESSAGE_END_ASSESSMENT, session_data=None))
    for state in (mine, newer, elsewhere, other_tool, ending):
        assert repos.launches.mark_used(state.id, NOW)
    pending = repos.launches.pending_starts(user_id, reg.registration_id, "b" * 64, NOW)
    assert [p.message_hint for p in pending] == ["newer", "mine"]
    assert repos.launches.pending_starts(user_id, reg.registration_id, "b" * 64, NOW + timedelta(hours=2)) == []
    assert repos.launches.pending_starts(user_id + 1, reg.registration_id, "b" * 64, NOW) == []


def test_a_launch_completes_once_and_remembers_end_assessment_return(lti):
    repos = lti.store
    reg = repos.registrations.add(a_registration())
    user_id, exam_id, attempt_id = lti.seed_attempt(NOW)
    stored = repos.launches.add(launch(reg.registration_id, user_id, attempt_id, exam_id))
    assert repos.launches.complete(stored.id, True, NOW) is False  # hint not spent yet
    repos.launches.mark_used(stored.id, NOW)
    assert repos.launches.last_completed_start(attempt_id) is None
    assert repos.launches.complete(stored.id, True, NOW + timedelta(hours=3)) is False  # expired
    assert repos.launches.complete(stored.id, True, NOW) is True
    assert repos.launches.complete(stored.id, False, NOW) is False
    done = repos.launches.last_completed_start(attempt_id)
    assert done.id == stored.id and done.completed and done.end_assessment_return is True
    assert repos.launches.pending_starts(user_id, reg.registration_id, "b" * 64, NOW) == []


def test_purging_deletes_expired_uncompleted_launches_only(lti):
    repos = lti.store
    reg = repos.registrations.add(a_registration())
    user_id, exam_id, attempt_id = lti.seed_attempt(NOW)
    repos.launches.add(launch(reg.registration_id, user_id, attempt_id, exam_id, hint="old",
                              expires_at=NOW - timedelta(seconds=1)))
    repos.launches.add(launch(reg.registration_id, user_id, attempt_id, exam_id, hint="live"))
    done = repos.launches.add(launch(reg.registration_id, user_id, attempt_id, exam_id, hint="done"))
    repos.launches.mark_used(done.id, NOW)
    repos.launches.complete(done.id, True, NOW)
    assert repos.launches.purge_expired(NOW + timedelta(minutes=1)) == 1
    assert repos.launches.get_by_hint("old") is None
    assert repos.launches.get_by_hint("live") is not None
    assert repos.launches.purge_expired(NOW + timedelta(days=1)) == 1
    assert repos.launches.last_completed_start(attempt_id).message_hint == "done"


@pytest.mark.parametrize("value", ["a\x00b", "\ud800", 7, None])
def test_lookups_with_values_no_database_can_hold_find_nothing(lti, value):
    repos = lti.store
    repos.registrations.add(a_registration())
    assert repos.registrations.get_by_client_id(value) is None
    assert repos.launches.get_by_hint(value) is None
