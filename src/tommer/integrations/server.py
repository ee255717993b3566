"""``tommer serve``: a small local web app and JSON API around one loaded detector.

Routes (a Starlette app, served by uvicorn):

- ``GET /``: one page (packaged HTML/CSS/JS, no external resources) to type a text, pick the
  threshold and decoder, and see the highlighted mentions, scores and heatmaps.
- ``POST /api/detect``: body ``{"text": str, "threshold"?: float, "decoding"?: str,
  "viz"?: bool, "gold"?: [[start, end], ...], ...}``; answers the input object plus
  ``"mentions": [{"start", "end", "text", "score"}]`` (the CLI's JSONL schema), and with
  ``"viz": true`` also ``"visualization"`` (:meth:`Visualization.to_dict` plus ``"html"``).
- ``GET /health``: ``{"status": "ok", ...}`` with the model's description, the limits and the
  scheduler's counters (``"stats"``: requests, detector calls, texts per call, ...).

Errors are ``{"error": message}`` (server errors: a generic message and ``"request_id"``; the
exception is logged server-side under that id, never sent): bodies over ``max_body_bytes`` (1 MB)
or texts over ``max_request_tokens`` get 413; malformed JSON 400; a body that is not an object, a
missing or non-string ``text`` or a bad option 422; a missing or wrong API key 401; a full queue,
or a request that waited ``timeout`` seconds without starting, 503 with ``Retry-After``. Response
bodies are written by :func:`tommer.data.jsonl.dumps`: a text with a lone surrogate is echoed escaped.

How requests are scheduled (:class:`Batcher`)
---------------------------------------------
All inference runs on **one worker thread** (the CPU is the bottleneck; one thread keeps torch from
oversubscribing it). Request handlers only parse, count tokens and queue a job; the worker takes
jobs from two lanes and answers each job's asyncio future:

- **short lane**: texts that fit in one backbone window (``config.max_tokens``). The worker takes the
  oldest job and every queued job with the same options (threshold, decoding), up to
  ``max_batch_texts`` texts and ``max_batch_tokens`` tokens, and runs them as **one**
  ``detector(texts, ...)`` call, which sorts them by length into forward passes of at most
  ``forward_batch`` texts, cut where that pads least (:func:`~tommer.core.detector.forward_batches`).
  When it is idle it waits at most ``max_batch_wait_ms`` after the first job arrives for others to
  join; when it was busy,
  jobs have queued meanwhile and it starts at once. Requests with ``viz`` or ``gold`` are
  short-lane jobs run alone (at most ``max_viz_tokens`` tokens: the page's visualisation is for
  reading, not for bulk input).
- **long lane**: texts longer than one window. Their tokens and windows are computed in the
  handler's thread (not the worker's), and the worker runs them **one window batch per turn**
  (``long_step_windows`` windows, a fraction of a second on a CPU), alternating with short-lane
  batches; several long texts take turns round-robin. A small request therefore waits at most one
  long step plus one batch, however big the text in flight. The steps are the detector's own
  pipeline (``preprocess``, ``window_candidates``, ``postprocess``,
  exactly what ``detector(text)`` runs), so mentions are the same. The last step, decoding the
  candidate spans into mentions, is pure Python (linear in the spans) and runs off the worker, in a
  thread. (A
  detector with a supervised type head gives typed mentions only through its full call: there a
  long text is one turn.)

Long input is never truncated: a text over ``max_request_tokens`` is refused with 413 naming the
limit. Counting is cheap first: a text of ``n`` UTF-8 bytes has at most ``n + 1`` tokens, so only
texts whose byte count could pass a limit are tokenized.

The queue is bounded: with ``queue_size`` jobs queued or running, a new request gets 503 and
``Retry-After``. A job that has not started ``timeout`` seconds after it arrived is dropped (never
run) and answered 503; one that started runs to the end.

Security: ``serve`` binds 127.0.0.1 by default and refuses a non-loopback address without an API
key (``--api-key`` or ``$TOMMER_API_KEY``); with a key, ``/api/detect`` and ``/health`` need
``Authorization: Bearer KEY`` (the page's own files are public; the page asks for the key). CORS is
off unless ``cors_origin`` names an origin.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import json
import logging
import math
import os
import socket
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from importlib import resources, util

from ..core.decoding import DECODERS, DEFAULT_DECODING, get_decoder
from ..core.detector import batches, spans_to_mentions
from ..core.layout import DEFAULT_MODEL
from ..data.jsonl import dumps
from ..errors import TommerError
from ..typed.detector import MentionDetector
from .server_limits import API_KEY_ENV, DEFAULT_LIMITS, MAX_BODY_BYTES, ServerLimits  # noqa: F401
from .viz import CSS, HEATMAP_TOKENS, visualize

log = logging.getLogger("tommer.server")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
STATIC = resources.files("tommer.integrations") / "static"
OPTION_FIELDS = {"threshold", "decoding", "viz", "gold"}
# flags for driving the page in a headless Chromium (tests, scripts/screenshot.py)
HEADLESS_CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


class RequestError(Exception):
    """A client error: answered as ``{"error": message}`` with ``status`` (and ``headers``)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def parse_request(body: bytes) -> dict:
    """The JSON object of a detect request, validated; raises :class:`RequestError`."""
    if not body.strip():
        raise RequestError(400, 'empty body: send a JSON object such as {"text": "..."}')
    try:
        data = json.loads(body)
    except UnicodeDecodeError:
        raise RequestError(400, "body is not UTF-8 text") from None
    except json.JSONDecodeError as err:
        raise RequestError(400, f"body is not valid JSON: {err}") from None
    if not isinstance(data, dict):
        raise RequestError(422, f"body must be a JSON object, not {_json_type(data)}")
    if "text" not in data:
        raise RequestError(422, "missing field 'text'")
    if not isinstance(data["text"], str):
        raise RequestError(422, f"field 'text' must be a string, not {_json_type(data['text'])}")
    threshold = data.get("threshold", 0.5)  # only validated here; absent means the model's own
    if isinstance(threshold, bool) or not isinstance(threshold, int | float):
        raise RequestError(422, f"field 'threshold' must be a number, not {_json_type(threshold)}")
    if not (math.isfinite(threshold) and 0.0 <= threshold < 1.0):
        raise RequestError(422, f"field 'threshold' must be in [0, 1), not {threshold}")
    decoding = data.get("decoding", DEFAULT_DECODING)
    if decoding not in DECODERS:
        raise RequestError(
            422, f"field 'decoding' must be one of {', '.join(sorted(DECODERS))}, not {decoding!r}"
        )
    if not isinstance(data.get("viz", False), bool):
        raise RequestError(422, "field 'viz' must be true or false")
    gold = data.get("gold")
    if gold is not None and not (
        isinstance(gold, list) and all(isinstance(g, list) and len(g) == 2 for g in gold)
    ):
        raise RequestError(422, "field 'gold' must be a list of [start, end] pairs")
    return data


