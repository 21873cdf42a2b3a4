"""Fetching tool keysets over HTTP (P20), against a real server on 127.0.0.1."""

from __future__ import annotations

import dataclasses
import http.server
import json
import socket
import threading
import time

import pytest

from exams.adapters.lti import JwcryptoLtiPlatform, UrllibKeysetFetcher
from exams.ports.lti import KeysetFetcher, LaunchRejected, RejectionCode

from .conftest import ISSUER, FakeNonceStore, FixedClock, PlatformClock
from .test_start_assessment import EXPECTED, start_assessment_claims

JWKS = {"keys": [{"kty": "RSA", "kid": "k1", "n": "AQAB", "e": "AQAB"}]}


class Server:
    """A loopback HTTP server whose routes the tests control; counts requests per path."""

    def __init__(self) -> None:
        self.routes: dict[str, callable] = {}
        self.hits: dict[str, int] = {}
        self.release = threading.Event()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server API
                server.hits[self.path] = server.hits.get(self.path, 0) + 1
                route = server.routes.get(self.path)
                if route is None:
                    self.send_error(404)
                    return
                try:
                    route(self)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def send(handler, body: bytes, content_type: str = "application/json", status: int = 200, length: bool = True):
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    if length:
        handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


@pytest.fixture(scope="module")
def server():
    srv = Server()
    srv.routes.update({
        "/jwks": lambda h: send(h, json.dumps(JWKS).encode()),
        "/html": lambda h: send(h, b"<html><body>Sign in</body></html>", "text/html"),
        "/not-a-jwks": lambda h: send(h, b'{"keys": "none"}'),
        "/list": lambda h: send(h, b"[]"),
        "/huge-declared": lambda h: send(h, b"{" + b" " * (300 * 1024) + b"}"),
        "/huge-undeclared": lambda h: send(h, b'{"keys": [], "pad": "' + b"x" * (10 * 1024 * 1024) + b'"}', length=False),
        "/error": lambda h: send(h, b"{}", status=500),
        "/redirect": lambda h: (h.send_response(302), h.send_header("Location", srv.url("/jwks")), h.end_headers()),
        "/hang": lambda h: srv.release.wait(10),
        "/drip": lambda h: drip(h, srv.release),
    })
    yield srv
    srv.close()


def drip(handler, release: threading.Event):
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.end_headers()
    handler.wfile.write(b'{"keys": [')
    for _ in range(100):
        if release.wait(0.1):
            return
        handler.wfile.write(b" ")
        handler.wfile.flush()


def loopback_fetcher(**kwargs) -> UrllibKeysetFetcher:
    kwargs.setdefault("allowed_schemes", ("http",))
    kwargs.setdefault("timeout", 0.5)
    return UrllibKeysetFetcher(**kwargs)


def unavailable(fetcher, url, **kwargs) -> None:
    with pytest.raises(LaunchRejected) as excinfo:
        fetcher.fetch(url, **kwargs)
    assert excinfo.value.code == RejectionCode.KEYSET_UNAVAILABLE


def test_the_urllib_fetcher_satisfies_the_port():
    fetcher: KeysetFetcher = UrllibKeysetFetcher()
    assert callable(fetcher.fetch)


def test_a_keyset_is_fetched_then_served_from_the_cache_until_its_ttl(server):
    clock = FixedClock(1000.0)
    fetcher = loopback_fetcher(clock=clock, ttl=300)
    url = server.url("/jwks")
    before = server.hits.get("/jwks", 0)
    assert fetcher.fetch(url) == JWKS
    clock.now += 299
    assert fetcher.fetch(url) == JWKS
    assert server.hits["/jwks"] == before + 1
    clock.now += 2
    fetcher.fetch(url)
    assert server.hits["/jwks"] == before + 2


