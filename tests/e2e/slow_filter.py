"""A WSGI filter for the server lifecycle tests: holds a request for a while, then passes it on.

A request with ``X-Test-Hold: <seconds>`` waits that long before it reaches the app, and its response
tells which process and thread served it and how many requests that process held at once at most.
Loaded by PasteDeploy from the test's ini (``[filter:hold] use = call:tests.e2e.slow_filter:make_filter``).
"""

from __future__ import annotations

import os
import threading
import time

_lock = threading.Lock()
_state = {"in_flight": 0, "peak": 0}


def make_filter(global_config, **settings):
    def wrap(app):
        def held(environ, start_response):
            hold = environ.get("HTTP_X_TEST_HOLD")
            if not hold:
                return app(environ, start_response)
            with _lock:
                _state["in_flight"] += 1
                _state["peak"] = max(_state["peak"], _state["in_flight"])
            try:
                time.sleep(float(hold))
            finally:
                with _lock:
                    _state["in_flight"] -= 1

            def annotated(status, headers, exc_info=None):
                headers = [*headers, ("X-Test-Pid", str(os.getpid())),
                           ("X-Test-Thread", str(threading.get_ident())), ("X-Test-Peak", str(_state["peak"]))]
                return start_response(status, headers, exc_info)

            return app(environ, annotated)

        return held

    return wrap
