"""Operability: a request id on every request and log line, Prometheus metrics, and the readiness probe.

- ``X-Request-ID``: taken from the request when it is a sane token (the proxy's id), else generated; echoed in
  the response and put in every log line written while the request is served (exams.logs.JsonFormatter).
- ``GET /metrics`` (``exams.metrics.enabled``): requests by route, method and status with their latency, attempt
  status changes, and, read from the database at scrape time, the event and mail outboxes (backlog, age, dead or
  failed entries, whether a relay holds the lease). Under gunicorn set ``PROMETHEUS_MULTIPROC_DIR`` (the image
  does): every worker's counts are summed. Keep it off the public route (the Tutor plugin's Caddy route answers 404).
- ``GET /health/ready``: the database, and the Redis of the event bus when there is one; ``/health/`` stays the
  liveness probe edx-exams has.

The per-request cost is a dictionary lookup and two metric updates (docs/deployment.md has the measurement).
"""

from __future__ import annotations

import itertools
import os
import re
import threading
import time
from bisect import bisect_left

from pyramid.response import Response

from exams.logs import request_id as current_request_id

from .runtime import RUNTIME

REQUEST_ID = re.compile(r"[A-Za-z0-9._:/+=-]{1,128}\Z")
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

_metrics = None


def metrics():
    """The process's metric objects, made on first use (after PROMETHEUS_MULTIPROC_DIR is known)."""
    global _metrics
    if _metrics is None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        registry = CollectorRegistry(auto_describe=True)
        _metrics = {
            "registry": registry,
            "requests": Counter("exams_http_requests_total", "HTTP requests served, by route, method and status.",
                                ("route", "method", "status"), registry=registry),
            "latency": Histogram("exams_http_request_duration_seconds", "Time to answer an HTTP request, by route "
                                 "and status.", ("route", "status"), buckets=LATENCY_BUCKETS, registry=registry),
            "attempts": Counter("exams_attempt_status_changes_total", "Attempt status changes committed by this "
                                "service's web processes, by new status (reset: an attempt deleted).",
                                ("status",), registry=registry),
        }
    return _metrics


def includeme(config) -> None:
    config.add_tween("exams.adapters.http.observe.request_metrics_tween_factory")
    config.add_tween("exams.adapters.http.observe.request_id_tween_factory")
    config.add_route("health_ready", "/health/ready")
    config.add_view(ready, route_name="health_ready", request_method="GET")
    if config.registry.settings[RUNTIME].settings["exams.metrics.enabled"]:
        config.add_route("metrics", "/metrics")
        config.add_view(metrics_view, route_name="metrics", request_method="GET")


# -- request id ----------------------------------------------------------------------------------------------------
def request_id_tween_factory(handler, registry):
    # Generated ids: a random per-process prefix and a counter (unique without a system call per request).
    prefix = os.urandom(8).hex()
    counter = itertools.count(1)
    valid = REQUEST_ID.match

    def request_id_tween(request):
        given = request.environ.get("HTTP_X_REQUEST_ID")
        rid = given if given and valid(given) else f"{prefix}{next(counter):016x}"
        token = current_request_id.set(rid)
        try:
            response = handler(request)
        finally:
            current_request_id.reset(token)
        response.headerlist.append(("X-Request-ID", rid))
        return response

    return request_id_tween


# -- request metrics -----------------------------------------------------------------------------------------------
# Each request is counted in a process-wide buffer (a lock, a dict lookup, a few additions: ~1 us); a daemon thread
# hands the buffer to prometheus_client every FLUSH_SECONDS, and /metrics does before answering. prometheus_client's
# own locked, per-observation updates (mmap writes under gunicorn) cost ~10 us a request on these machines.
FLUSH_SECONDS = 1.0
_BOUNDS = (*LATENCY_BUCKETS, float("inf"))
_state = {"counts": {}, "lock": threading.Lock(), "flusher": None}
_children: dict = {}  # key -> (counter child, histogram child)


def _after_fork() -> None:  # a gunicorn worker starts with an empty buffer and its own flusher
    _state.update(counts={}, lock=threading.Lock(), flusher=None)


os.register_at_fork(after_in_child=_after_fork)


def flush_request_metrics() -> None:
    """Hand the buffered request counts to prometheus_client."""
    with _state["lock"]:
        counts = _state["counts"]
        _state["counts"] = {}
    if not counts:
        return
    m = metrics()
    for key, (count, seconds, buckets) in counts.items():
        pair = _children.get(key)
        if pair is None:
            method = key[1] if key[1] in METHODS else "other"
            pair = _children[key] = (m["requests"].labels(key[0], method, str(key[2])),
                                     m["latency"].labels(key[0], str(key[2])))
        pair[0].inc(count)
        # A bulk histogram update: prometheus_client has no public call for it (tests/functional/test_observe.py
        # checks the exposed buckets, sum and count).
        pair[1]._sum.inc(seconds)
        for index, n in enumerate(buckets):
            if n:
                pair[1]._buckets[index].inc(n)


