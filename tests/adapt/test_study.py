"""The speakers x k study of speaker adaptation, on a tiny untrained model and a few tones
written to disk (no synthesis), and its summary on made-up rows."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch
from lhotse import CutSet, Recording, SupervisionSegment
from lhotse.utils import fastcopy

from asrtl.adapt.config import AdaptConfig
from asrtl.adapt.study import adapt_speakers, spread, summary, wer_cer
from asrtl.data.vocab import Vocabulary
from asrtl.eval.evaluate import decode_cuts
from asrtl.eval.score import score
from asrtl.models.ctc import CTCModel, ModelConfig
from asrtl.models.factory import input_transform
from asrtl.train.checkpoint import Checkpoint

CPU = torch.device("cpu")
TEXTS = ["ab ba", "abc", "c a b", "ba"]


@pytest.fixture(scope="module")
def tones(tmp_path_factory) -> CutSet:
    """Two speakers with four short tones each, transcribed with a few letters."""
    root = tmp_path_factory.mktemp("tones")
    cuts = []
    for s, spk in enumerate(["spk1", "spk2"]):
        for i, text in enumerate(TEXTS):
            t = np.arange(8000 + 800 * i) / 16000
            path = root / f"{spk}_{i}.wav"
            sf.write(path, (0.3 * np.sin(2 * np.pi * (200 + 100 * s + 50 * i) * t)
                            ).astype(np.float32), 16000)
            rec = Recording.from_file(path, recording_id=f"{spk}_{i}")
            sup = SupervisionSegment(id=rec.id, recording_id=rec.id, start=0.0,
                                     duration=rec.duration, text=text, speaker=spk)
            cuts.append(fastcopy(rec.to_cut(), id=rec.id, supervisions=[sup]))
    return CutSet.from_cuts(cuts)


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Checkpoint:
    vocab = Vocabulary.from_texts(TEXTS)
    torch.manual_seed(0)
    model = CTCModel(ModelConfig(name="tiny", dim=48, num_layers=2, heads=2, ffn_dim=96,
                                 vocab_size=len(vocab)))
    return Checkpoint(tmp_path_factory.mktemp("base"), model.eval(), vocab)


def test_wer_cer_are_the_validation_scores(base, tones):
    """The same greedy decoding and corpus-level scores as the copy the recipe held."""
    out = decode_cuts(base.model, input_transform(base.model.cfg), base.vocab, tones, CPU)
    ref = score(out.refs, out.hyps)
    assert wer_cer(base.model, base.vocab, tones, CPU) == {"wer": round(ref["wer"], 4),
                                                           "cer": round(ref["cer"], 4)}


def test_every_speaker_and_k_adapts_apart_from_its_evaluation(base, tones, tmp_path):
    method = AdaptConfig.from_dict({"steps": 2, "spec_augment": False}, name="lhuc")
    before = {k: v.clone() for k, v in base.model.state_dict().items()}
    rows = adapt_speakers(base, tones, ["spk1", "spk2"], [1, 2], method, tmp_path, CPU)
    assert [(r["speaker"], r["k"], r["eval_utts"], r["steps"]) for r in rows] == [
        ("spk1", 1, 2, 2), ("spk1", 2, 2, 2), ("spk2", 1, 2, 2), ("spk2", 2, 2, 2)]
    for k, v in base.model.state_dict().items():
        assert torch.equal(v, before[k]), k  # copies adapt, never the base model
    evals = {}
    for r in rows:
        assert r["dir"] == f"{r['speaker']}/k{r['k']}"
        meta = json.loads((tmp_path / r["dir"] / "adapted.json").read_text())
        assert meta["speaker"] == r["speaker"] and meta["method"] == "lhuc"
        assert meta["base_checkpoint"] == str(base.path)
        assert len(meta["adapt_ids"]) == r["k"]
        assert not set(meta["adapt_ids"]) & set(meta["eval_ids"])
        assert all(i.startswith(r["speaker"]) for i in meta["adapt_ids"] + meta["eval_ids"])
        evals.setdefault(r["speaker"], set()).add(tuple(meta["eval_ids"]))
        assert set(r["before"]) == set(r["after"]) == {"wer", "cer"}
    assert all(len(e) == 1 for e in evals.values())  # one evaluation set per speaker
    assert rows[0]["before"] == rows[1]["before"]  # scored once per speaker
    with pytest.raises(ValueError, match="needs at least 5"):
        adapt_speakers(base, tones, ["spk1"], [4], method, tmp_path / "x", CPU)


def test_summary_spreads_each_k_over_speakers():
    rows = [{"k": 1, "before": {"wer": 0.5, "cer": 0.2}, "after": {"wer": 0.4, "cer": 0.1}},
            {"k": 1, "before": {"wer": 0.7, "cer": 0.4}, "after": {"wer": 0.5, "cer": 0.3}},
            {"k": 5, "before": {"wer": 0.5, "cer": 0.2}, "after": {"wer": 0.1, "cer": 0.05}}]
    out = summary(rows, [1, 5])
    assert out[1]["before"]["wer"] == {"mean": 0.6, "min": 0.5, "max": 0.7}
    assert out[1]["after"]["cer"] == {"mean": 0.2, "min": 0.1, "max": 0.3}
    assert out[5]["after"]["wer"] == {"mean": 0.1, "min": 0.1, "max": 0.1}
    assert list(out[1]) == ["before", "after"] and list(out[1]["before"]) == ["wer", "cer"]
    with pytest.raises(ValueError, match="no adaptation with k=2"):
        spread(rows, 2, "after", "wer")


def test_a_rerun_reuses_finished_adaptations_and_a_signal_stops_between_them(
        base, tones, tmp_path, monkeypatch):
    import os
    import signal
    import threading

    from asrtl.adapt import study
    from asrtl.train.signals import Interrupted

    assert threading.current_thread() is threading.main_thread()  # signals reach the test
    method = AdaptConfig.from_dict({"steps": 2, "spec_augment": False}, name="lhuc")
    calls = []
    real = study.adapt

    def adapt_then_sigterm(*args, **kwargs):
        calls.append(args[2])
        if len(calls) == 1:  # as a cluster pre-empting the job during the first adaptation
            os.kill(os.getpid(), signal.SIGTERM)
        return real(*args, **kwargs)

    monkeypatch.setattr(study, "adapt", adapt_then_sigterm)
    with pytest.raises(Interrupted, match="after 1 of 4 adaptations .* run the same command"):
        adapt_speakers(base, tones, ["spk1", "spk2"], [1, 2], method, tmp_path, CPU)
    first = tmp_path / "spk1" / "k1" / "adapted.safetensors"
    assert first.is_file() and not (tmp_path / "spk1" / "k2").exists()
    stamp = first.stat().st_mtime_ns
    rows = adapt_speakers(base, tones, ["spk1", "spk2"], [1, 2], method, tmp_path, CPU)
    assert len(calls) == 4 and first.stat().st_mtime_ns == stamp  # the finished one reused
    again = adapt_speakers(base, tones, ["spk1", "spk2"], [1, 2], method, tmp_path, CPU)
    assert again == rows and len(calls) == 4
    other = AdaptConfig.from_dict({"steps": 3, "spec_augment": False}, name="lhuc")
    redone = adapt_speakers(base, tones, ["spk1"], [1], other, tmp_path, CPU)
    assert len(calls) == 5 and redone[0]["steps"] == 3  # other settings: adapted anew
