"""A stand-in for the LMS on loopback: OAuth2 client-credentials tokens and edx-proctoring answers.

A tiny WSGI server in a thread on 127.0.0.1 that records every request. Tests set what each edx-proctoring
path answers (``stub.answer(path, status, body)``) and read ``stub.requests`` / ``stub.api_requests``.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass, field
from socketserver import ThreadingMixIn
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

API = "/api/edx_proctoring/v1/"


@dataclass
class Recorded:
    method: str
    path: str
    query: dict
    headers: dict
    body: bytes

    def json(self):
        return json.loads(self.body)

    def form(self) -> dict:
        return {k: v[0] for k, v in parse_qs(self.body.decode()).items()}


@dataclass
class Answer:
    status: int
    body: bytes
    content_type: str = "application/json"
    delay: float = 0.0


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


@dataclass
class StubLms:
    token_lifetime: int = 3600
    token_status: int = 200
    requests: list[Recorded] = field(default_factory=list)
    answers: dict[str, Answer] = field(default_factory=dict)
    tokens_issued: int = 0

    def answer(self, path: str, status: int = 200, body=None, *, raw: bytes | None = None, delay: float = 0.0):
        """What ``GET|PATCH <API><path>`` answers (path without the query string)."""
        data = raw if raw is not None else json.dumps(body).encode()
        self.answers[API + path] = Answer(status, data, delay=delay)

    @property
    def api_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.path.startswith(API)]

    @property
    def token_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.path == "/oauth2/access_token"]

    def reset(self) -> None:
        self.requests.clear()
        self.answers.clear()
        self.token_lifetime = 3600
        self.token_status = 200
        self.tokens_issued = 0

    def __call__(self, environ, start_response):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        headers = {k[5:].replace("_", "-").title(): v for k, v in environ.items() if k.startswith("HTTP_")}
        if environ.get("CONTENT_TYPE"):
            headers["Content-Type"] = environ["CONTENT_TYPE"]
        path = environ["PATH_INFO"]
        self.requests.append(Recorded(environ["REQUEST_METHOD"], path, parse_qs(environ.get("QUERY_STRING", "")),
                                      headers, body))
        if path == "/oauth2/access_token":
            if self.token_status != 200:
                answer = Answer(self.token_status, b'{"error": "invalid_client"}')
            else:
                self.tokens_issued += 1
                answer = Answer(200, json.dumps({"access_token": f"token-{self.tokens_issued}", "token_type": "JWT",
                                                 "expires_in": self.token_lifetime, "scope": "read write"}).encode())
        else:
            answer = self.answers.get(path, Answer(404, b'{"detail": "Not found."}'))
        if answer.delay:
            time.sleep(answer.delay)
        start_response(f"{answer.status} X", [("Content-Type", answer.content_type),
                                              ("Content-Length", str(len(answer.body)))])
        return [answer.body]


class RunningStub:
    def __init__(self, stub: StubLms):
        self.stub = stub
        self.server = make_server("127.0.0.1", 0, stub, server_class=_ThreadingServer, handler_class=_Quiet)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def unused_loopback_url() -> str:
    """A loopback URL where nothing listens (connections are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"
