"""Fetching a tool's JWKS over HTTP with the standard library, defensively (pitfall P20).

The URL is admin-configured on the registration, but the server behind it is the tool's: it may hang,
answer megabytes, redirect elsewhere or send HTML. So: https only by default, no redirects, a total
deadline, a size cap, strict JSON, and a cache with a TTL so launches do not refetch every time.
"""

from __future__ import annotations

import http.client
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from exams.adapters.lti.jose import strict_json_object
from exams.ports.lti import LaunchRejected, RejectionCode

DEFAULT_TIMEOUT_SECONDS = 5.0
DEFAULT_MAX_BYTES = 256 * 1024
DEFAULT_TTL_SECONDS = 300.0
DEFAULT_MIN_REFRESH_SECONDS = 30.0
DEFAULT_STALE_IF_ERROR_SECONDS = 3600.0
_CHUNK = 16 * 1024


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: D401 - urllib hook
        return None  # urllib then raises HTTPError for the 3xx


@dataclass
class _Cached:
    fetched_at: float
    jwks: Mapping[str, Any]


def _unavailable(reason: str) -> LaunchRejected:
    return LaunchRejected(RejectionCode.KEYSET_UNAVAILABLE, reason)


class UrllibKeysetFetcher:
    """A `KeysetFetcher` on urllib, with a per-URL cache. Thread-safe.

    `allowed_schemes` defaults to https only; tests on loopback pass ("http", "https").
    `clock` is monotonic seconds (injectable for tests).
    """

    def __init__(
        self,
        *,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        max_bytes: int = DEFAULT_MAX_BYTES,
        ttl: float = DEFAULT_TTL_SECONDS,
        min_refresh_interval: float = DEFAULT_MIN_REFRESH_SECONDS,
        stale_if_error: float = DEFAULT_STALE_IF_ERROR_SECONDS,
        allowed_schemes: tuple[str, ...] = ("https",),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._timeout = timeout
        self._max_bytes = max_bytes
        self._ttl = ttl
        self._min_refresh_interval = min_refresh_interval
        self._stale_if_error = stale_if_error
        self._allowed_schemes = frozenset(allowed_schemes)
        self._clock = clock
        self._cache: dict[str, _Cached] = {}
        self._lock = threading.Lock()
        self._opener = urllib.request.build_opener(_RefuseRedirects())

    def fetch(self, url: str, *, refresh: bool = False) -> Mapping[str, Any]:
        """Return the JWKS at `url`, from the cache when fresh enough. See `KeysetFetcher.fetch`."""
        now = self._clock()
        with self._lock:
            cached = self._cache.get(url)
        if cached is not None:
            age = now - cached.fetched_at
            if (not refresh and age < self._ttl) or (refresh and age < self._min_refresh_interval):
                return cached.jwks
        try:
            jwks = self._download(url)
        except LaunchRejected:
            # A refresh that fails, or a short outage of the tool, should not break launches that the
            # keys we already have can still verify.
            if cached is not None and (refresh or now - cached.fetched_at < self._stale_if_error):
                return cached.jwks
            raise
        with self._lock:
            self._cache[url] = _Cached(fetched_at=self._clock(), jwks=jwks)
        return jwks

    def _download(self, url: str) -> Mapping[str, Any]:
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in self._allowed_schemes or not parsed.netloc:
            raise _unavailable("The tool keyset URL must be an https URL.")
        request = urllib.request.Request(
            url, headers={"Accept": "application/json, application/jwk-set+json", "User-Agent": "exams-lti"}
        )
        deadline = time.monotonic() + self._timeout
        try:
            with self._opener.open(request, timeout=self._timeout) as response:
                if response.status != 200:
                    raise _unavailable("The tool keyset URL did not answer 200.")
                declared = response.headers.get("Content-Length")
                if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > self._max_bytes:
                    raise _unavailable("The tool keyset is too large.")
                body = bytearray()
                while True:
                    # The socket timeout bounds each read; the deadline bounds a server that drips bytes.
                    # read1, not read: read(n) would keep waiting until n bytes arrived.
                    if time.monotonic() > deadline:
                        raise _unavailable("The tool keyset took too long to download.")
                    chunk = response.read1(_CHUNK)
                    if not chunk:
                        break
                    body.extend(chunk)
                    if len(body) > self._max_bytes:
                        raise _unavailable("The tool keyset is too large.")
        except LaunchRejected:
            raise
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError):
            # URLError/HTTPError (incl. refused redirects), timeouts, resets, malformed responses.
            raise _unavailable("The tool keyset could not be downloaded.") from None
        try:
            document = strict_json_object(bytes(body))
        except (ValueError, UnicodeError):
            raise _unavailable("The tool keyset is not JSON.") from None
        if not isinstance(document.get("keys"), list):
            raise _unavailable("The tool keyset is not a JWKS.")
        return document