def test_forced_refreshes_are_rate_limited(server):
    clock = FixedClock(1000.0)
    fetcher = loopback_fetcher(clock=clock, min_refresh_interval=30)
    url = server.url("/jwks")
    before = server.hits.get("/jwks", 0)
    fetcher.fetch(url)
    fetcher.fetch(url, refresh=True)
    fetcher.fetch(url, refresh=True)
    assert server.hits["/jwks"] == before + 1
    clock.now += 31
    fetcher.fetch(url, refresh=True)
    assert server.hits["/jwks"] == before + 2


@pytest.mark.parametrize("path", ["/html", "/not-a-jwks", "/list", "/error", "/missing", "/redirect"])
def test_anything_but_a_jwks_document_is_unavailable(server, path):
    unavailable(loopback_fetcher(), server.url(path))


def test_redirects_are_not_followed(server):
    before = server.hits.get("/jwks", 0)
    unavailable(loopback_fetcher(), server.url("/redirect"))
    assert server.hits.get("/jwks", 0) == before


@pytest.mark.parametrize("path", ["/huge-declared", "/huge-undeclared"])
def test_an_oversized_keyset_is_refused(server, path):
    started = time.monotonic()
    unavailable(loopback_fetcher(max_bytes=256 * 1024), server.url(path))
    assert time.monotonic() - started < 2


def test_a_server_that_hangs_times_out(server):
    started = time.monotonic()
    unavailable(loopback_fetcher(timeout=0.3), server.url("/hang"))
    assert time.monotonic() - started < 2


def test_a_server_that_drips_bytes_hits_the_total_deadline(server):
    started = time.monotonic()
    unavailable(loopback_fetcher(timeout=0.4), server.url("/drip"))
    assert time.monotonic() - started < 2


def test_a_refused_connection_is_unavailable(server):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    unavailable(loopback_fetcher(), f"http://127.0.0.1:{port}/jwks")


@pytest.mark.parametrize("url", ["http://127.0.0.1:1/jwks", "file:///etc/passwd", "ftp://tool.example/jwks", "https:///jwks", "jwks"])
def test_only_https_urls_are_fetched_by_default(url):
    unavailable(UrllibKeysetFetcher(), url)


def test_a_cached_keyset_survives_a_short_outage(server):
    clock = FixedClock(1000.0)
    fetcher = loopback_fetcher(clock=clock, ttl=300, stale_if_error=3600)
    server.routes["/flaky"] = server.routes["/jwks"]
    url = server.url("/flaky")
    fetcher.fetch(url)
    server.routes["/flaky"] = server.routes["/error"]
    clock.now += 600
    assert fetcher.fetch(url) == JWKS
    assert fetcher.fetch(url, refresh=True) == JWKS
    clock.now += 3600
    unavailable(fetcher, url)


def test_a_start_assessment_verifies_against_a_keyset_served_over_http(server, registration_a, tool_a_key):
    server.routes["/tool-a-jwks"] = lambda h: send(h, json.dumps(tool_a_key.jwks()).encode())
    platform = JwcryptoLtiPlatform(ISSUER, clock=PlatformClock(FixedClock()), keyset_fetcher=loopback_fetcher())
    registration = dataclasses.replace(registration_a, tool_jwks_url=server.url("/tool-a-jwks"))
    token = tool_a_key.sign(start_assessment_claims())
    assert platform.verify_start_assessment(registration, token, EXPECTED, FakeNonceStore()).attempt_number == 1


def test_a_keyset_outage_is_a_launch_rejection_for_the_platform(server, registration_a, tool_a_key):
    platform = JwcryptoLtiPlatform(ISSUER, clock=PlatformClock(FixedClock()), keyset_fetcher=loopback_fetcher(timeout=0.3))
    registration = dataclasses.replace(registration_a, tool_jwks_url=server.url("/hang"))
    with pytest.raises(LaunchRejected) as excinfo:
        platform.verify_start_assessment(registration, tool_a_key.sign(start_assessment_claims()), EXPECTED, FakeNonceStore())
    assert excinfo.value.code == RejectionCode.KEYSET_UNAVAILABLE