def _start_flusher() -> None:
    def loop() -> None:
        while True:
            time.sleep(FLUSH_SECONDS)
            try:
                flush_request_metrics()
            except Exception:  # never let metrics take a worker down
                pass

    thread = threading.Thread(target=loop, name="exams-metrics-flush", daemon=True)
    _state["flusher"] = thread
    thread.start()


def request_metrics_tween_factory(handler, registry):
    if not registry.settings[RUNTIME].settings["exams.metrics.enabled"]:
        return handler
    metrics()
    clock = time.perf_counter
    size = len(_BOUNDS)
    state = _state

    def request_metrics_tween(request):
        start = clock()
        status = 500
        try:
            response = handler(request)
            status = response.status_int
            return response
        finally:
            elapsed = clock() - start
            route = getattr(request, "matched_route", None)
            key = (route.name if route is not None else "unmatched", request.method, status)
            with state["lock"]:
                counts = state["counts"]
                entry = counts.get(key)
                if entry is None:
                    entry = counts[key] = [0, 0.0, [0] * size]
                entry[0] += 1
                entry[1] += elapsed
                entry[2][bisect_left(_BOUNDS, elapsed)] += 1
            if state["flusher"] is None:
                _start_flusher()

    return request_metrics_tween


class AttemptMetricsSink:
    """An outcome sink counting attempt status changes once their transaction commits."""

    def __init__(self, session):
        self.manager = session.info.get("transaction_manager")
        self.counter = metrics()["attempts"]

    def _count(self, status: str) -> None:
        def after(committed: bool) -> None:
            if committed:
                self.counter.labels(status).inc()

        if self.manager is not None:
            self.manager.get().addAfterCommitHook(after)
        else:
            after(True)

    def status_changed(self, attempt, exam, student, change, requesting_user) -> None:
        if change is not None:
            self._count(getattr(change.to_status, "value", str(change.to_status)))

    def attempt_reset(self, attempt, exam, student, requesting_user) -> None:
        self._count("reset")


def attempt_metrics_sink(session) -> AttemptMetricsSink:
    return AttemptMetricsSink(session)


# -- /metrics ------------------------------------------------------------------------------------------------------
STATUS_GAUGES = {
    # key of HttpRuntime.operational_status() -> (metric name, help)
    "outbox_unpublished": ("exams_event_outbox_unpublished", "Attempt events waiting for the relay."),
    "outbox_oldest_age_seconds": ("exams_event_outbox_oldest_unpublished_age_seconds",
                                  "Age of the oldest event waiting for the relay (0: none)."),
    "outbox_dead": ("exams_event_outbox_dead", "Events the broker refused for good (relay failures held for an "
                                               "operator: exams events status)."),
    "outbox_unencodable": ("exams_event_outbox_unencodable", "Events that could not be encoded, held for an operator."),
    "relay_active": ("exams_event_relay_active", "1 when a relay holds the outbox lease, else 0."),
    "role_events_dead": ("exams_role_events_dead", "Course role events from the LMS that could not be applied."),
    "mail_pending": ("exams_mail_outbox_pending", "Learner emails waiting to be sent."),
    "mail_failed": ("exams_mail_outbox_failed", "Learner emails that failed for good (exams mail status)."),
    "mail_oldest_age_seconds": ("exams_mail_outbox_oldest_pending_age_seconds",
                                "Age of the oldest learner email waiting (0: none)."),
}


class StatusCollector:
    """Gauges read from the database when Prometheus scrapes (the same in every process)."""

    def __init__(self, read):
        self.read = read

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        try:
            values = self.read()
            ok = 1
        except Exception:  # the database is down: say so, and still answer the scrape
            values, ok = {}, 0
        yield GaugeMetricFamily("exams_status_up", "1 when the status gauges could be read from the database.",
                                value=ok)
        for key, (name, doc) in STATUS_GAUGES.items():
            if key in values:
                yield GaugeMetricFamily(name, doc, value=values[key])


def metrics_view(request):
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
    from prometheus_client.multiprocess import MultiProcessCollector

    flush_request_metrics()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        processes = CollectorRegistry()
        MultiProcessCollector(processes)
    else:
        processes = metrics()["registry"]
    status = CollectorRegistry()
    read = request.registry.settings[RUNTIME].operational_status
    if read is not None:
        status.register(StatusCollector(read))
    body = generate_latest(processes) + generate_latest(status)
    return Response(body=body, content_type=CONTENT_TYPE_LATEST.split(";")[0], charset="utf-8")


# -- /health/ready -------------------------------------------------------------------------------------------------
def ready(request):
    checks = {"database": "OK" if request.database_reachable() else "UNAVAILABLE"}
    bus = request.registry.settings[RUNTIME].event_bus_reachable
    if bus is not None:
        checks["event_bus"] = "OK" if bus() else "UNAVAILABLE"
    up = all(v == "OK" for v in checks.values())
    body = {"status": "ready" if up else "unavailable", "checks": checks}
    response = Response(json_body=body, status=200 if up else 503)
    response.headers["Cache-Control"] = "no-store"
    return response
