"""Inference engines on the real default model (smollm2-135m): the ONNX engine agrees with torch fp32,
its export is built once into the cache and reused, the engine is overridable, and ONNX detection
imports neither torch nor transformers."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from subprocess import PIPE

import numpy as np
import pytest

import tommer
from tommer.core.config import DetectorConfig
from tommer.core.detector import ProbeDetector
from tommer.core.engines import (
    ENGINES,
    auto_engine,
    cpu_flags,
    native_bf16,
    openvino_available,
    resolve_engine,
)
from tommer.core.engines.build import export_dir, export_key, int8_matmuls, is_complete
from tommer.core.engines.onnx_engine import (
    COMPLETE,
    META,
    MODEL_FP32,
    MODEL_INT8,
    MODEL_OPENVINO,
    TOKENIZER,
    VALID_FLOOR,
    WEIGHTS_FP32,
    WEIGHTS_OPENVINO,
)
from tommer.core.layout import CONFIG_NAME, DEFAULT_MODEL, HEAD_CONFIG_NAME, WEIGHTS_NAME, resolve_model_dir
from tommer.core.windows import encode
from tommer.errors import ConfigError, TommerError

pytest.importorskip("onnxruntime")
needs_openvino = pytest.mark.skipif(not openvino_available(), reason="openvino is not installed")

SENTENCES = [
    "Angela Merkel met Emmanuel Macron in Paris.",
    "  Leading and trailing spaces around Berlin.  ",
    "Zoë Saldaña and Björk visited São Paulo, Zürich and Kraków.",
    "東京 is the capital of Japan; 北京 is in China.",
    "Emoji 😀 between Barack Obama 🇺🇸 and Michelle Obama 👍🏽!",
    "Line one mentions Google.\n\nLine two\tmentions Microsoft\r\nand Apple.",
    "The European Central Bank raised rates while NASA launched the James Webb Space Telescope.",
    "Dr. Jane Goodall studied chimpanzees in Gombe Stream National Park, Tanzania, for decades.",
    "x",
    "",
]


def corrupt(path: Path) -> bytes:
    """Zero 64 bytes in the middle of ``path`` (a valid file, wrong weights), written as a new file
    renamed over it: an engine of this module that memory-maps the old one keeps reading it."""
    data = bytearray(path.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = bytes(64)
    tmp = path.with_name(path.name + ".corrupt")
    tmp.write_bytes(bytes(data))
    os.replace(tmp, path)
    return bytes(data)


@pytest.fixture(scope="module")
def onnx_detector(engine_cache):
    return ProbeDetector.from_pretrained(DEFAULT_MODEL, engine="onnx")


@pytest.fixture(scope="module")
def fp32_detector(engine_cache):
    return ProbeDetector.from_pretrained(DEFAULT_MODEL, engine="torch-fp32")


def _keys(results):
    return {(k, m.start, m.end, m.text) for k, ms in enumerate(results) for m in ms}


def test_onnx_mentions_agree_with_torch_fp32(onnx_detector, fp32_detector):
    assert onnx_detector.engine.name == "onnx" and fp32_detector.engine.name == "torch-fp32"
    for threshold in (None, 0.05):  # the model's operating point, and many low-probability spans
        got = onnx_detector(SENTENCES, threshold=threshold, batch_size=4)
        ref = fp32_detector(SENTENCES, threshold=threshold, batch_size=4)
        a, b = _keys(got), _keys(ref)
        assert len(b) > len(SENTENCES) // 2
        assert 2 * len(a & b) / (len(a) + len(b)) >= 0.99
        for text, mentions in zip(SENTENCES, got):
            for m in mentions:
                assert text[m.start : m.end] == m.text and m.text == m.text.strip()
    assert [(m.text, m.start, m.end) for m in onnx_detector(SENTENCES[0])] == [
        ("Angela Merkel", 0, 13),
        ("Emmanuel Macron", 18, 33),
        ("Paris", 37, 42),
    ]


def test_onnx_span_probabilities_match_torch(onnx_detector, fp32_detector):
    from tommer.core.windows import collate_arrays

    encodings, windows = onnx_detector.preprocess(SENTENCES[:4])
    ids, mask = collate_arrays(windows, encodings, onnx_detector.engine.bos_id, onnx_detector.engine.pad_id)
    got = onnx_detector.forward(ids, mask)
    ref = fp32_detector.forward(ids, mask)
    assert got.dtype == np.float64 and got.shape == ref.shape
    np.testing.assert_allclose(got, ref, atol=1e-4)
    assert (got[mask == 0] == 0).all()  # padding rows score nothing


def test_exported_tokenizer_matches_the_backbone_tokenizer(onnx_detector, fp32_detector):
    for text in SENTENCES:
        a, b = onnx_detector.engine.encode(text), encode(fp32_detector.backbone.tokenizer, text)
        for field in ("ids", "starts", "ends", "word_start", "word_end", "shapes"):
            assert np.array_equal(getattr(a, field), getattr(b, field)), (text, field)


def test_export_is_built_once_and_reused(engine_cache, onnx_detector):
    directory = onnx_detector.engine.directory
    assert directory.is_relative_to(engine_cache / "engines")
    assert (directory / COMPLETE).is_file() and (directory / TOKENIZER).is_file()
    before = (directory / MODEL_FP32).stat().st_mtime_ns
    again = ProbeDetector.from_pretrained(DEFAULT_MODEL, engine="onnx")
    assert again.engine.directory == directory
    assert (directory / MODEL_FP32).stat().st_mtime_ns == before
    # no temporary left; the build's lock file stays (it is only ever locked, never removed)
    assert sorted(p.name for p in directory.parent.iterdir()) == [directory.name, directory.name + ".lock"]


def test_export_key_follows_the_probe_weights(engine_cache, tmp_path):
    source = resolve_model_dir(DEFAULT_MODEL)
    config = DetectorConfig.from_dict(json.loads((source / CONFIG_NAME).read_text()))
    copy = tmp_path / "retrained"
    shutil.copytree(source, copy)
    assert export_key(copy, config) == export_key(source, config)
    data = bytearray((copy / WEIGHTS_NAME).read_bytes())
    data[-1] ^= 1  # one bit of one weight
    (copy / WEIGHTS_NAME).write_bytes(bytes(data))
    assert export_key(copy, config) != export_key(source, config)
    assert export_dir(copy, config) != export_dir(source, config)


def test_engine_is_overridable_and_checked(engine_cache, onnx_detector, monkeypatch):
    assert auto_engine() in ENGINES
    monkeypatch.setenv("TOMMER_ENGINE", "onnx")
    assert resolve_engine() == "onnx"
    detector = tommer.load()
    assert detector.engine.name == "onnx" and isinstance(detector, ProbeDetector)
    assert resolve_engine("torch-fp32") == "torch-fp32"  # an argument beats the environment
    monkeypatch.setenv("TOMMER_ENGINE", "tensorrt")
    with pytest.raises(ConfigError, match="TOMMER_ENGINE 'tensorrt'.*onnx"):
        tommer.load()
    monkeypatch.delenv("TOMMER_ENGINE")
    with pytest.raises(ConfigError, match="engine 'fp16'"):
        tommer.load(engine="fp16")
    with pytest.raises(ConfigError, match="engine 'fp16'"):
        ProbeDetector.from_pretrained(DEFAULT_MODEL, engine="fp16")


def test_a_type_head_is_found_by_the_name_tommer_load_looks_for():
    typed = resolve_model_dir("smollm2-135m-types")
    assert (typed / HEAD_CONFIG_NAME).is_file()  # tommer.load gives it a MentionDetector on any engine
    from tommer.typed.type_head import HEAD_CONFIG

    assert HEAD_CONFIG == HEAD_CONFIG_NAME


def ran_as_openvino() -> str:
    return "openvino-bf16" if native_bf16() else "openvino-fp32"


@pytest.mark.parametrize("engine", ["onnx", pytest.param("openvino", marks=needs_openvino)])
def test_export_detection_imports_neither_torch_nor_transformers(engine_cache, onnx_detector, engine):
    code = (
        "import sys, json, tommer\n"
        f"d = tommer.load(engine={engine!r})\n"
        "ms = d(['Angela Merkel met Emmanuel Macron in Paris.', 'Apple is in Cupertino.'])\n"
        "heavy = sorted(m for m in ('torch', 'transformers', 'onnx') if m in sys.modules)\n"
        "texts = [[m.text for m in x] for x in ms]\n"
        "print(json.dumps({'heavy': heavy, 'engine': d.engine.name, 'mentions': texts}))\n"
    )
    env = dict(os.environ, TOMMER_CACHE=str(engine_cache), PYTHONPATH=str(Path(tommer.__file__).parents[1]))
    env.pop("TOMMER_ENGINE", None)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["heavy"] == [] and result["engine"] == (engine if engine == "onnx" else ran_as_openvino())
    assert "Angela Merkel" in result["mentions"][0]


def test_cli_detect_on_onnx_imports_neither_torch_nor_transformers(engine_cache, onnx_detector):
    code = (
        "import sys, json\n"
        "from tommer.cli.main import main\n"
        "text = 'Angela Merkel met Emmanuel Macron in Paris.'\n"
        "code = main(['detect', '--engine', 'onnx', '--json', text])\n"
        "heavy = sorted(m for m in ('torch', 'transformers', 'onnx', 'spacy') if m in sys.modules)\n"
        "print(json.dumps({'code': code, 'heavy': heavy}))\n"
    )
    env = dict(os.environ, TOMMER_CACHE=str(engine_cache), PYTHONPATH=str(Path(tommer.__file__).parents[1]))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    *printed, last = out.stdout.strip().splitlines()
    assert json.loads(last) == {"code": 0, "heavy": []}
    assert "Angela Merkel" in printed[0]


def test_untyped_onnx_detector_refuses_typed_options(onnx_detector):
    with pytest.raises(ConfigError, match="no type head"):
        onnx_detector("Angela Merkel met Emmanuel Macron in Paris.", labels=["person"])


def test_a_corrupted_export_is_rebuilt_not_used(engine_cache, onnx_detector, caplog):
    directory = onnx_detector.engine.directory
    model = directory / WEIGHTS_FP32
    data = corrupt(model)
    with caplog.at_level("WARNING"):
        again = ProbeDetector.from_pretrained(DEFAULT_MODEL, engine="onnx")
    assert "exporting again" in caplog.text
    assert again(SENTENCES[:3]) == onnx_detector(SENTENCES[:3])
    assert model.read_bytes() != bytes(data)


def test_int8_keeps_the_mlp_output_projections_fp32(engine_cache, onnx_detector):
    """onnx-int8 quantises 6 of each layer's 7 MatMuls (down_proj stays fp32); its mentions keep
    their offsets and, on clear sentences, the fp32 export's spans."""
    import onnx

    int8 = ProbeDetector.from_pretrained(DEFAULT_MODEL, engine="onnx-int8")
    directory = int8.engine.directory
    names = json.loads((directory / META).read_text())["backbone_matmuls"]
    kept = int8_matmuls(directory / MODEL_FP32, names)
    assert len(names) == 42 and len(kept) == 36
    graph = onnx.load(str(directory / MODEL_INT8), load_external_data=False).graph
    assert sum(node.op_type == "MatMulInteger" for node in graph.node) == len(kept)
    found = int8(SENTENCES)
    for text, mentions in zip(SENTENCES, found):
        assert all(text[m.start : m.end] == m.text for m in mentions)
    assert [m.text for m in found[0]] == ["Angela Merkel", "Emmanuel Macron", "Paris"]


