"""A WSGI app served by waitress on a free loopback port, in a thread, until ``close()``.

The waitress loop runs and is torn down in its own thread: closing its sockets from the test's thread
raced with the loop (an unhandled exception in the thread, or a join that waited for kept-alive
connections).
"""

from __future__ import annotations

import threading

import waitress
from waitress import wasyncore


class ServedApp:
    def __init__(self, app=None, *, threads: int = 4, host: str = "127.0.0.1", url_host: str | None = None,
                 name: str = "served-app"):
        self.app = app
        self.server = waitress.create_server(lambda environ, start: self.app(environ, start), host=host, port=0,
                                             threads=threads, ident="tests")
        self.port = self.server.effective_port
        self.url = f"http://{url_host or host}:{self.port}"
        self._closing = threading.Event()
        self.thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def start(self, app=None) -> "ServedApp":
        if app is not None:
            self.app = app
        self.thread.start()
        return self

    def _loop(self) -> None:
        while not self._closing.is_set():
            wasyncore.loop(timeout=0.05, map=self.server._map, count=1)
        for channel in list(self.server._map.values()):
            channel.close()
        self.server.task_dispatcher.shutdown(timeout=5)

    def close(self) -> None:
        self._closing.set()
        self.thread.join(timeout=10)
