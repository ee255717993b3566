"""The spaCy component on the real default model: registration, spans, scores, batching, displaCy."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

spacy = pytest.importorskip("spacy", reason="spaCy not installed (pip install 'tommer[spacy]')")

from spacy import displacy  # noqa: E402

from tommer.data.mention import Mention  # noqa: E402
from tommer.errors import TommerError  # noqa: E402
from tommer.integrations.spacy_component import TommerComponent, UnalignedMentionWarning  # noqa: E402

SENTENCE = "Angela Merkel met Emmanuel Macron in Paris."
TEXTS = [
    SENTENCE,
    "",
    "Barack Obama visited Berlin and the Brandenburg Gate.",
    "Apple's iPhone and (EU rules) were discussed in São Paulo.",
    "x",
]


@pytest.fixture(scope="module")
def nlp():
    nlp = spacy.blank("en")
    nlp.add_pipe("tommer", config={"decoding": "nested"})
    return nlp


@pytest.fixture(scope="module")
def component(nlp) -> TommerComponent:
    return nlp.get_pipe("tommer")


def group_rows(doc, key="mentions"):
    group = doc.spans[key]
    return [
        (s.start_char, s.end_char, s.label_, score, tuple(offsets))
        for s, score, offsets in zip(group, group.attrs["scores"], group.attrs["char_offsets"])
    ]


def test_spans_match_the_detector(nlp, component):
    doc = nlp(SENTENCE)
    mentions = component.detector(SENTENCE, decoding="nested")
    assert group_rows(doc) == [(m.start, m.end, "MENTION", m.score, (m.start, m.end)) for m in mentions]
    assert {"Angela Merkel", "Paris"} <= {s.text for s in doc.spans["mentions"]}
    assert doc.spans["mentions"].attrs["unaligned"] == []


def test_pipe_batches_docs_through_the_detector_together(nlp, component, monkeypatch):
    calls = []
    real = component.detector

    class Counting:
        config = real.config

        def __call__(self, texts, **options):
            calls.append(len(texts))
            return real(texts, **options)

    expected = [group_rows(nlp(t)) for t in TEXTS]
    monkeypatch.setattr(component, "detector", Counting())
    docs = list(nlp.pipe(TEXTS, batch_size=2))
    assert calls == [2, 2, 1]
    assert [d.text for d in docs] == TEXTS
    assert [group_rows(d) for d in docs] == expected
    assert sum(len(r) for r in expected) > 4 and expected[1] == []


def test_spans_follow_spacy_tokens_with_en_core_web_sm():
    from tommer.evaluation.evaluation import load_spacy

    try:
        nlp = load_spacy()
    except TommerError as err:
        pytest.skip(str(err))
    nlp.add_pipe("tommer", config={"spans_key": "tommer", "label": "ENT"})
    doc = nlp(TEXTS[3])
    group = doc.spans["tommer"]
    assert len(group) > 0 and "mentions" not in doc.spans
    assert len(doc.ents) > 0  # the NER still ran
    for span, (start, end) in zip(group, group.attrs["char_offsets"]):
        assert span.label_ == "ENT"
        # "expand": the span covers whole spaCy tokens and contains the exact mention
        assert span.start_char <= start < end <= span.end_char
        assert doc[span.start].idx <= start and doc[span.end - 1].idx + len(doc[span.end - 1]) >= end
    assert "São Paulo" in {s.text for s in group}


def test_alignment_expand_and_unaligned_mentions_are_kept():
    nlp = spacy.blank("en")
    doc = nlp.make_doc("Angela Merkel met Emmanuel Macron.")
    inside = Mention(2, 10, "gela Mer", 0.6)
    exact = Mention(18, 33, "Emmanuel Macron", 0.9)
    expand = TommerComponent(nlp, model="smollm2-135m")
    group = expand.set_mentions(doc, [inside, exact])
    assert [s.text for s in group] == ["Angela Merkel", "Emmanuel Macron"]
    assert group.attrs["char_offsets"] == [[2, 10], [18, 33]] and group.attrs["scores"] == [0.6, 0.9]

    strict = TommerComponent(nlp, model="smollm2-135m", alignment_mode="strict", spans_key="strict")
    with pytest.warns(UnalignedMentionWarning, match="1 mention"):
        group = strict.set_mentions(doc, [inside, exact])
    assert [s.text for s in group] == ["Emmanuel Macron"]
    assert group.attrs["unaligned"] == [inside.to_dict()]


def test_typed_mentions_use_their_label():
    nlp = spacy.blank("en")
    doc = nlp.make_doc("Angela Merkel met Emmanuel Macron.")
    comp = TommerComponent(nlp, model="smollm2-135m")
    typed = Mention(0, 13, "Angela Merkel", 0.9, label="person", label_score=0.8)
    group = comp.set_mentions(doc, [typed, Mention(18, 26, "Emmanuel", 0.7)])
    assert [s.label_ for s in group] == ["person", "MENTION"]
    assert group.attrs["label_scores"] == [0.8, None]


def test_displacy_renders_the_spans(nlp):
    doc = nlp(SENTENCE)
    html = displacy.render(doc, style="span", options={"spans_key": "mentions"}, jupyter=False)
    assert "Merkel" in html and "MENTION" in html


@pytest.mark.parametrize(
    "config, message",
    [
        ({"decoding": "greedy"}, "greedy"),
        ({"threshold": 1.5}, "threshold"),
        ({"batch_size": 0}, "batch_size"),
        ({"alignment_mode": "loose"}, "alignment_mode"),
        ({"spans_key": ""}, "spans_key"),
        ({"model": "no-such-model"}, "no-such-model"),
    ],
)
def test_bad_config_is_a_clear_error(config, message):
    with pytest.raises(TommerError, match=message):
        spacy.blank("en").add_pipe("tommer", config=config)


def test_labels_are_checked_and_passed_to_the_detector():
    nlp = spacy.blank("en")
    with pytest.raises(TommerError, match="labels must be a list of strings"):
        TommerComponent(nlp, model="smollm2-135m", labels="person")
    config = {"model": "smollm2-135m-types", "labels": ["person", "city"]}
    component = nlp.add_pipe("tommer", config=config)
    assert component.labels == ("person", "city", "MENTION")
    assert nlp.pipe_labels["tommer"] == ["person", "city", "MENTION"]
    doc = nlp(SENTENCE)  # smollm2-135m-types ships a zero-shot type head
    spans = doc.spans["mentions"]
    assert {s.label_ for s in spans} <= {"person", "city"}
    # not "Angela Merkel": the shipped head types text-initial mentions badly (results/typed/NOTES.md)
    assert "Emmanuel Macron" in [s.text for s in spans if s.label_ == "person"]
    assert len(spans.attrs["label_scores"]) == len(spans)


def test_to_disk_and_from_disk_round_trip(nlp, tmp_path):
    nlp.to_disk(tmp_path / "pipeline")
    assert (tmp_path / "pipeline" / "tommer" / "model" / "model.safetensors").is_file()
    loaded = spacy.load(tmp_path / "pipeline")
    assert loaded.pipe_names == ["tommer"]
    assert loaded.get_pipe("tommer").cfg == nlp.get_pipe("tommer").cfg
    assert loaded.meta["labels"]["tommer"] == ["MENTION"]
    assert group_rows(loaded(SENTENCE)) == group_rows(nlp(SENTENCE))
    again = spacy.blank("en")
    again.add_pipe("tommer", config={"decoding": "nested"})
    again.from_bytes(nlp.to_bytes())
    assert group_rows(again(SENTENCE)) == group_rows(nlp(SENTENCE))


def test_factory_is_registered_by_entry_point_without_importing_tommer():
    code = textwrap.dedent(
        """
        import sys
        import spacy
        nlp = spacy.blank("en")
        nlp.add_pipe("tommer")
        doc = nlp("Angela Merkel met Emmanuel Macron in Paris.")
        print(sorted({s.text for s in doc.spans["mentions"]}))
        """
    )
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "'Angela Merkel'" in proc.stdout


def test_component_batch_size_default_is_the_detector_default():
    import inspect

    from tommer.core.detector import BATCH_SIZE
    from tommer.integrations import spacy_component

    default = inspect.signature(spacy_component.TommerComponent).parameters["batch_size"].default
    assert default == BATCH_SIZE
