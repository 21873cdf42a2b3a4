"""The LMS JWT verifier remembers the tokens it verified: what a remembered token may and may not skip."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from exams.adapters.tokens.lms_jwt import JwcryptoJwtVerifier, sign_hs256
from exams.ports.auth import InvalidToken, TokenExpired
from tests.fakes import FakeClock

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=timezone.utc)


def claims(**extra) -> dict:
    return {"iss": "lms", "aud": "exams", "preferred_username": "alice", "exp": NOW.timestamp() + 60, **extra}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def verifier(clock) -> JwcryptoJwtVerifier:
    return JwcryptoJwtVerifier(issuer="lms", audience="exams", secret_key="secret", leeway=1, clock=clock)


def test_a_remembered_token_expires_on_time(verifier, clock):
    token = sign_hs256(claims(), "secret")
    assert verifier.verify(token)["preferred_username"] == "alice"
    clock.set(NOW + timedelta(seconds=61))  # exp + leeway: still good
    assert verifier.verify(token)["preferred_username"] == "alice"
    clock.set(NOW + timedelta(seconds=61.5))
    with pytest.raises(TokenExpired):
        verifier.verify(token)
    with pytest.raises(TokenExpired):  # and stays expired
        verifier.verify(token)


def test_only_the_same_token_is_remembered_not_its_payload(verifier):
    token = sign_hs256(claims(), "secret")
    verifier.verify(token)
    forged = token.rsplit(".", 1)[0] + "." + sign_hs256(claims(), "another secret").rsplit(".", 1)[1]
    with pytest.raises(InvalidToken):
        verifier.verify(forged)


def test_a_token_refused_once_is_refused_again(verifier, clock):
    early = sign_hs256(claims(nbf=NOW.timestamp() + 30), "secret")
    for _ in range(2):
        with pytest.raises(InvalidToken):
            verifier.verify(early)
    clock.set(NOW + timedelta(seconds=30))
    assert verifier.verify(early)["preferred_username"] == "alice"  # checked in full, not remembered as refused
    wrong_audience = sign_hs256(claims(aud="another service"), "secret")
    for _ in range(2):
        with pytest.raises(InvalidToken):
            verifier.verify(wrong_audience)


def test_the_least_recently_used_tokens_are_forgotten_first(clock):
    verifier = JwcryptoJwtVerifier(issuer="lms", audience="exams", secret_key="secret", cache_size=2, clock=clock)
    tokens = [sign_hs256(claims(user_id=n), "secret") for n in range(3)]
    for token in tokens[:2]:
        verifier.verify(token)
    verifier.verify(tokens[0])  # used again: the second is now the oldest
    verifier.verify(tokens[2])
    assert list(verifier._cache) == [tokens[0], tokens[2]]