@pytest.mark.parametrize(
    "flags,has_openvino,picked",
    [
        ({"avx2", "avx512_bf16", "amx_bf16"}, True, "openvino"),
        ({"avx2", "avx512_bf16", "amx_bf16"}, False, "onnx"),
        ({"avx2", "avx512_bf16"}, True, "openvino"),  # native bf16 without AMX (AMD Zen 4)
        ({"avx2", "avx512_bf16"}, False, "onnx"),
        ({"avx2"}, True, "onnx"),
        (set(), True, "onnx"),  # /proc/cpuinfo unreadable
    ],
)
def test_auto_picks_openvino_on_native_bf16_cpus_only(monkeypatch, flags, has_openvino, picked):
    from tommer.core import cpu, engines

    monkeypatch.setattr(cpu, "cpu_flags", lambda: set(flags))
    monkeypatch.setattr(engines, "openvino_available", lambda: has_openvino)
    assert auto_engine() == picked and native_bf16() == bool(flags & {"avx512_bf16", "amx_bf16"})


def test_auto_on_this_cpu():
    native = bool(cpu_flags() & {"avx512_bf16", "amx_bf16"})
    assert auto_engine() == ("openvino" if native and openvino_available() else "onnx")


ATOL_LOGIT = 1e-2  # padded vs unpadded in bf16: equal on the AMX CPU measured; kernels may block otherwise
# elsewhere. A padding leak moves logits by far more.


