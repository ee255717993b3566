"""LLM-as-judge: prompt, parser, cache, the HTTP client (against a local stub server), the real local
SmolLM2-135M-Instruct judge end to end, and `tommer judge` on benchmark data."""

from __future__ import annotations

import json
import random
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tommer.cli import main
from tommer.data.mention import AnnotatedText
from tommer.errors import ConfigError, DataFormatError, TommerError
from tommer.evaluation.judge import (
    Item,
    Judge,
    JudgeCache,
    Judgment,
    build_messages,
    build_report,
    control_items,
    mark_span,
    parse_verdict,
    render_markdown,
    sample_predictions,
    tally,
    wilson_interval,
)
from tommer.evaluation.judge_backends import HttpBackend, LocalBackend, make_backend

TEXT = "The European Commission said on Thursday it disagreed with German advice to consumers."


# -- prompt and parser ---------------------------------------------------------------------
def test_mark_span_context_and_marks():
    text = TEXT + " The Commission said a ban on British beef would stay in place."
    start = text.index("German")
    context = mark_span(text, start, start + 6)
    assert "[[German]]" in context
    assert context.startswith("...") and context.endswith("...")
    before, after = context[3:-3].split("[[German]]")
    assert len(before) <= 30 and len(after) <= 30
    assert text.find(before + "German" + after) >= 0  # a contiguous excerpt, cut at word edges
    assert before.split()[0] in text.split() and after.split()[-1] in text.split()
    assert mark_span("Paris", 0, 5) == "[[Paris]]"
    with pytest.raises(ConfigError):
        mark_span("Paris", 2, 9)