@dataclass(eq=False)
class Job:
    """One request's work: ``kind`` is ``short`` (batched), ``viz`` (alone) or ``long`` (stepped)."""

    kind: str
    text: str
    threshold: float
    decoding: str
    tokens: int  # exact, or an upper bound (UTF-8 bytes + 1) for texts never tokenized
    deadline: float  # time.monotonic() by which it must have started
    arrived: float = field(default_factory=time.monotonic)
    data: dict | None = None  # the request (viz jobs: gold, heatmaps)
    prepared: tuple | None = None  # long jobs: detector.preprocess([text]), computed by the handler
    loop: asyncio.AbstractEventLoop | None = None
    future: asyncio.Future | None = None
    state: str = "queued"  # queued -> running -> done, or dropped
    abandoned: bool = False  # the client is gone: a running long job stops at its next turn
    steps: list = field(default_factory=list)  # long jobs: the window batches still to run
    spans: list = field(default_factory=list)  # long jobs: candidate spans so far

    @property
    def options(self) -> tuple[float, str]:
        return self.threshold, self.decoding


def decode_spans(text: str, encoding, spans: list, decoding: str, margin: float) -> list[dict]:
    """``ProbeDetector.postprocess`` for one text, as dicts."""
    return [m.to_dict() for m in spans_to_mentions(text, encoding, get_decoder(decoding)(spans, margin))]


def _over(n: int, limit: int, what: str) -> RequestError:
    return RequestError(413, f"text has {n} tokens, over the limit of {limit} tokens {what}")


class QueueTimeout(Exception):
    """A job did not start within the timeout (it was dropped, never run)."""


