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


def assert_same_mentions(got: list[dict], expected) -> None:
    assert [(m["start"], m["end"], m["text"]) for m in got] == [(m.start, m.end, m.text) for m in expected]
    assert all(math.isclose(m["score"], e.score, abs_tol=1e-3) for m, e in zip(got, expected))


@pytest.fixture(scope="module")
def client(live):
    from starlette.testclient import TestClient

    with TestClient(create_app(live[0], "test-model", max_body_bytes=4096)) as c:
        yield c


# -- API ------------------------------------------------------------------------------------
def test_health(client):
    r = client.get("/health")
    assert r.status_code == 200
    info = r.json()
    assert info["status"] == "ok" and info["model"] == "test-model"
    assert set(info["decoders"]) == {"threshold", "flat", "nested"} and info["max_body_bytes"] == 4096


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
