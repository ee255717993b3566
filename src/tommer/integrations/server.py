"""``tommer serve``: a small local web app and JSON API around one loaded detector.

Routes (a Starlette app, served by uvicorn):

- ``GET /``: one page (packaged HTML/CSS/JS, no external resources) to type a text, pick the
  threshold and decoder, and see the highlighted mentions, scores and heatmaps.
- ``POST /api/detect``: body ``{"text": str, "threshold"?: float, "decoding"?: str,
  "viz"?: bool, "gold"?: [[start, end], ...], ...}``; answers the input object plus
  ``"mentions": [{"start", "end", "text", "score"}]`` (the CLI's JSONL schema), and with
  ``"viz": true`` also ``"visualization"`` (:meth:`Visualization.to_dict` plus ``"html"``).
- ``GET /health``: ``{"status": "ok", ...}`` with the model's description.

Bodies over ``max_body_bytes`` (1 MB) get 413; malformed JSON 400; a body that is not an
object, a missing or non-string ``text``, or a bad option 422; every error is
``{"error": message}``.
"""

from __future__ import annotations

import json
import math
import socket
import threading
import time
from importlib import resources, util

from ..core.decoding import DECODERS, DEFAULT_DECODING
from ..core.layout import DEFAULT_MODEL
from ..errors import TommerError
from ..typed.detector import MentionDetector
from .viz import CSS, HEATMAP_TOKENS, visualize

MAX_BODY_BYTES = 1_000_000
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
    """A client error: answered as ``{"error": message}`` with ``status``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


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


def create_app(
    detector: MentionDetector,
    model_name: str = "",
    max_body_bytes: int = MAX_BODY_BYTES,
    heatmap_tokens: int = HEATMAP_TOKENS,
):
    """The Starlette app serving ``detector`` (loaded once, shared by all requests)."""
    _require_web()
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    lock = threading.Lock()  # one inference at a time: the CPU is the bottleneck anyway
    info = {
        "status": "ok",
        "model": model_name or f"{detector.config.backbone} layer {detector.config.layer}",
        "backbone": detector.config.backbone,
        "layer": detector.config.layer,
        "threshold": detector.config.threshold,
        "decoders": sorted(DECODERS),
        "max_body_bytes": max_body_bytes,
        "heatmap_tokens": heatmap_tokens,
    }
    security = {
        "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }

    def error(status: int, message: str) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status)

    async def read_body(request: Request) -> bytes:
        length = request.headers.get("content-length")
        if length is not None:
            if not length.isdigit():
                raise RequestError(400, f"bad Content-Length header: {length!r}")
            if int(length) > max_body_bytes:
                raise RequestError(413, f"body of {int(length)} bytes exceeds the limit of {max_body_bytes}")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_body_bytes:
                raise RequestError(413, f"body exceeds the limit of {max_body_bytes} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    def run_detect(data: dict) -> dict:
        options = {
            "threshold": float(data.get("threshold", detector.config.threshold)),
            "decoding": data.get("decoding", DEFAULT_DECODING),
        }
        with lock:
            if data.get("viz") or data.get("gold") is not None:
                view = visualize(
                    detector, data["text"], gold=data.get("gold"), heatmap_tokens=heatmap_tokens, **options
                )
                mentions = view.mentions
            else:
                view, mentions = None, detector(data["text"], **options)
        out = dict(data)
        out["mentions"] = [m.to_dict() for m in mentions]
        if data.get("viz"):
            out["visualization"] = {**view.to_dict(), "html": view.to_fragment(style=False)}
        return out

    async def detect(request: Request) -> Response:
        started = time.perf_counter()
        try:
            data = parse_request(await read_body(request))
            out = await run_in_threadpool(run_detect, data)
        except RequestError as err:
            return error(err.status, err.message)
        except TommerError as err:  # e.g. gold offsets outside the text
            return error(422, str(err))
        elapsed = 1000 * (time.perf_counter() - started)
        return JSONResponse(out, headers={"Server-Timing": f"detect;dur={elapsed:.0f}"})

    async def health(request: Request) -> Response:
        return JSONResponse(info)

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
        return error(500, f"internal error: {type(exc).__name__}: {exc}")

    routes = [
        Route("/", index),
        Route("/app.js", script),
        Route("/app.css", stylesheet),
        Route("/health", health),
        Route("/api/detect", detect, methods=["POST"]),
    ]
    handlers = {HTTPException: http_error, Exception: server_error}
    return Starlette(routes=routes, exception_handlers=handlers)


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


def serve(
    model: str | None = None,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    max_body_bytes: int = MAX_BODY_BYTES,
    heatmap_tokens: int = HEATMAP_TOKENS,
    log_level: str = "info",
) -> None:
    """Load ``model`` once (default: the shipped model) and serve the app until Ctrl-C."""
    _require_web()
    import uvicorn

    name = model or DEFAULT_MODEL
    sock = bind(host, port)  # fail fast on a taken port, before loading the model
    try:
        app = create_app(MentionDetector.from_pretrained(name), str(name), max_body_bytes, heatmap_tokens)
    except BaseException:
        sock.close()
        raise
    shown = f"[{host}]" if ":" in host else host
    print(f"tommer: serving {name} on http://{shown}:{sock.getsockname()[1]}/ (Ctrl-C to stop)", flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level=log_level, lifespan="off"))
    server.run(sockets=[sock])


__all__ = ["MAX_BODY_BYTES", "BackgroundServer", "create_app", "parse_request", "serve"]