class Batcher:
    """The worker thread and its two lanes (see the module docstring)."""

    def __init__(
        self,
        detector: MentionDetector,
        limits: ServerLimits = DEFAULT_LIMITS,
        heatmap_tokens: int = HEATMAP_TOKENS,
    ) -> None:
        self.detector, self.limits, self.heatmap_tokens = detector, limits, heatmap_tokens
        head = getattr(detector, "type_head", None)
        self.stepped = head is None or head.zero_shot  # untyped calls: long texts run in steps
        self.window_tokens = detector.config.max_tokens - 1  # one window's text tokens (BOS aside)
        self.cond = threading.Condition()
        self.short: deque[Job] = deque()
        self.long: deque[Job] = deque()
        self.pending = 0  # jobs queued or running (the queue bound)
        self.long_turn = False  # after a short batch, a long job's turn (when one waits)
        self.closed = False
        self.thread: threading.Thread | None = None
        self.counts = dict.fromkeys(
            [
                "requests",
                "detector_calls",
                "batched_texts",
                "largest_batch",
                "started",
                "viz_calls",
                "long_texts",
                "long_steps",
                "rejected_queue_full",
                "timed_out",
                "errors",
            ],
            0,
        )

    # -- jobs ------------------------------------------------------------------------------------
    def may_be_long(self, text: str) -> bool:
        """Whether ``text`` might need tokenizing (then :meth:`make_job` belongs in a thread)."""
        return len(text) * 4 + 1 > min(self.window_tokens, self.limits.max_viz_tokens)

    def make_job(self, data: dict) -> Job:
        """The job of a request (:func:`parse_request`'s object), once its token count is known to
        be within the limits (:class:`RequestError` 413 if not). Long texts are tokenized here,
        in the caller's thread, not the worker's."""
        detector, limits, text = self.detector, self.limits, data["text"]
        display = bool(data.get("viz")) or data.get("gold") is not None
        kind = "viz" if display else "short"
        cap = min(limits.max_request_tokens, limits.max_viz_tokens if display else self.window_tokens)
        bound = len(text.encode("utf-8", "surrogatepass")) + 1  # tokens <= UTF-8 bytes + 1
        tokens, prepared = bound, None
        if bound > cap:  # might be over a limit or longer than a window: count
            encodings, windows = prepared = detector.preprocess([text])
            tokens = len(encodings[0])
            if tokens > limits.max_request_tokens:
                what = "per request (max_request_tokens); split the text"
                raise _over(tokens, limits.max_request_tokens, what)
            if display and tokens > limits.max_viz_tokens:
                what = "for viz / gold requests (max_viz_tokens); send it without viz and gold"
                raise _over(tokens, limits.max_viz_tokens, what)
            if not display and len(windows) > 1:
                kind = "long"
        threshold = float(data.get("threshold", detector.config.threshold))
        decoding = data.get("decoding", DEFAULT_DECODING)
        deadline = time.monotonic() + limits.timeout
        prepared = prepared if kind == "long" else None
        return Job(kind, text, threshold, decoding, tokens, deadline, data=data, prepared=prepared)

    # -- handler side (event loop) -------------------------------------------------------------
    def submit(self, job: Job) -> None:
        """Queue ``job`` (its ``future`` answers); raises :class:`RequestError` 503 when full."""
        with self.cond:
            if self.closed:
                raise RequestError(503, "the server is shutting down")
            if self.pending >= self.limits.queue_size:
                self.counts["rejected_queue_full"] += 1
                raise RequestError(
                    503,
                    f"the server is busy: {self.pending} requests queued (queue_size "
                    f"{self.limits.queue_size}); retry after {self.limits.retry_after} s",
                    {"Retry-After": str(self.limits.retry_after)},
                )
            (self.long if job.kind == "long" else self.short).append(job)
            self.pending += 1
            self.counts["requests"] += 1
            self.counts["long_texts"] += job.kind == "long"
            if self.thread is None:
                self.thread = threading.Thread(target=self._run, name="tommer-batcher", daemon=True)
                self.thread.start()
            self.cond.notify()

    def cancel(self, job: Job, abandon: bool = False) -> bool:
        """Drop ``job`` if it has not started (True); with ``abandon`` also stop a running long job."""
        with self.cond:
            if job.state == "queued":
                self._drop(job)
                self.counts["timed_out"] += not abandon
                return True
            if abandon:
                job.abandoned = True
            return False

    def stats(self) -> dict:
        with self.cond:
            return {**self.counts, "queued": self.pending}

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify_all()
        if self.thread is not None:
            self.thread.join(timeout=30)

    # -- worker side ---------------------------------------------------------------------------
    def _start(self, job: Job) -> None:  # (holding the lock)
        job.state = "running"
        self.counts["started"] += 1

    def _drop(self, job: Job) -> None:  # (holding the lock)
        job.state = "dropped"
        self.pending -= 1

    def _answer(self, job: Job, result=None, error: BaseException | None = None) -> None:
        with self.cond:
            if job.state in ("queued", "running"):
                job.state = "done"
                self.pending -= 1
        self._resolve(job, result, error)

    @staticmethod
    def _resolve(job: Job, result, error: BaseException | None) -> None:
        def settle() -> None:
            if job.future.done():  # the handler gave up (cancelled)
                return
            if error is not None:
                job.future.set_exception(error)
            else:
                job.future.set_result(result)

        with contextlib.suppress(RuntimeError):  # a closed event loop: nobody is waiting
            job.loop.call_soon_threadsafe(settle)

    def _live(self, lane: deque[Job], now: float) -> list[Job]:
        """The lane's jobs that may still run; expired queued jobs are dropped and answered 503."""
        live = []
        for job in lane:
            if job.state == "queued" and now > job.deadline:
                self._drop(job)
                self.counts["timed_out"] += 1
                self._resolve(job, None, QueueTimeout())
            elif job.state != "dropped" and not job.abandoned:
                live.append(job)
            elif job.state == "running":  # an abandoned long job
                self._drop(job)
        lane.clear()
        lane.extend(live)
        return live

    def _group(self, now: float) -> list[Job]:
        """The next short-lane group: the oldest job alone (viz) or with its option-mates."""
        live = self._live(self.short, now)
        if not live:
            return []
        first, limits = live[0], self.limits
        group = [first]
        if first.kind == "short":
            tokens = first.tokens
            for job in live[1:]:
                if len(group) >= limits.max_batch_texts:
                    break
                if job.kind == "short" and job.options == first.options:
                    if tokens + job.tokens > limits.max_batch_tokens:
                        break
                    group.append(job)
                    tokens += job.tokens
        taken = set(map(id, group))
        self.short = deque(j for j in live if id(j) not in taken)
        for job in group:
            self._start(job)
        return group

    def _batch_full(self) -> bool:
        live = [j for j in self.short if j.state == "queued"]
        return (
            len(live) >= self.limits.max_batch_texts
            or sum(j.tokens for j in live) >= self.limits.max_batch_tokens
            or any(j.kind != "short" for j in live[:1])
        )

    def _next(self) -> tuple[str, list[Job]] | None:
        """(lane, jobs) to run next, waiting for work; None once closed. (Holding the lock.)"""
        while not self.closed:
            now = time.monotonic()
            longs = self._live(self.long, now)
            if longs and (self.long_turn or not self._live(self.short, now)):
                self.long_turn = False
                job = self.long.popleft()
                return "long", [job]
            if self.short:
                if not self.long:  # idle: let others join the first job for a bounded wait
                    until = self.short[0].arrived + self.limits.max_batch_wait_ms / 1000
                    while not self.closed and not self._batch_full() and time.monotonic() < until:
                        self.cond.wait(until - time.monotonic())
                group = self._group(time.monotonic())
                if group:
                    self.long_turn = bool(self.long)
                    return group[0].kind, group
                continue
            self.cond.wait()
        return None

    def _run(self) -> None:
        while True:
            try:
                with self.cond:
                    work = self._next()
            except Exception as err:  # a scheduler bug: fail what is queued rather than hang it
                log.exception("the batcher's scheduler failed")
                with self.cond:
                    queued = [j for j in [*self.short, *self.long] if j.state in ("queued", "running")]
                    self.short.clear()
                    self.long.clear()
                for job in queued:
                    self._answer(job, None, err)
                continue
            if work is None:
                return
            lane, jobs = work
            try:
                if lane == "long":
                    self._long_step(jobs[0])
                elif lane == "viz":
                    self._answer(jobs[0], self._visualize(jobs[0]))
                else:
                    self._batch(jobs)
            except Exception as err:  # answered (and logged) by each request's handler
                with self.cond:
                    self.counts["errors"] += 1
                for job in jobs:
                    self._answer(job, None, err)

    def _batch(self, jobs: list[Job]) -> None:
        threshold, decoding = jobs[0].options
        batch_size = min(len(jobs), self.limits.forward_batch)  # the call sorts texts by length
        results = self.detector(
            [j.text for j in jobs], threshold=threshold, decoding=decoding, batch_size=batch_size
        )
        with self.cond:
            self.counts["detector_calls"] += 1
            self.counts["batched_texts"] += len(jobs)
            self.counts["largest_batch"] = max(self.counts["largest_batch"], len(jobs))
        for job, mentions in zip(jobs, results):
            self._answer(job, {"mentions": [m.to_dict() for m in mentions]})

    def _visualize(self, job: Job) -> dict:
        data = job.data
        view = visualize(
            self.detector,
            job.text,
            gold=data.get("gold"),
            heatmap_tokens=self.heatmap_tokens,
            threshold=job.threshold,
            decoding=job.decoding,
        )
        with self.cond:
            self.counts["viz_calls"] += 1
        out = {"mentions": [m.to_dict() for m in view.mentions]}
        if data.get("viz"):
            out["visualization"] = {**view.to_dict(), "html": view.to_fragment(style=False)}
        return out

    def _long_step(self, job: Job) -> None:
        """One turn of a long job: its next window batch (the whole call for a typed detector)."""
        detector = self.detector
        if not self.stepped:
            with self.cond:
                self._start(job)
                self.counts["detector_calls"] += 1
            mentions = detector(job.text, threshold=job.threshold, decoding=job.decoding)
            self._answer(job, {"mentions": [m.to_dict() for m in mentions]})
            return
        encodings, windows = job.prepared
        if job.state == "queued":
            with self.cond:
                self._start(job)
            job.steps = list(batches(windows, self.limits.long_step_windows))
            job.steps.reverse()  # popped from the end, in the detector's own order
        batch = job.steps.pop()
        for found in detector.window_candidates(batch, encodings, job.threshold):
            job.spans += found
        with self.cond:
            self.counts["long_steps"] += 1
        if job.steps:
            with self.cond:
                self.long.append(job)
            return
        with self.cond:
            self.counts["detector_calls"] += 1
        self._answer(job, {"spans": job.spans, "encoding": encodings[0]})  # decoded by the handler

    # -- decoding long texts (not on the worker) -------------------------------------------------
    async def decode(self, job: Job, spans: list, encoding) -> list[dict]:
        """A long job's mentions from its candidate spans: the detector's ``postprocess``, run in a
        thread, off the worker (pure Python, linear in the spans)."""
        args = (job.text, encoding, spans, job.decoding, self.detector.config.margin)
        return await asyncio.get_running_loop().run_in_executor(None, decode_spans, *args)


