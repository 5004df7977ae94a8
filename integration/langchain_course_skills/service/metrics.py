"""Prometheus metrics of one service process, written in the text exposition format (0.0.4).

`RequestMetrics` (ASGI middleware) counts every answer by route template and status code and
times it; `Metrics.render` writes those, the admission queue and the verdicts recorded as the
text a Prometheus scraper reads from `/metrics`. Every figure belongs to the process that
answers: with several workers, each counts its own requests.

Example:
    >>> metrics = Metrics()
    >>> metrics.observe("/healthz", 200, 0.002)
    >>> print(metrics.render(Admission(1, 16)).splitlines()[2])
    course_skills_http_requests_total{route="/healthz",status="200"} 1
"""

from __future__ import annotations

import bisect
import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from starlette.routing import BaseRoute, Match

from langchain_course_skills.feedback import VERDICTS
from langchain_course_skills.service.admission import Admission
from langchain_course_skills.service.body_limit import ASGIApp, Message, Receive, Scope, Send

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"  # Prometheus' text format
# Upper bounds of the latency buckets, in seconds: a health check takes milliseconds, a search
# tens of milliseconds to seconds, a re-ranked search behind a full queue up to a minute.
LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
UNMATCHED = "unmatched"  # the route of a path no route serves: label values stay few
_PREFIX = "course_skills_"


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{name}="{_escape(value)}"' for name, value in labels.items()) + "}"


def _header(name: str, kind: str, text: str) -> list[str]:
    return [f"# HELP {_PREFIX}{name} {text}", f"# TYPE {_PREFIX}{name} {kind}"]


@dataclass
class _Histogram:
    """Observations per bucket (not cumulative; `render` sums them), their sum and count."""

    buckets: list[int]
    total_s: float = 0.0
    count: int = 0


class Metrics:
    """Request counts, request latency and verdicts of this process; safe across threads."""

    def __init__(self, buckets: Sequence[float] = LATENCY_BUCKETS_S) -> None:
        """Count into latency buckets with these upper bounds in seconds (+Inf is added)."""
        if not buckets or list(buckets) != sorted(set(buckets)):
            msg = f"latency buckets must be distinct and ascending, got {list(buckets)}"
            raise ValueError(msg)
        self.buckets = tuple(buckets)
        self._lock = threading.Lock()  # observe runs on the event loop, render anywhere
        self._requests: dict[tuple[str, int], int] = {}
        self._latency: dict[str, _Histogram] = {}
        self._verdicts: dict[str, int] = {}

    def observe(self, route: str, status: int, seconds: float) -> None:
        """Count one answer of `route` (its template) with `status`, which took `seconds`."""
        index = bisect.bisect_left(self.buckets, seconds)  # le: a value on a bound is inside
        with self._lock:
            self._requests[route, status] = self._requests.get((route, status), 0) + 1
            histogram = self._latency.setdefault(route, _Histogram([0] * (len(self.buckets) + 1)))
            histogram.buckets[index] += 1
            histogram.total_s += seconds
            histogram.count += 1

    def count_verdict(self, verdict: str) -> None:
        """Count one verdict recorded by this process."""
        with self._lock:
            self._verdicts[verdict] = self._verdicts.get(verdict, 0) + 1

    def render(self, admission: Admission) -> str:
        """Return every metric in the text exposition format, with the queue as it is now."""
        with self._lock:
            requests = sorted(self._requests.items())
            latency = sorted(
                (route, _Histogram(list(h.buckets), h.total_s, h.count))
                for route, h in self._latency.items()
            )
            verdicts = {verdict: 0 for verdict in VERDICTS} | self._verdicts
        lines = _header("http_requests_total", "counter", "HTTP answers by route and status.")
        lines += [
            f"{_PREFIX}http_requests_total{_labels(route=route, status=str(status))} {count}"
            for (route, status), count in requests
        ]
        lines += _header("http_request_duration_seconds", "histogram", "Time to answer, by route.")
        for route, histogram in latency:
            lines += self._histogram_lines(route, histogram)
        lines += self._admission_lines(admission)
        lines += _header("verdicts_recorded_total", "counter", "Curators' verdicts stored.")
        lines += [
            f"{_PREFIX}verdicts_recorded_total{_labels(verdict=verdict)} {count}"
            for verdict, count in sorted(verdicts.items())
        ]
        return "\n".join(lines) + "\n"

    def _histogram_lines(self, route: str, histogram: _Histogram) -> list[str]:
        name = f"{_PREFIX}http_request_duration_seconds"
        lines: list[str] = []
        cumulative = 0
        for bound, count in zip([*self.buckets, math.inf], histogram.buckets):
            cumulative += count
            lines.append(f"{name}_bucket{_labels(route=route, le=_number(bound))} {cumulative}")
        lines.append(f"{name}_sum{_labels(route=route)} {_number(histogram.total_s)}")
        lines.append(f"{name}_count{_labels(route=route)} {histogram.count}")
        return lines

    @staticmethod
    def _admission_lines(admission: Admission) -> list[str]:
        gauges = [
            ("admission_running", "Searches running now.", admission.running),
            ("admission_waiting", "Searches waiting for a slot now.", admission.waiting),
            ("admission_max_running", "Limit of running searches.", admission.concurrency),
            ("admission_max_waiting", "Limit of waiting searches.", admission.queue),
        ]
        lines: list[str] = []
        for name, text, value in gauges:
            lines += [*_header(name, "gauge", text), f"{_PREFIX}{name} {value}"]
        lines += _header("admission_refused_total", "counter", "Searches refused with 503.")
        lines.append(f"{_PREFIX}admission_refused_total {admission.refused}")
        return lines


def route_label(routes: Sequence[BaseRoute], scope: Scope) -> str:
    """Return the template of the route that serves `scope` ("/v1/skills/search"), as routed.

    A path that only matches with another method (405) gets that route; one no route serves
    gets `UNMATCHED`, so that scanning random paths adds no label values.
    """
    partial: str | None = None
    for route in routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return str(getattr(route, "path", UNMATCHED))
        if match is Match.PARTIAL and partial is None:
            partial = str(getattr(route, "path", UNMATCHED))
    return partial or UNMATCHED


class RequestMetrics:
    """ASGI middleware: count and time every HTTP answer into `metrics`.

    Outermost, so that it also counts what the other middleware answer (401, 413, 400).
    """

    def __init__(self, app: ASGIApp, metrics: Metrics, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes  # the app's live list: routes added later count too

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:  # noqa: D102
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = route_label(self.routes, scope)
        status = 500  # what the server answers if the app raises before answering
        started = time.perf_counter()

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            self.metrics.observe(route, status, time.perf_counter() - started)
