"""The console's signed cookies: flags, tampering, expiry."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from webob import Request, Response

from exams.adapters.http.console.session import SESSION_COOKIE, SessionCookies

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=timezone.utc)


def cookie_request(value: str) -> Request:
    return Request.blank("/console/", headers={"Cookie": f"{SESSION_COOKIE}={value}"})


def issued(secure: bool = False) -> tuple[SessionCookies, str, str]:
    cookies = SessionCookies("secret", secure=secure, ttl=600)
    response = Response()
    cookies.start(response, 7, NOW)
    header = response.headers["Set-Cookie"]
    return cookies, header, header.split(";")[0].split("=", 1)[1]


def test_the_session_cookie_is_httponly_lax_and_secure_in_production():
    _, header, _ = issued(secure=True)
    assert "HttpOnly" in header and "SameSite=Lax" in header and "secure" in header.lower()
    assert "Path=/console" in header and "Max-Age=600" in header
    _, header, _ = issued(secure=False)
    assert "secure" not in header.lower()


def test_a_session_reads_back_until_it_expires():
    cookies, _, value = issued()
    session = cookies.read(cookie_request(value), NOW + timedelta(seconds=599))
    assert session.user_id == 7 and len(session.csrf) > 30
    assert cookies.read(cookie_request(value), NOW + timedelta(seconds=600)) is None


def test_a_tampered_or_foreign_cookie_is_no_session():
    cookies, _, value = issued()
    assert cookies.read(cookie_request(value[:-3] + "AAA"), NOW) is None
    other = SessionCookies("another secret", secure=False, ttl=600)
    assert other.read(cookie_request(value), NOW) is None
    assert cookies.read(cookie_request("garbage"), NOW) is None


def test_link_tokens_are_signed_and_expire():
    cookies = SessionCookies("secret", secure=False, ttl=600)
    token = cookies.link_token("alice", NOW)
    username, nonce, until = cookies.read_link(token, NOW)
    assert (username, until) == ("alice", NOW + timedelta(seconds=600)) and len(nonce) == 32
    assert cookies.read_link(token, NOW + timedelta(seconds=600)) is None
    assert cookies.read_link(token.replace(".", "x.", 1), NOW) is None
    assert SessionCookies("other", secure=False, ttl=1).read_link(token, NOW) is None
    assert cookies.read_link("", NOW) is None and cookies.read_link("a.b", NOW) is None