def _json_type(value: object) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


def _require_web() -> None:
    """A clear error, not a traceback, when the web dependencies are missing (starlette and uvicorn
    are imported after this check, in the functions that use them: the CLI imports this module for
    every command)."""
    missing = [m for m in ("starlette", "uvicorn") if util.find_spec(m) is None]
    if missing:
        raise TommerError(f"tommer serve needs {' and '.join(missing)}: pip install starlette uvicorn")


def is_loopback(host: str) -> bool:
    """Whether ``host`` is ``localhost`` or a loopback IP address (127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(host: str, api_key: str | None) -> None:
    """Refuse (clear error) to listen on a non-loopback address without an API key."""
    if not api_key and not is_loopback(host):
        raise TommerError(
            f"refusing to listen on {host}: it is not a loopback address and no API key is set. "
            f"Pass --api-key KEY (or set {API_KEY_ENV}); clients then send 'Authorization: Bearer KEY'"
        )


def create_app(
    detector: MentionDetector,
    model_name: str = "",
    max_body_bytes: int = MAX_BODY_BYTES,
    heatmap_tokens: int = HEATMAP_TOKENS,
    *,
    limits: ServerLimits | None = None,
    api_key: str | None = None,
    cors_origin: str | list[str] | None = None,
):
    """The Starlette app serving ``detector`` (loaded once, shared by all requests).

    ``limits``: the scheduler's settings (:class:`ServerLimits`; ``max_body_bytes`` overrides its
    field of that name). ``api_key``: required as ``Authorization: Bearer KEY`` on the API routes.
    ``cors_origin``: origin(s) allowed to call the API from a browser (default: none).
    """
    _require_web()
    from dataclasses import replace

    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException
    from starlette.middleware import Middleware
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    limits = replace(limits or DEFAULT_LIMITS, max_body_bytes=max_body_bytes)
    batcher = Batcher(detector, limits, heatmap_tokens)
    info = {
        "status": "ok",
        "model": model_name or f"{detector.config.backbone} layer {detector.config.layer}",
        "backbone": detector.config.backbone,
        "layer": detector.config.layer,
        "engine": detector.engine.name,
        "threshold": detector.config.threshold,
        "decoders": sorted(DECODERS),
        "max_body_bytes": limits.max_body_bytes,
        "heatmap_tokens": heatmap_tokens,
        "limits": {k: v for k, v in vars(limits).items() if k != "max_body_bytes"},
        "auth": bool(api_key),
    }
    security = {
        "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }

    def json_response(value, status: int = 200, headers: dict | None = None) -> Response:
        return Response(dumps(value), status_code=status, media_type="application/json", headers=headers)

    def error(status: int, message: str, headers: dict | None = None, request_id: str | None = None):
        body = {"error": message} if request_id is None else {"error": message, "request_id": request_id}
        return json_response(body, status, headers)

    def internal_error(request_id: str, exc: BaseException, where: str) -> Response:
        log.error("request %s (%s) failed", request_id, where, exc_info=(type(exc), exc, exc.__traceback__))
        return error(500, f"internal server error (request id {request_id})", request_id=request_id)

    def authorized(request: Request) -> bool:
        if not api_key:
            return True
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), api_key.encode())

    def unauthorized() -> Response:
        return error(
            401,
            "this server needs an API key: send the header 'Authorization: Bearer KEY'",
            {"WWW-Authenticate": "Bearer"},
        )

    async def read_body(request: Request) -> bytes:
        length = request.headers.get("content-length")
        if length is not None:
            if not length.isdigit():
                raise RequestError(400, f"bad Content-Length header: {length!r}")
            if int(length) > limits.max_body_bytes:
                limit = limits.max_body_bytes
                raise RequestError(413, f"body of {int(length)} bytes exceeds the limit of {limit}")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limits.max_body_bytes:
                raise RequestError(413, f"body exceeds the limit of {limits.max_body_bytes} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    async def run_job(job: Job) -> dict:
        job.loop = asyncio.get_running_loop()
        job.future = job.loop.create_future()
        batcher.submit(job)
        try:
            try:
                wait = max(0.0, job.deadline - time.monotonic())
                return await asyncio.wait_for(asyncio.shield(job.future), wait)
            except TimeoutError:
                if batcher.cancel(job):
                    raise QueueTimeout() from None
                return await job.future  # it started: it runs to the end
        except asyncio.CancelledError:  # the connection is gone
            batcher.cancel(job, abandon=True)
            raise

    async def detect(request: Request) -> Response:
        started = time.perf_counter()
        request_id = uuid.uuid4().hex[:16]
        if not authorized(request):
            return unauthorized()
        try:
            data = parse_request(await read_body(request))
            if batcher.may_be_long(data["text"]):  # tokenizing it takes a while: not in the event loop
                job = await run_in_threadpool(batcher.make_job, data)
            else:
                job = batcher.make_job(data)
            out = dict(data)
            result = await run_job(job)
            if "spans" in result:
                result = {"mentions": await batcher.decode(job, result["spans"], result["encoding"])}
            out.update(result)
        except RequestError as err:
            return error(err.status, err.message, err.headers)
        except QueueTimeout:
            return error(
                503,
                f"the request waited {limits.timeout:g} s in the queue without starting (timeout) and was "
                f"dropped: the server is busy, retry later",
                {"Retry-After": str(limits.retry_after)},
            )
        except TommerError as err:  # e.g. gold offsets outside the text
            return error(422, str(err))
        except Exception as exc:
            return internal_error(request_id, exc, "POST /api/detect")
        elapsed = 1000 * (time.perf_counter() - started)
        headers = {"Server-Timing": f"detect;dur={elapsed:.0f}", "X-Request-Id": request_id}
        return json_response(out, headers=headers)

    async def health(request: Request) -> Response:
        if not authorized(request):
            return unauthorized()
        return json_response({**info, "stats": batcher.stats()})

    def static_response(name: str, media_type: str) -> Response:
        content = (STATIC / name).read_text(encoding="utf-8")
        return Response(content, media_type=media_type, headers=security)

    async def index(request: Request) -> Response:
        return static_response("index.html", "text/html; charset=utf-8")

    async def script(request: Request) -> Response:
        return static_response("app.js", "text/javascript; charset=utf-8")

    async def stylesheet(request: Request) -> Response:
        return Response(
            (STATIC / "app.css").read_text(encoding="utf-8") + CSS,
            media_type="text/css; charset=utf-8",
            headers=security,
        )

    async def http_error(request: Request, exc: HTTPException) -> Response:
        if exc.status_code == 405:
            return error(405, f"method {request.method} is not allowed on {request.url.path}")
        if exc.status_code == 404:
            return error(404, f"no such page: {request.url.path} (try / or POST /api/detect)")
        return error(exc.status_code, str(exc.detail))

    async def server_error(request: Request, exc: Exception) -> Response:
        return internal_error(uuid.uuid4().hex[:16], exc, f"{request.method} {request.url.path}")

    routes = [
        Route("/", index),
        Route("/app.js", script),
        Route("/app.css", stylesheet),
        Route("/health", health),
        Route("/api/detect", detect, methods=["POST"]),
    ]
    middleware = []
    if cors_origin:
        from starlette.middleware.cors import CORSMiddleware

        origins = [cors_origin] if isinstance(cors_origin, str) else list(cors_origin)
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=origins,
                allow_methods=["GET", "POST"],
                allow_headers=["Authorization", "Content-Type"],
            )
        )
    handlers = {HTTPException: http_error, Exception: server_error}
    app = Starlette(routes=routes, exception_handlers=handlers, middleware=middleware)
    app.state.batcher = batcher
    return app


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (port 0: a free port); clear error if taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        raise TommerError(f"cannot listen on {host}:{port}: {err.strerror or err}") from None
    sock.listen(128)
    return sock


class BackgroundServer:
    """Serve an app from a thread (for tests and scripts)::

    with BackgroundServer(create_app(detector)) as server:
        requests.get(server.url + "/health")
    """

    def __init__(self, app, host: str = DEFAULT_HOST, port: int = 0, timeout: float = 30.0) -> None:
        self.app, self.host, self.port, self.timeout = app, host, port, timeout
        self.server = None
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def __enter__(self) -> BackgroundServer:
        import uvicorn

        sock = bind(self.host, self.port)
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + self.timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise TommerError("the background server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        if self.server is not None:
            self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(timeout=10)
        batcher = getattr(getattr(self.app, "state", None), "batcher", None)
        if batcher is not None:
            batcher.close()


def serve(
    model: str | None = None,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    max_body_bytes: int = MAX_BODY_BYTES,
    heatmap_tokens: int = HEATMAP_TOKENS,
    log_level: str = "info",
    *,
    limits: ServerLimits | None = None,
    api_key: str | None = None,
    cors_origin: str | list[str] | None = None,
) -> None:
    """Load ``model`` once (default: the shipped model) and serve the app until Ctrl-C.

    ``api_key`` defaults to ``$TOMMER_API_KEY``; without one, only a loopback ``host`` is accepted."""
    _require_web()
    import uvicorn

    api_key = api_key if api_key is not None else os.environ.get(API_KEY_ENV) or None
    check_exposure(host, api_key)
    limits = limits or DEFAULT_LIMITS
    name = model or DEFAULT_MODEL
    sock = bind(host, port)  # fail fast on a taken port, before loading the model
    try:
        app = create_app(
            MentionDetector.from_pretrained(name),
            str(name),
            max_body_bytes,
            heatmap_tokens,
            limits=limits,
            api_key=api_key,
            cors_origin=cors_origin,
        )
    except BaseException:
        sock.close()
        raise
    shown = f"[{host}]" if ":" in host else host
    print(f"tommer: serving {name} on http://{shown}:{sock.getsockname()[1]}/ (Ctrl-C to stop)", flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level=log_level, lifespan="off"))
    try:
        server.run(sockets=[sock])
    finally:
        app.state.batcher.close()


__all__ = [
    "DEFAULT_LIMITS",
    "MAX_BODY_BYTES",
    "BackgroundServer",
    "Batcher",
    "ServerLimits",
    "check_exposure",
    "create_app",
    "is_loopback",
    "parse_request",
    "serve",
]