@pytest.fixture(scope="module")
def openvino_detector(engine_cache):
    return ProbeDetector.from_pretrained(DEFAULT_MODEL, engine="openvino")


@needs_openvino
def test_openvino_mentions_agree_with_torch_fp32(openvino_detector, fp32_detector):
    """The eligibility rule on a small sample: bf16 (native bf16 CPUs) or fp32, DICE >= 0.99."""
    assert openvino_detector.engine.name == ran_as_openvino()
    got = openvino_detector(SENTENCES, threshold=0.05, batch_size=4)
    ref = fp32_detector(SENTENCES, threshold=0.05, batch_size=4)
    a, b = _keys(got), _keys(ref)
    assert len(b) > len(SENTENCES) and 2 * len(a & b) / (len(a) + len(b)) >= 0.99
    assert [(m.text, m.start, m.end) for m in openvino_detector(SENTENCES[0])] == [
        ("Angela Merkel", 0, 13),
        ("Emmanuel Macron", 18, 33),
        ("Paris", 37, 42),
    ]


@needs_openvino
def test_openvino_pads_batches_to_shape_buckets_and_cuts_the_padding_off(openvino_detector):
    from tommer.core.engines.openvino_engine import bucket
    from tommer.core.windows import collate_arrays

    assert [bucket(b, 5) for b in (1, 2, 3, 5, 8, 9, 17)] == [
        (1, 8),
        (2, 8),
        (4, 8),
        (8, 8),
        (8, 8),
        (16, 8),
        (24, 8),
    ]
    assert bucket(1, 8) == (1, 8) and bucket(1, 9) == (1, 16) and bucket(1, 513) == (1, 520)
    texts = SENTENCES[:3]
    encodings, windows = openvino_detector.preprocess(texts)
    engine = openvino_detector.engine
    ids, mask = collate_arrays(windows, encodings, engine.bos_id, engine.pad_id)
    probs = engine.span_probabilities(ids, mask)
    assert probs.shape == (3, ids.shape[1], ids.shape[1]) and (probs[mask == 0] == 0).all()
    logits = engine.span_logits(ids, mask)
    # fp32 (no native bf16) sums in an order that follows the shape bucket: a few 1e-6 apart on
    # the AVX2-only EPYC (results/engines_amd-epyc-avx2.md: mentions still DICE 1.000)
    atol_prob = 1e-6 if engine.name == "openvino-bf16" else 1e-5
    for k in range(3):  # the same scores alone (another bucket) as in the batch
        n = int(mask[k].sum())
        alone = engine.span_probabilities(ids[k : k + 1, :n], mask[k : k + 1, :n])
        np.testing.assert_allclose(probs[k, :n, :n], alone[0], atol=atol_prob)
        with engine._lock:  # and as the same window run unpadded, at its own shape
            feed = engine.feed(ids[k : k + 1, :n], mask[k : k + 1, :n], None)
            raw = np.array(engine._request.infer(feed)["logits"])
        valid = raw[0] > VALID_FLOOR
        np.testing.assert_array_equal(logits[k, :n, :n] > VALID_FLOOR, valid)
        np.testing.assert_allclose(logits[k, :n, :n][valid], raw[0][valid], atol=ATOL_LOGIT)


