"""A stand-in for the LMS's OAuth2 provider on loopback: authorization codes and JWT access tokens.

``/oauth2/authorize`` plays a user who is signed in to the LMS and approves at once: it redirects to the
``redirect_uri`` with a fresh code and the ``state`` it was given. ``/oauth2/access_token`` exchanges a code
(once) for a JWT signed with the tests' LMS secret, as edx-platform does with ``token_type=jwt``.
"""

from __future__ import annotations

import json
import secrets
import threading
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlencode

from tests.conftest import make_token
from tests.served import ServedApp

CLIENT_ID = "exams-console-client"
CLIENT_SECRET = "exams-console-secret"


@dataclass
class StubOAuth2:
    user: dict = field(default_factory=lambda: {"username": "operator", "user_id": 900, "staff": True})
    codes: dict = field(default_factory=dict)
    authorize_requests: list = field(default_factory=list)
    token_requests: list = field(default_factory=list)

    def __post_init__(self):
        self.lock = threading.Lock()
        self.server = ServedApp(self, name="stub-oauth2")
        self.url = self.server.url

    def start(self) -> "StubOAuth2":
        self.server.start()
        return self

    def close(self) -> None:
        self.server.close()

    def sign_in_as(self, username: str, *, user_id: int, staff: bool = False, **claims) -> None:
        self.user = {"username": username, "user_id": user_id, "staff": staff, **claims}

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == "/oauth2/authorize" and environ["REQUEST_METHOD"] == "GET":
            query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
            self.authorize_requests.append(query)
            if query.get("client_id") != CLIENT_ID or query.get("response_type") != "code":
                return self._answer(start_response, "400 Bad Request", {"error": "invalid_request"})
            code = secrets.token_urlsafe(16)
            with self.lock:
                self.codes[code] = (dict(self.user), query["redirect_uri"])
            location = query["redirect_uri"] + "?" + urlencode({"code": code, "state": query.get("state", "")})
            start_response("302 Found", [("Location", location), ("Content-Length", "0")])
            return [b""]
        if path == "/oauth2/access_token" and environ["REQUEST_METHOD"] == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            form = {k: v[0] for k, v in parse_qs(environ["wsgi.input"].read(length).decode()).items()}
            self.token_requests.append(form)
            if (form.get("client_id"), form.get("client_secret")) != (CLIENT_ID, CLIENT_SECRET):
                return self._answer(start_response, "401 Unauthorized", {"error": "invalid_client"})
            with self.lock:
                found = self.codes.pop(form.get("code", ""), None)
            if found is None or found[1] != form.get("redirect_uri") or form.get("grant_type") != \
                    "authorization_code":
                return self._answer(start_response, "400 Bad Request", {"error": "invalid_grant"})
            user = found[0]
            extra = {k: v for k, v in user.items() if k not in ("username", "user_id", "staff")}
            token = make_token(user["username"], user_id=user["user_id"], staff=user["staff"], **extra)
            return self._answer(start_response, "200 OK", {"access_token": token, "token_type": "JWT",
                                                           "expires_in": 3600, "scope": "user_id profile email"})
        return self._answer(start_response, "404 Not Found", {"error": "not_found"})

    @staticmethod
    def _answer(start_response, status, body):
        data = json.dumps(body).encode()
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
        return [data]