def test_messages_end_with_the_question():
    messages = build_messages("...with [[German]] advice...", "German")
    assert messages[0]["role"] == "system" and messages[-1]["role"] == "user"
    assert "[[German]]" in messages[-1]["content"] and '"German"' in messages[-1]["content"]
    assert [m["role"] for m in messages[1:-1]] == ["user", "assistant"] * ((len(messages) - 2) // 2)


@pytest.mark.parametrize(
    ("reply", "verdict", "justification"),
    [
        ("Justification: Paris is a city.\nAnswer: yes", "yes", "Paris is a city."),
        ("Justification: on is a preposition.\nAnswer: No.", "no", "on is a preposition."),
        ("Justification: x.\n**Answer:** YES", "yes", "x."),
        ("Justification: it names a firm. Answer - no", "no", "it names a firm."),
        ("Answer: yes\nJustification: names a person.\nAnswer: no", "no", "names a person."),
        ("Yes. It is the name of a country.", "yes", "Yes. It is the name of a country."),
        ("It is a preposition, so no", "no", "It is a preposition, so no"),
        ("Justification: It is one entity mention.", None, "It is one entity mention."),
        ("", None, ""),
    ],
)
def test_parse_verdict(reply, verdict, justification):
    assert parse_verdict(reply) == (verdict, justification)


def test_wilson_interval():
    low, high = wilson_interval(5, 10)
    assert low == pytest.approx(0.2366, abs=1e-4) and high == pytest.approx(0.7634, abs=1e-4)
    assert wilson_interval(0, 4)[0] == 0.0 and wilson_interval(0, 4)[1] == pytest.approx(0.4899, abs=1e-4)
    assert wilson_interval(0, 0) is None


def test_report_counts_and_agreement():
    def judged(kind, gold, verdict):
        return Judgment(Item(kind, TEXT, 4, 23, gold), "[[x]]", verdict, "because", "reply", False, 1.0)

    preds = [judged("prediction", True, "yes")] * 3 + [judged("prediction", False, "yes")] * 2
    preds += [judged("prediction", False, "no")] * 4 + [judged("prediction", True, None)]
    controls = [judged("gold", True, "yes")] * 2 + [judged("function-word", False, "yes")]
    controls += [judged("crossing", False, "no")] * 3
    report = build_report(preds + controls, {"timing": {}}, examples=2)
    p = report["precision"]
    assert (p["sampled"], p["judged"], p["yes"], p["no"], p["unparseable"]) == (10, 9, 5, 4, 1)
    assert p["precision"] == pytest.approx(5 / 9)
    assert report["gold_precision"]["matches"] == 4
    ag = report["agreement_with_gold"]
    assert (ag["judge_yes_gold_yes"], ag["judge_yes_gold_no"], ag["judge_no_gold_no"]) == (3, 2, 4)
    assert ag["agreement"] == pytest.approx(7 / 9)
    assert ag["kappa"] == pytest.approx(
        (7 / 9 - (5 / 9 * 3 / 9 + 4 / 9 * 6 / 9)) / (1 - (5 / 9 * 3 / 9 + 4 / 9 * 6 / 9))
    )
    rel = report["reliability"]
    assert rel["gold"]["yes_rate"] == 1.0 and rel["wrong (both)"]["yes_rate"] == 0.25
    assert len(report["examples"]) == 2 + 2 + 1 + 2 and report["timing"]["model_seconds_total"] == 16.0
    md = render_markdown(
        {
            **report,
            "benchmark": "B",
            "split": "dev",
            "detector": "d",
            "threshold": 0.5,
            "decoding": "threshold",
            "judge": "j",
            "seed": 0,
            "sentences": 3,
            "predictions_total": 12,
        }
    )
    assert "| judge precision = yes / judged | 55.6 |" in md and "1 unparseable" in md
    assert "separates them well (gap 75.0 points)" in md


# -- sampling ------------------------------------------------------------------------------
DOCS = [
    AnnotatedText(TEXT, [(4, 23), (59, 65)]),
    AnnotatedText("Angela Merkel met Emmanuel Macron in Paris on Monday .", [(0, 13), (18, 33), (37, 42)]),
]


def test_control_items_are_known_right_and_wrong():
    items = control_items(DOCS, 4, random.Random(0))
    again = control_items(DOCS, 4, random.Random(0))
    assert items == again  # seeded
    kinds = [it.kind for it in items]
    assert kinds.count("gold") == 4 and kinds.count("function-word") == 2 and kinds.count("crossing") == 2
    for it in items:
        doc = next(d for d in DOCS if d.text == it.text)
        if it.kind == "gold":
            assert (it.start, it.end) in doc.spans and it.gold
            continue
        assert (it.start, it.end) not in doc.spans and not it.gold
        if it.kind == "function-word":
            assert it.span.lower() in {"the", "on", "it", "with", "to", "in"}
            assert not any(it.start < e and s < it.end for s, e in doc.spans)
        else:  # crosses exactly one gold end boundary
            assert any(s <= it.start < e < it.end for s, e in doc.spans), it.span


def test_sample_predictions_marks_gold_matches():
    predicted = [[(4, 23), (4, 13), (59, 66)], [(0, 13)]]  # (59, 66) trims to the gold (59, 65)
    items, total = sample_predictions(predicted, DOCS, 10, random.Random(0))
    assert total == 4 and len(items) == 4
    assert {(it.span, it.gold) for it in items} == {
        ("European Commission", True),
        ("European", False),
        ("German", True),
        ("Angela Merkel", True),
    }
    assert len(sample_predictions(predicted, DOCS, 2, random.Random(0))[0]) == 2


# -- HTTP backend against a stub server ------------------------------------------------------
class _Stub(BaseHTTPRequestHandler):
    """An OpenAI-compatible /v1/chat/completions: yes for capitalised marked spans, else no."""

    requests: list[dict] = []
    mode = "ok"

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append({"path": self.path, "auth": self.headers.get("Authorization"), **body})
        if self.mode == "error":
            self._send(500, b'{"error": "model overloaded"}')
            return
        if self.mode == "garbage":
            self._send(200, b"<html>not json</html>")
            return
        span = re.search(r"\[\[(.*?)\]\]", body["messages"][-1]["content"]).group(1)
        answer = "yes" if span[:1].isupper() else "no"
        reply = f"Justification: '{span}' {'is' if answer == 'yes' else 'is not'} a name.\nAnswer: {answer}"
        data = {"choices": [{"message": {"role": "assistant", "content": reply}}]}
        self._send(200, json.dumps(data).encode())

    def _send(self, code: int, data: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture()
def stub():
    _Stub.requests, _Stub.mode = [], "ok"
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Stub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1", _Stub
    server.shutdown()
    server.server_close()


def test_http_backend_request_and_cache(stub, tmp_path):
    url, handler = stub
    backend = HttpBackend(url + "/", "judge-model", api_key="sk-test")
    items = [Item("prediction", TEXT, 4, 23, True), Item("function-word", TEXT, 29, 31, False)]
    cache = JudgeCache(tmp_path / "cache.jsonl")
    first = Judge(backend, cache)(items)
    assert [j.verdict for j in first] == ["yes", "no"]
    assert first[0].justification == "'European Commission' is a name."
    sent = handler.requests[0]
    assert sent["path"] == "/v1/chat/completions" and sent["auth"] == "Bearer sk-test"
    assert sent["model"] == "judge-model" and sent["temperature"] == 0
    assert "[[European Commission]]" in sent["messages"][-1]["content"]
    # a rerun (a fresh process: the cache is read back from disk) makes no request
    rerun = Judge(HttpBackend(url, "judge-model"), JudgeCache(tmp_path / "cache.jsonl"))
    again = rerun(items)
    assert len(handler.requests) == 2 and rerun.model_calls == 0 and rerun.cache_hits == 2
    assert [j.verdict for j in again] == ["yes", "no"] and all(j.cached for j in again)
    # another judge model does not reuse those answers
    other = Judge(HttpBackend(url, "other-model"), JudgeCache(tmp_path / "cache.jsonl"))
    other(items[:1])
    assert other.model_calls == 1 and len(handler.requests) == 3


def test_http_backend_env_fallback(stub, monkeypatch):
    url, handler = stub
    monkeypatch.setenv("TOMMER_JUDGE_BASE_URL", url)
    monkeypatch.setenv("TOMMER_JUDGE_MODEL", "env-model")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    monkeypatch.delenv("TOMMER_JUDGE_API_KEY", raising=False)
    backend = make_backend("http")
    assert backend.complete(build_messages("[[Paris]]", "Paris")).endswith("Answer: yes")
    assert handler.requests[-1]["model"] == "env-model" and handler.requests[-1]["auth"] == "Bearer sk-env"


def test_http_backend_errors(stub, monkeypatch):
    url, handler = stub
    messages = build_messages("[[Paris]]", "Paris")
    handler.mode = "error"
    with pytest.raises(TommerError, match=r"HTTP 500: .*model overloaded"):
        HttpBackend(url, "m").complete(messages)
    handler.mode = "garbage"
    with pytest.raises(TommerError, match="sent no chat completion"):
        HttpBackend(url, "m").complete(messages)
    with pytest.raises(TommerError, match="cannot reach judge endpoint http://127.0.0.1:9/"):
        HttpBackend("http://127.0.0.1:9/v1", "m", timeout=5).complete(messages)
    for var in ("TOMMER_JUDGE_BASE_URL", "OPENAI_BASE_URL", "TOMMER_JUDGE_MODEL"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(ConfigError, match="--base-url"):
        HttpBackend(None, "m")
    with pytest.raises(ConfigError, match="--judge-model"):
        HttpBackend(url, None)
    with pytest.raises(ConfigError, match="http://"):
        HttpBackend("localhost:8000", "m")
    with pytest.raises(ConfigError, match="unknown judge backend"):
        make_backend("carrier-pigeon")


def test_bad_cache_file_names_file_and_line(tmp_path):
    path = tmp_path / "cache.jsonl"
    path.write_text('{"key": "a", "reply": "Answer: yes"}\n{"truncated\n', encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"cache\.jsonl:2: not a judge cache record"):
        JudgeCache(path)


# -- the real local judge ------------------------------------------------------------------------
def test_local_backend_end_to_end(tmp_path):
    backend = LocalBackend("smollm2-135m", max_new_tokens=40)
    items = [
        Item("gold", TEXT, 4, 23, True),
        Item("function-word", TEXT, 29, 31, False),
        Item("gold", DOCS[1].text, 0, 13, True),
    ]
    judge = Judge(backend, JudgeCache(tmp_path / "cache.jsonl"))
    judgments = judge(items)
    assert judge.model_calls == backend.calls == 3
    for j in judgments:
        assert j.reply.startswith("Justification:") and j.justification
        assert j.verdict in ("yes", "no"), j.reply  # this model keeps the prompted format
    counts = tally(judgments)
    assert counts["judged"] == 3 and counts["yes"] + counts["no"] == 3
    rerun = Judge(backend, JudgeCache(tmp_path / "cache.jsonl"))
    assert [j.reply for j in rerun(items)] == [j.reply for j in judgments]
    assert rerun.model_calls == 0 and backend.calls == 3


def test_local_backend_unknown_model():
    with pytest.raises(TommerError, match="neither a preset"):
        LocalBackend("no-such-judge")


# -- the command ------------------------------------------------------------------------------
def test_cli_judge_report(stub, shared_data, tmp_path, capsys, monkeypatch):
    url, handler = stub
    out, cache = tmp_path / "report", tmp_path / "cache.jsonl"
    # no --cache: the default file
    monkeypatch.setattr("tommer.evaluation.judge.default_cache_path", lambda: cache)
    args = ["judge", "--backend", "http", "--base-url", url, "--judge-model", "stub", "--sample", "6"]
    args += ["--controls", "4", "--sentences", "8", "--seed", "3", "-q"]
    assert main(args + ["--out", str(out), "--data-root", str(shared_data)]) == 0
    report = json.loads((out / "judge.json").read_text())
    p = report["precision"]
    assert p["sampled"] == 6 and p["judged"] == 6 and p["unparseable"] == 0
    assert p["yes"] == sum(j["span"][:1].isupper() for j in report["judgments"] if j["kind"] == "prediction")
    rel = report["reliability"]
    assert rel["gold"]["sampled"] == 4 and rel["wrong (both)"]["sampled"] == 4
    assert rel["function-word"]["yes"] == 0  # the stub says no to lower-case words
    for j in report["judgments"]:
        assert f"[[{j['span']}]]" in j["context"]
    md = (out / "judge.md").read_text()
    assert "tommer judge --backend http" in md and "## Reliability of the judge" in md
    assert f"| judge precision = yes / judged | {100 * p['precision']:.1f} |" in md
    calls = len(handler.requests)
    assert calls == 14 and len(cache.read_text().splitlines()) == 14
    assert main(args + ["--out", str(tmp_path / "again"), "--data-root", str(shared_data)]) == 0
    assert len(handler.requests) == calls  # the rerun is answered from the cache
    again = json.loads((tmp_path / "again" / "judge.json").read_text())
    assert again["precision"] == report["precision"] and again["timing"]["model_calls_this_run"] == 0
    assert "judge precision" in capsys.readouterr().out


def test_cli_judge_bad_options(shared_data, capsys):
    assert main(["judge", "--backend", "http", "--base-url", "ftp://x", "--judge-model", "m"]) == 2
    assert "--base-url must start with http://" in capsys.readouterr().err
    code = main(["judge", "--benchmark", "No Such", "--data-root", str(shared_data), "--cache", "none"])
    assert code == 2 and "no such benchmark" in capsys.readouterr().err