@needs_openvino
def test_openvino_config_overrides_reach_the_compiled_model(openvino_detector):
    from tommer.core.engines.openvino_engine import OpenVinoEngine

    engine = OpenVinoEngine(openvino_detector.engine.directory, config={"PERFORMANCE_HINT": "THROUGHPUT"})
    compiled = engine._request.get_compiled_model()
    assert str(compiled.get_property("PERFORMANCE_HINT")) == "THROUGHPUT"  # the default is LATENCY
    default = openvino_detector.engine._request.get_compiled_model()
    assert str(default.get_property("PERFORMANCE_HINT")) == "LATENCY"


@needs_openvino
def test_openvino_model_is_built_once_beside_the_export_and_sealed(openvino_detector):
    directory = openvino_detector.engine.directory
    sealed = json.loads((directory / COMPLETE).read_text())["sha256"]
    assert MODEL_OPENVINO in sealed and WEIGHTS_OPENVINO in sealed
    import openvino

    version = openvino.get_version().split("-")[0]  # e.g. 2026.4.1-20436-... : named by the version
    named = (f"model.ov-{version}.xml", f"model.ov-{version}.bin")
    assert named == (MODEL_OPENVINO, WEIGHTS_OPENVINO)
    assert sorted(p.name for p in directory.glob("model.ov*")) == [WEIGHTS_OPENVINO, MODEL_OPENVINO]
    fp16, fp32 = (directory / WEIGHTS_OPENVINO).stat().st_size, (directory / WEIGHTS_FP32).stat().st_size
    assert fp16 < 0.6 * fp32  # fp16 weights
    before = (directory / WEIGHTS_OPENVINO).stat().st_mtime_ns
    ProbeDetector.from_pretrained(DEFAULT_MODEL, engine="openvino")
    assert (directory / WEIGHTS_OPENVINO).stat().st_mtime_ns == before
    assert not [p for p in directory.iterdir() if ".tmp-" in p.name]


