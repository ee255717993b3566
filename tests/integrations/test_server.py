"""tommer.integrations.server: the JSON API, ``serve()``, and the web page in a real headless Chromium.

The browser test needs Debian's ``chromium`` and the Python ``playwright`` package (no
downloaded browser: ``executable_path``); it skips with a message when either is missing.
Without the shipped default model, tests run on the real backbone with an untrained probe
and the checks that need trained output skip.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tommer.errors import TommerError
from tommer.integrations.server import (
    HEADLESS_CHROMIUM_ARGS,
    MAX_BODY_BYTES,
    BackgroundServer,
    bind,
    create_app,
    parse_request,
)

pytest.importorskip("starlette", reason="starlette is not installed (pip install starlette uvicorn)")
pytest.importorskip("uvicorn", reason="uvicorn is not installed (pip install starlette uvicorn)")

SENTENCE = "Angela Merkel met Emmanuel Macron in Paris."
EXPECTED = {"Angela Merkel", "Emmanuel Macron", "Paris"}
NEEDS_MODEL = "the shipped default model (src/tommer/pretrained/smollm2-135m) is not built yet"
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "results" / "serve_screenshot.png"
CHROMIUM = os.environ.get("TOMMER_CHROMIUM", "/usr/bin/chromium")


def assert_same_mentions(got: list[dict], expected, tol: float = 1e-3) -> None:
    assert [(m["start"], m["end"], m["text"]) for m in got] == [(m.start, m.end, m.text) for m in expected]
    assert all(math.isclose(m["score"], e.score, abs_tol=tol) for m, e in zip(got, expected))


@pytest.fixture(scope="module")
def client(live):
    from starlette.testclient import TestClient

    with TestClient(create_app(live[0], "test-model", max_body_bytes=4096)) as c:
        yield c


# -- API ------------------------------------------------------------------------------------
def test_health(client, live):
    r = client.get("/health")
    assert r.status_code == 200
    info = r.json()
    assert info["status"] == "ok" and info["model"] == "test-model"
    assert set(info["decoders"]) == {"threshold", "flat", "nested"} and info["max_body_bytes"] == 4096
    assert info["engine"] == live[0].engine.name  # which runtime answers, e.g. for a load report


def test_detect_same_schema_as_cli_jsonl(client, live):
    detector, _ = live
    body = {"id": 7, "text": SENTENCE, "meta": {"a": [1]}, "threshold": 0.5, "decoding": "flat"}
    r = client.post("/api/detect", json=body)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    out = r.json()
    assert {k: out[k] for k in body} == body  # the input object, untouched
    assert set(out) == set(body) | {"mentions"}
    assert_same_mentions(out["mentions"], detector(SENTENCE, decoding="flat"))
    assert all(set(m) == {"start", "end", "text", "score"} for m in out["mentions"])
    assert all(SENTENCE[m["start"] : m["end"]] == m["text"] for m in out["mentions"])


def test_detect_with_visualization(client, live):
    r = client.post("/api/detect", json={"text": SENTENCE, "viz": True, "gold": [[0, 13]]})
    assert r.status_code == 200
    out = r.json()
    view = out["visualization"]
    n = view["n_tokens"]
    assert len(view["tokens"]) == n and len(view["span_probs"]) == n and len(view["matching"][0]) == n
    assert view["mentions"] == out["mentions"] and view["gold"] == [[0, 13]]
    assert 'class="tm-text"' in view["html"] and "<svg" in view["html"] and "<script" not in view["html"]
    if live[1]:
        assert {m["text"] for m in out["mentions"]} >= EXPECTED


def test_detect_empty_and_unicode_text(client):
    assert client.post("/api/detect", json={"text": ""}).json()["mentions"] == []
    text = "Zoë visited São Paulo 😀 with <b>Björk</b>."
    out = client.post("/api/detect", json={"text": text, "viz": True}).json()
    assert all(text[m["start"] : m["end"]] == m["text"] for m in out["mentions"])
    assert "<b>Björk" not in out["visualization"]["html"]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"", 400, "empty body"),
        (b"{not json", 400, "not valid JSON"),
        (b"\xff\xfe\xfa", 400, "not"),
        (b"[1, 2]", 422, "must be a JSON object"),
        (b'"text"', 422, "must be a JSON object"),
        (b'{"txt": "a"}', 422, "missing field 'text'"),
        (b'{"text": 5}', 422, "'text' must be a string"),
        (b'{"text": null}', 422, "'text' must be a string"),
        (b'{"text": "a", "threshold": "0.5"}', 422, "'threshold' must be a number"),
        (b'{"text": "a", "threshold": true}', 422, "'threshold' must be a number"),
        (b'{"text": "a", "threshold": 1.0}', 422, "'threshold' must be in [0, 1)"),
        (b'{"text": "a", "threshold": -0.1}', 422, "'threshold' must be in [0, 1)"),
        (b'{"text": "a", "decoding": "greedy"}', 422, "'decoding' must be one of"),
        (b'{"text": "a", "viz": 1}', 422, "'viz' must be true or false"),
        (b'{"text": "a", "gold": [[0]]}', 422, "'gold' must be a list"),
        (b'{"text": "a", "gold": [[0, 9]]}', 422, "outside the text"),
    ],
)
def test_detect_bad_input_gives_clear_4xx(client, body, status, message):
    r = client.post("/api/detect", content=body, headers={"content-type": "application/json"})
    assert r.status_code == status
    assert message in r.json()["error"]


def test_request_size_limit(client):
    big = json.dumps({"text": "x" * 5000}).encode()
    r = client.post("/api/detect", content=big)
    assert r.status_code == 413 and "exceeds the limit of 4096" in r.json()["error"]

    def chunks():  # no Content-Length: the streamed body is counted
        for _ in range(10):
            yield b" " * 1000

    r = client.post("/api/detect", content=chunks())
    assert r.status_code == 413 and "limit" in r.json()["error"]
    assert MAX_BODY_BYTES == 1_000_000


def test_unknown_routes_and_methods_are_json(client):
    r = client.get("/api/detect")
    assert r.status_code == 405 and "not allowed" in r.json()["error"]
    r = client.get("/nope")
    assert r.status_code == 404 and "/nope" in r.json()["error"]


def test_page_and_assets_are_local(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert "http://" not in page.text and "https://" not in page.text
    assert 'id="text"' in page.text and 'id="threshold"' in page.text and 'id="decoding"' in page.text
    js, css = client.get("/app.js"), client.get("/app.css")
    assert js.status_code == css.status_code == 200
    assert "/api/detect" in js.text and ".tm-pred" in css.text
    assert "http" not in js.text.replace("https://", "x")  # fetches are same-origin only


def test_parse_request_defaults():
    assert parse_request(b'{"text": "a"}') == {"text": "a"}
    with pytest.raises(Exception, match="empty body"):
        parse_request(b"  ")


def test_bind_reports_a_taken_port():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        with pytest.raises(TommerError, match=f"cannot listen on 127.0.0.1:{port}"):
            bind("127.0.0.1", port)


# -- serve() ---------------------------------------------------------------------------------
def test_serve_loads_a_model_and_answers(live, tmp_path):
    """``serve()`` in a subprocess, on a saved copy of the detector and a free loopback port."""
    import httpx

    model_dir = live[0].save_pretrained(tmp_path / "model")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code = (
        "from tommer.integrations.server import serve; "
        f"serve({str(model_dir)!r}, '127.0.0.1', {port}, log_level='warning')"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, proc.stdout.read().decode()
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "serve() did not answer within 120 s"
                time.sleep(0.5)
        assert health.json()["model"] == str(model_dir)
        r = httpx.post(f"http://127.0.0.1:{port}/api/detect", json={"text": SENTENCE}, timeout=60)
        assert r.status_code == 200
        assert_same_mentions(r.json()["mentions"], live[0](SENTENCE))
    finally:
        proc.terminate()
        proc.wait(timeout=30)


# -- real browser ---------------------------------------------------------------------------
def test_web_page_in_headless_chromium(live, tmp_path):
    if not (os.path.isfile(CHROMIUM) or shutil.which(CHROMIUM)):
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set TOMMER_CHROMIUM)")
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="the 'playwright' package is not installed (pip install playwright)"
    )
    detector, trained = live
    expected = [m.text for m in detector(SENTENCE)]
    with (
        BackgroundServer(create_app(detector, "tommer default" if trained else "untrained probe")) as server,
        sync_api.sync_playwright() as pw,
    ):
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=HEADLESS_CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
            page.goto(server.url + "/")
            page.locator("#text").press_sequentially(SENTENCE, delay=5)
            page.click("#detect")
            # (CSS selectors, not wait_for_function: the page's CSP forbids eval)
            page.wait_for_selector(f'body[data-state="done"] #result[data-text="{SENTENCE}"]', timeout=60_000)
            marks = page.eval_on_selector_all(
                "#result .tm-text mark.tm-pred", "els => els.map(e => e.dataset.text)"
            )
            assert set(marks) == set(expected)
            status = page.locator("#status").inner_text()
            assert status.startswith(f"{len(expected)} mention")
            assert page.locator("#result svg.tm-heat-probs").count() == 1
            assert page.locator("#result svg.tm-heat-matching").count() == 1
            assert page.locator("#result table.tm-mentions tr.tm-row-pred").count() == len(expected)
            title = page.locator("#result .tm-text mark.tm-pred").first.get_attribute("title")
            assert "score" in title
            if trained:
                assert set(marks) >= EXPECTED
            assert not errors, errors
            # a bad request shows the server's message (Chromium logs the 422 itself)
            page.evaluate("document.getElementById('decoding').add(new Option('bogus', 'bogus', true, true))")
            page.click("#detect")
            page.wait_for_selector('body[data-state="error"]')
            assert "'decoding' must be one of" in page.locator("#error").inner_text()
            page.select_option("#decoding", "threshold")
            page.click("#detect")
            page.wait_for_selector('body[data-state="done"]')
            assert page.locator("#error").is_hidden()
            assert [e for e in errors if "status of 422" not in e] == []
            out = SCREENSHOT if trained else tmp_path / SCREENSHOT.name  # commit only real output
            out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out), full_page=True)
            assert out.stat().st_size > 10_000
        finally:
            browser.close()


# -- serving under load: batching, lanes, limits, auth ----------------------------------------
SENTENCES = [
    "Angela Merkel met Emmanuel Macron in Paris.",
    "Barack Obama was born in Honolulu, Hawaii.",
    "The Eiffel Tower is in France.",
    "Apple opened a new store in Tokyo last year.",
    "Marie Curie worked at the University of Paris.",
    "Lionel Messi signed for Inter Miami.",
    "The Amazon river flows through Brazil.",
    "Tim Cook spoke at Stanford University.",
]


def long_text(windows: int, detector) -> str:
    """A text of about ``windows`` backbone windows (real sentences, repeated)."""
    text, n = "", 0
    while n <= windows * (detector.config.max_tokens - 1):
        text += " ".join(SENTENCES) + " "
        n = len(detector.preprocess([text])[0][0])
    return text


def post_all(url: str, bodies: list[dict], headers: dict | None = None) -> list:
    """POST every body at once (concurrently) and return the responses in order."""
    import asyncio

    import httpx

    async def go():
        async with httpx.AsyncClient(timeout=120, headers=headers) as c:
            return await asyncio.gather(*(c.post(url + "/api/detect", json=b) for b in bodies))

    return asyncio.run(go())


def wait_until(check, what: str, seconds: float = 120.0) -> None:
    """Poll ``check()`` until it is true (a deadline, not a timing assertion)."""
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.02)


def stats(server: BackgroundServer, headers: dict | None = None) -> dict:
    import httpx

    return httpx.get(server.url + "/health", headers=headers, timeout=30).json()["stats"]


def test_concurrent_requests_are_batched_and_answer_like_single_calls(live):
    """Concurrent requests share detector calls (fewer calls than requests, /health says so) and each
    gets the mentions of its own single call, options (threshold, decoding) kept per request."""
    from tommer.integrations.server import ServerLimits

    detector, _ = live
    bodies = [{"text": t, "decoding": "flat", "id": k} for k, t in enumerate(SENTENCES)]
    bodies += [
        {"text": t, "decoding": "threshold", "threshold": 0.3, "id": 100 + k} for k, t in enumerate(SENTENCES)
    ]
    limits = ServerLimits(max_batch_texts=len(SENTENCES), max_batch_wait_ms=2000)
    with BackgroundServer(create_app(detector, limits=limits)) as server:
        responses = post_all(server.url, bodies)
        counts = stats(server)
    assert [r.status_code for r in responses] == [200] * len(bodies)
    for body, r in zip(bodies, responses):
        out = r.json()
        assert out["id"] == body["id"] and out["text"] == body["text"]
        options = {"threshold": body.get("threshold"), "decoding": body["decoding"]}
        # (padding in a batch moves scores by ~1e-3, as in the detector's own list calls)
        assert_same_mentions(out["mentions"], detector(body["text"], **options), tol=1e-2)
        assert r.headers["x-request-id"]
    assert counts["requests"] == counts["batched_texts"] == len(bodies)
    assert 2 <= counts["detector_calls"] < len(bodies)  # two option groups, each batched
    assert 1 < counts["largest_batch"] <= len(SENTENCES)
    assert counts["queued"] == 0 and counts["errors"] == 0


def test_long_text_runs_window_by_window_with_the_same_mentions(live):
    detector, _ = live
    text = long_text(3, detector)
    with BackgroundServer(create_app(detector)) as server:
        long_r, short_r = post_all(server.url, [{"text": text}, {"text": SENTENCE}])
        counts = stats(server)
    assert long_r.status_code == short_r.status_code == 200
    assert_same_mentions(long_r.json()["mentions"], detector(text))
    assert_same_mentions(short_r.json()["mentions"], detector(SENTENCE))
    n_windows = len(detector.preprocess([text])[1])
    assert n_windows >= 3 and counts["long_texts"] == 1 and counts["long_steps"] == n_windows


def test_long_text_is_decoded_off_the_worker_like_the_detector(live):
    detector, _ = live
    text = long_text(2, detector)
    with BackgroundServer(create_app(detector)) as server:
        (r,) = post_all(server.url, [{"text": text, "decoding": "nested"}])
        counts = stats(server)
    assert r.status_code == 200 and counts["long_texts"] == 1
    assert_same_mentions(r.json()["mentions"], detector(text, decoding="nested"))


def test_short_requests_are_not_stalled_behind_a_long_text(live):
    """The scheduler itself: a short job queued after a long one is answered before the long one
    ends (one window per long turn, short batches in between)."""
    import asyncio

    from tommer.integrations.server import Batcher

    detector, _ = live
    batcher = Batcher(detector)
    text = long_text(4, detector)
    order: list[str] = []

    async def go():
        loop = asyncio.get_running_loop()
        jobs = {"long": batcher.make_job({"text": text}), "short": batcher.make_job({"text": SENTENCE})}
        for name, job in jobs.items():
            job.loop, job.future = loop, loop.create_future()
            job.future.add_done_callback(lambda _, name=name: order.append(name))
            batcher.submit(job)
        out = {name: await job.future for name, job in jobs.items()}
        assert set(out["long"]) == {"spans", "encoding"}  # decoded off the worker
        out["long"]["mentions"] = await batcher.decode(
            jobs["long"], out["long"]["spans"], out["long"]["encoding"]
        )
        return out

    try:
        assert batcher.make_job({"text": text}).kind == "long"
        out = asyncio.run(go())
    finally:
        batcher.close()
    assert order == ["short", "long"]
    assert_same_mentions(out["long"]["mentions"], detector(text))
    assert_same_mentions(out["short"]["mentions"], detector(SENTENCE))


def test_full_queue_gives_503_with_retry_after(live):
    import httpx

    from tommer.integrations.server import ServerLimits

    detector, _ = live
    text = long_text(6, detector)
    limits = ServerLimits(queue_size=1)
    with BackgroundServer(create_app(detector, limits=limits)) as server:
        with httpx.Client(timeout=120) as c:
            long_answer = {}
            thread = threading.Thread(
                target=lambda: long_answer.update(r=c.post(server.url + "/api/detect", json={"text": text}))
            )
            thread.start()
            wait_until(lambda: stats(server)["started"] == 1, "the long request to start")
            r = c.post(server.url + "/api/detect", json={"text": SENTENCE})
            thread.join()
            after = c.post(server.url + "/api/detect", json={"text": SENTENCE})
        counts = stats(server)
    assert r.status_code == 503 and r.headers["retry-after"] == "1"
    assert "busy" in r.json()["error"] and "queue_size 1" in r.json()["error"]
    assert long_answer["r"].status_code == 200 and after.status_code == 200
    assert counts["rejected_queue_full"] == 1


def test_request_waiting_past_the_timeout_gets_503_and_never_runs(live):
    """A short request behind a long text run in one turn (long_step_windows large) times out: 503,
    and its work is dropped (no batch ever ran it)."""
    import httpx

    from tommer.integrations.server import ServerLimits

    detector, _ = live
    text = long_text(12, detector)
    limits = ServerLimits(timeout=0.05, long_step_windows=1000)
    with BackgroundServer(create_app(detector, limits=limits)) as server:
        with httpx.Client(timeout=120) as c:
            thread = threading.Thread(target=lambda: c.post(server.url + "/api/detect", json={"text": text}))
            thread.start()
            wait_until(lambda: stats(server)["started"] == 1, "the long request to start")
            r = c.post(server.url + "/api/detect", json={"text": SENTENCE})
            thread.join()
        counts = stats(server)
    assert r.status_code == 503 and r.headers["retry-after"]
    assert "timeout" in r.json()["error"] and "dropped" in r.json()["error"]
    assert counts["timed_out"] == 1 and counts["batched_texts"] == 0 and counts["queued"] == 0


def test_token_limit_gives_413_naming_it(live):
    from starlette.testclient import TestClient

    from tommer.integrations.server import ServerLimits

    detector, _ = live
    limits = ServerLimits(max_request_tokens=40, max_viz_tokens=20)
    text = " ".join(SENTENCES)  # about 80 tokens
    n = len(detector.preprocess([text])[0][0])
    with TestClient(create_app(detector, limits=limits)) as c:
        r = c.post("/api/detect", json={"text": text})
        assert r.status_code == 413
        assert r.json()["error"] == (
            f"text has {n} tokens, over the limit of 40 tokens per request (max_request_tokens); "
            "split the text"
        )
        r = c.post("/api/detect", json={"text": " ".join(SENTENCES[1:4]), "viz": True})
        assert r.status_code == 413 and "limit of 20 tokens for viz / gold requests" in r.json()["error"]
        # more bytes than the limit, fewer tokens: counted, accepted
        under = "Angela Merkel met Emmanuel Macron in Paris and Berlin."
        assert len(under.encode()) > 40 >= len(detector.preprocess([under])[0][0])
        assert c.post("/api/detect", json={"text": under}).status_code == 200


def test_api_key_is_required_when_set(live):
    from starlette.testclient import TestClient

    with TestClient(create_app(live[0], api_key="s3cret")) as c:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
            r = c.post("/api/detect", json={"text": SENTENCE}, headers=headers)
            assert r.status_code == 401 and "Authorization: Bearer" in r.json()["error"]
            assert r.headers["www-authenticate"] == "Bearer"
            assert c.get("/health", headers=headers).status_code == 401
        ok = {"Authorization": "Bearer s3cret"}
        assert c.post("/api/detect", json={"text": SENTENCE}, headers=ok).status_code == 200
        assert c.get("/health", headers=ok).json()["auth"] is True
        assert c.get("/").status_code == 200  # the page itself is public


def test_refuses_a_non_loopback_address_without_a_key(monkeypatch, capsys):
    from tommer.cli.main import main
    from tommer.integrations.server import API_KEY_ENV, check_exposure, is_loopback, serve

    assert all(map(is_loopback, ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"]))
    assert not any(map(is_loopback, ["0.0.0.0", "::", "192.168.1.2", "example.org", ""]))
    check_exposure("127.0.0.1", None)
    check_exposure("0.0.0.0", "key")
    monkeypatch.delenv(API_KEY_ENV, raising=False)
    with pytest.raises(TommerError, match="refusing to listen on 0.0.0.0: it is not a loopback address"):
        serve("no-such-model", "0.0.0.0", 0)  # refused before binding or loading anything
    assert main(["serve", "--host", "0.0.0.0", "--model", "no-such-model"]) == 2
    err = capsys.readouterr().err
    assert "refusing to listen on 0.0.0.0" in err and "--api-key" in err and API_KEY_ENV in err


def test_lone_surrogate_text_is_answered_escaped(client):
    r = client.post(
        "/api/detect",
        content=b'{"text": "Paris \\udcff is nice"}',
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 200
    r.content.decode("utf-8")  # valid UTF-8
    assert b"\\udcff" in r.content
    out = json.loads(r.content)
    assert out["text"] == "Paris \udcff is nice"
    assert all(out["text"][m["start"] : m["end"]] == m["text"] for m in out["mentions"])


def test_internal_error_body_carries_no_internals(live, caplog):
    """A real failure (a probe built for another hidden size than the backbone's): 500 with a generic
    message and a request id; the exception is in the server's log under that id."""
    from starlette.testclient import TestClient

    from tommer.core.config import DetectorConfig
    from tommer.core.probe import ProbeConfig, ToMMeRProbe
    from tommer.typed.detector import MentionDetector

    detector = live[0]
    probe = ToMMeRProbe(ProbeConfig(detector.backbone.hidden_size + 8))
    broken = MentionDetector(
        DetectorConfig(detector.config.backbone, detector.config.layer, probe.config),
        detector.backbone,
        probe,
    )
    with caplog.at_level("ERROR", logger="tommer.server"), TestClient(create_app(broken)) as c:
        r = c.post("/api/detect", json={"text": SENTENCE})
    assert r.status_code == 500
    body = r.json()
    assert set(body) == {"error", "request_id"}
    assert body["error"] == f"internal server error (request id {body['request_id']})"
    assert "Error" not in body["error"] and "Traceback" not in r.text
    logged = [rec for rec in caplog.records if body["request_id"] in rec.getMessage()]
    assert logged and logged[0].exc_info is not None


def test_cors_only_when_asked(live):
    from starlette.testclient import TestClient

    origin = {"Origin": "https://example.org"}
    with TestClient(create_app(live[0])) as c:
        r = c.post("/api/detect", json={"text": SENTENCE}, headers=origin)
        assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
    with TestClient(create_app(live[0], cors_origin="https://example.org")) as c:
        r = c.post("/api/detect", json={"text": SENTENCE}, headers=origin)
        assert r.headers["access-control-allow-origin"] == "https://example.org"
        pre = c.options(
            "/api/detect",
            headers={
                **origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type",
            },
        )
        assert pre.status_code == 200 and "POST" in pre.headers["access-control-allow-methods"]
        other = c.post("/api/detect", json={"text": SENTENCE}, headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers


def test_bad_limits_are_refused():
    from tommer.errors import ConfigError
    from tommer.integrations.server import ServerLimits

    for bad in (
        {"queue_size": 0},
        {"max_batch_texts": -1},
        {"timeout": 0},
        {"max_batch_wait_ms": float("nan")},
    ):
        with pytest.raises(ConfigError):
            ServerLimits(**bad)


def test_web_page_asks_for_the_api_key(live):
    """With --api-key the page prompts once for the key and sends it (Authorization: Bearer)."""
    if not (os.path.isfile(CHROMIUM) or shutil.which(CHROMIUM)):
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set TOMMER_CHROMIUM)")
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="the 'playwright' package is not installed (pip install playwright)"
    )
    detector, _ = live
    expected = [m.text for m in detector(SENTENCE)]
    prompts: list[str] = []

    def answer(dialog) -> None:
        prompts.append(dialog.message)
        dialog.accept("s3cret")

    with (
        BackgroundServer(create_app(detector, "keyed", api_key="s3cret")) as server,
        sync_api.sync_playwright() as pw,
    ):
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=HEADLESS_CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.on("dialog", answer)
            page.goto(server.url + "/")
            page.wait_for_selector("#model:has-text('Model: keyed')")
            page.locator("#text").fill(SENTENCE)
            page.click("#detect")
            page.wait_for_selector(f'body[data-state="done"] #result[data-text="{SENTENCE}"]', timeout=60_000)
            marks = page.eval_on_selector_all(
                "#result .tm-text mark.tm-pred", "els => els.map(e => e.dataset.text)"
            )
        finally:
            browser.close()
    assert prompts == ["This server needs an API key:"]  # asked once, then remembered
    assert set(marks) == set(expected)