@needs_openvino
def test_each_engine_checks_only_the_files_it_reads(engine_cache, openvino_detector):
    """A load hashes the files its engine reads: a corrupted OpenVINO copy is rebuilt for the openvino
    engine and does not make the onnx engine export again."""
    directory = openvino_detector.engine.directory
    weights = directory / WEIGHTS_OPENVINO
    data = corrupt(weights)
    exported = (directory / MODEL_FP32).stat().st_mtime_ns
    assert is_complete(directory, "onnx") and not is_complete(directory, "openvino")
    assert ProbeDetector.from_pretrained(DEFAULT_MODEL, engine="onnx").engine.directory == directory
    again = ProbeDetector.from_pretrained(DEFAULT_MODEL, engine="openvino")
    assert is_complete(directory, "openvino") and weights.read_bytes() != bytes(data)
    assert (directory / MODEL_FP32).stat().st_mtime_ns == exported  # the fp32 export was kept
    assert again(SENTENCES[:3]) == openvino_detector(SENTENCES[:3])


def test_sealing_new_files_never_approves_a_corrupted_neighbour(tmp_path):
    """seal(names=...) hashes only the files just written: a neighbour corrupted since keeps the
    digest it was sealed with, so it is still refused (and rebuilt by its engine)."""
    from tommer.core.sources import is_sealed, seal

    (tmp_path / "a.bin").write_bytes(b"a" * 100)
    (tmp_path / "b.bin").write_bytes(b"b" * 100)
    seal(tmp_path, "test")
    assert is_sealed(tmp_path)
    (tmp_path / "b.bin").write_bytes(b"x" * 100)  # corrupted since
    (tmp_path / "a.bin").write_bytes(b"A" * 100)  # rebuilt
    (tmp_path / "c.tmp-1").mkdir()
    (tmp_path / "c.tmp-1" / "half").write_bytes(b"?")  # another process's file being written
    seal(tmp_path, "test", ["a.bin"])
    assert is_sealed(tmp_path, ["a.bin"]) and not is_sealed(tmp_path, ["b.bin"])
    seal(tmp_path, "test")  # all files: the temporary folder is left out
    assert is_sealed(tmp_path) and is_sealed(tmp_path, ["b.bin"])
    assert not [name for name in json.loads((tmp_path / COMPLETE).read_text())["sha256"] if "tmp-" in name]


def test_two_processes_on_a_cold_cache_build_the_export_once(isolated_cache):
    """Two processes loading the same model at once (server workers, Ray actors): one builds the
    export while the other waits on its lock, then both load it."""
    code = (
        "import tommer; d = tommer.load(engine='onnx'); "
        "print([m.text for m in d('Angela Merkel met Emmanuel Macron in Paris.')])"
    )
    env = dict(os.environ, TOMMER_CACHE=str(isolated_cache), PYTHONPATH=str(Path(tommer.__file__).parents[1]))
    procs = [
        subprocess.Popen([sys.executable, "-c", code], env=env, stdout=PIPE, stderr=PIPE, text=True)
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in outs]
    assert all("['Angela Merkel', 'Emmanuel Macron', 'Paris']" in out for out, _ in outs)
    assert sum("exporting" in err for _, err in outs) == 1  # built once
    (directory,) = [p for p in (isolated_cache / "engines").iterdir() if p.is_dir()]
    assert is_complete(directory) and not [p for p in directory.iterdir() if ".tmp-" in p.name]


@pytest.mark.skipif(auto_engine() != "openvino", reason="auto does not pick openvino on this CPU")
def test_auto_falls_back_from_openvino_to_onnx(engine_cache, openvino_detector, caplog):
    """An openvino engine that cannot be built (here its model file's path is taken by a folder)
    gives the onnx engine under ``auto``, with a warning, and an error when named."""
    directory = openvino_detector.engine.directory
    target = directory / MODEL_OPENVINO
    saved = target.read_bytes()
    target.unlink()
    target.mkdir()
    try:
        with caplog.at_level("WARNING"):
            detector = ProbeDetector.from_pretrained(DEFAULT_MODEL)
        assert detector.engine.name == "onnx" and "the openvino engine failed" in caplog.text
        assert [m.text for m in detector(SENTENCES[0])] == ["Angela Merkel", "Emmanuel Macron", "Paris"]
        with pytest.raises(TommerError, match="openvino"):
            ProbeDetector.from_pretrained(DEFAULT_MODEL, engine="openvino")
    finally:
        target.rmdir()
        target.write_bytes(saved)
