"""The Python API (``from asrtl import load_model``): the same text as recipes/decode.py, arrays
as files, resampling and down-mixing, word timestamps, clear errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from lhotse import CutSet, Recording
from scipy.signal import resample_poly

from asrtl import load_model
from asrtl.api import _cut
from asrtl.data.audio import load_audio
from asrtl.data.vocab import Vocabulary
from asrtl.eval.align import word_timestamps
from asrtl.models.ctc import CTCModel, ModelConfig
from asrtl.train.checkpoint import save_checkpoint
from tests.conftest import _run
from tests.helpers import fake_multilingual


@pytest.fixture(scope="module")
def run(api_run) -> Path:
    return api_run


@pytest.fixture(scope="module")
def model(run):
    return load_model(run, device="cpu")


@pytest.fixture(scope="module")
def jfk(shared_clips) -> tuple[str, np.ndarray, int]:
    row = next(r for r in shared_clips if r["utt_id"] == "jfk_1")
    samples, sr = sf.read(row["abspath"], dtype="float32")
    return row["abspath"], samples, sr


def _hyps(path: Path) -> dict[str, str]:
    return dict(line.split("\t", 1) for line in path.read_text(encoding="utf-8").splitlines())


@pytest.mark.learning
def test_same_text_as_the_decode_recipe(run, model, cache_dir):
    for decode, out in (("greedy", "test"), ("beam", "test-beam")):
        shutil.rmtree(run / "results" / out)  # written by pretrain.py: decode.py rewrites it
        res = _run("decode", f"checkpoint={run}", f"decode={decode}", "beam_size=8",
                   cache=cache_dir)
        assert res.returncode == 0, res.stderr[-2000:]
        want = _hyps(run / "results" / out / "hyps.txt")
        cuts = CutSet.from_file(Path(model.meta.corpus["dir"]) / "test_cuts.jsonl.gz")
        ids = [c.id for c in cuts]
        got = model.transcribe([c.recording.sources[0].source for c in cuts], decode=decode,
                               beam_size=8)
        assert len(got) == len(ids) == 24
        assert [r.text for r in got] == [want[i] for i in ids], decode
        assert sum(bool(t) for t in want.values()) >= 12, "the model should emit text"


def test_real_clips_8khz_and_stereo_files_as_the_data_layer_reads_them(run, model, cache_dir,
                                                                       shared_clips, jfk,
                                                                       tmp_path):
    """recipes/decode.py on a Kaldi dir (real clips, an 8 kHz copy and a 44.1 kHz stereo FLAC
    copy of one) and ``transcribe`` of the same files: the same text, lexicon-free beam."""
    _, x, sr = jfk
    eight, stereo = tmp_path / "jfk-8k.wav", tmp_path / "jfk-stereo.flac"
    sf.write(eight, resample_poly(x, 1, 2).astype(np.float32), 8000, subtype="PCM_16")
    y = resample_poly(x, 441, 160).astype(np.float32)
    sf.write(stereo, np.stack([y, 0.5 * y], axis=1), 44100)
    files = {r["utt_id"]: r["abspath"] for r in shared_clips if r["language"] == "en"}
    files.update({"jfk-8k": str(eight), "jfk-stereo": str(stereo)})
    kaldi = tmp_path / "kaldi"
    kaldi.mkdir()
    (kaldi / "wav.scp").write_text("".join(f"{u} {p}\n" for u, p in files.items()))
    (kaldi / "text").write_text("".join(f"{u} and so my fellow\n" for u in files))
    (kaldi / "utt2spk").write_text("".join(f"{u} {u}\n" for u in files))
    res = _run("decode", f"checkpoint={run}", "data=kaldi", f"data.path={kaldi}",
               "language=english", "split=all", "decode=beam", "lexicon=none", "beam_size=8",
               cache=cache_dir)
    assert res.returncode == 0, res.stderr[-2000:]
    want = _hyps(run / "results" / "kaldi-english-all-beam" / "hyps.txt")
    got = model.transcribe(list(files.values()), decode="beam", lexicon=None, beam_size=8)
    assert [r.text for r in got] == [want[u] for u in files]
    # batching does not change a transcript
    small = model.transcribe(list(files.values()), decode="beam", lexicon="none", beam_size=8,
                             batch_duration_s=5)
    assert [r.text for r in small] == [r.text for r in got]


def test_arrays_as_files_resampled_and_down_mixed(model, jfk, tmp_path):
    path, x, sr = jfk
    ref = model.transcribe(path)[0]
    assert ref.duration_s == pytest.approx(11.0)
    assert model.transcribe(x, sample_rate=sr)[0] == ref
    assert model.transcribe([torch.from_numpy(np.stack([x, x]))], sample_rate=sr)[0] == ref
    assert model.transcribe(np.stack([x, x], axis=1), sample_rate=sr)[0] == ref  # (S, C)
    # 8 kHz samples: resampled exactly as the data layer resamples an 8 kHz file
    x8 = resample_poly(x, 1, 2).astype(np.float32)
    f8 = tmp_path / "jfk-8k.wav"
    sf.write(f8, x8, 8000, subtype="FLOAT")
    from_array = load_audio(_cut(x8, 0, 8000))
    from_file = load_audio(Recording.from_file(f8).to_cut())
    assert from_array.shape == (16000 * 11,) and np.array_equal(from_array, from_file)
    assert model.transcribe(x8, sample_rate=8000)[0] == model.transcribe(f8)[0]


@pytest.mark.learning
def test_word_timestamps_on_real_clips(model, shared_clips):
    """Real clips (out of the model's domain: it may well hear nothing in them) and the
    model's own test utterances (where the API run emits text by construction): words and
    times in order, within the audio."""
    cuts = CutSet.from_file(Path(model.meta.corpus["dir"]) / "test_cuts.jsonl.gz")
    own = [{"path": c.id, "abspath": c.recording.sources[0].source,
            "duration_s": c.recording.duration} for c in list(cuts)[:8]]
    rows = [*shared_clips, *own]
    for decode in ("greedy", "beam"):
        results = model.transcribe([r["abspath"] for r in rows], decode=decode, lexicon=None,
                                   beam_size=8)
        assert len(results) == len(rows)
        for row, r in zip(rows, results, strict=True):
            assert r.duration_s == pytest.approx(float(row["duration_s"]), abs=2e-3)
            assert [w for w, _, _ in r.words] == r.text.split()
            times = [t for _, s, e in r.words for t in (s, e)]
            assert times == sorted(times), (row["path"], r.words)
            assert all(0 <= t <= r.duration_s for t in times), (row["path"], r.words)
        assert any(r.words for r in results[len(shared_clips):]), decode


def test_word_timestamps_follow_the_frames():
    vocab = Vocabulary.from_texts(["ab c"])  # <blank> <unk> | a b c
    path = [0, 3, 3, 4, 0, 2, 5, 5, 0, 0]  # frames: a a b _ | c c _ _
    log_probs = torch.nn.functional.one_hot(torch.tensor(path), len(vocab)).float()
    log_probs = (10 * log_probs).log_softmax(-1)
    words = word_timestamps(log_probs, "ab c", vocab, 0.04)
    assert [w for w, _, _ in words] == ["ab", "c"]
    assert [t for _, s, e in words for t in (s, e)] == pytest.approx([0.04, 0.16, 0.24, 0.32])
    assert word_timestamps(log_probs, "ab c", vocab, 0.04, duration_s=0.3)[-1][2] == 0.3
    assert word_timestamps(log_probs, "", vocab, 0.04) == []
    with pytest.raises(ValueError, match="cannot align"):
        word_timestamps(log_probs, "ab ab ab ab", vocab, 0.04)


def test_bad_inputs_raise_clear_errors(run, model, jfk, tmp_path):
    path, x, sr = jfk
    not_audio = tmp_path / "notes.wav"
    not_audio.write_text("not audio")
    header_only = tmp_path / "header.wav"
    sf.write(header_only, np.zeros(0, np.float32), 16000)
    cases = [
        (lambda: model.transcribe([path, str(tmp_path / "missing.wav")]), FileNotFoundError,
         "audio file not found: " + str(tmp_path / "missing.wav")),
        (lambda: model.transcribe(not_audio), ValueError, f"cannot read audio file {not_audio}"),
        (lambda: model.transcribe(header_only), ValueError, f"{header_only} holds no samples"),
        (lambda: model.transcribe(tmp_path), ValueError, f"not an audio file: {tmp_path}"),
        (lambda: model.transcribe(np.zeros(0, np.float32), sample_rate=sr), ValueError,
         "input 0 is an empty array"),
        (lambda: model.transcribe([path, x]), ValueError, "input 1 is an array of samples: "
         "give sample_rate="),
        (lambda: model.transcribe(np.zeros((4, 4), np.float32), sample_rate=sr), ValueError,
         "ambiguous shape (4, 4)"),
        (lambda: model.transcribe(np.zeros((2, 3, 800), np.float32), sample_rate=sr),
         ValueError, "got shape (2, 3, 800)"),
        (lambda: model.transcribe((x * 32767).astype(np.int16), sample_rate=sr), ValueError,
         "floats in [-1, 1], got dtype int16"),
        (lambda: model.transcribe(x, sample_rate=0), ValueError, "sample_rate must be"),
        (lambda: model.transcribe(np.full(800, np.nan, np.float32), sample_rate=sr), ValueError,
         "NaN"),
        (lambda: model.transcribe(42), ValueError, "got int"),
        (lambda: model.transcribe(x, sample_rate=sr, decode="viterbi"), ValueError,
         "decode must be greedy or beam"),
        (lambda: model.transcribe(x, sample_rate=sr, decode="beam", lexicon=tmp_path / "w.txt"),
         FileNotFoundError, f"lexicon word list not found: {tmp_path / 'w.txt'}"),
        (lambda: load_model(tmp_path / "nowhere"), FileNotFoundError,
         f"no asrtl checkpoint at {tmp_path / 'nowhere'}"),
        (lambda: load_model(path), FileNotFoundError, f"no asrtl checkpoint at {path}"),
        (lambda: load_model(run, language="bengali"), ValueError,
         "transcribes 'turkish', not 'bengali'"),
        (lambda: load_model(run, device="tpu"), ValueError, "device must be"),
    ]
    for call, error, message in cases:
        with pytest.raises(error) as info:
            call()
        assert message in str(info.value), (message, str(info.value))
        assert info.value.__cause__ is None or isinstance(info.value.__cause__, ValueError)


def test_multilingual_checkpoint_needs_a_language(jfk, tmp_path):
    _, x, sr = jfk
    ckpt = fake_multilingual(tmp_path / "checkpoints")
    with pytest.raises(ValueError, match="is multilingual: give language= one of a, b"):
        load_model(ckpt)
    with pytest.raises(ValueError, match=r"one of a, b \(not 'c'\)"):
        load_model(tmp_path, language="c")
    m = load_model(tmp_path, device="cpu", language="b")
    assert m.language == "b" and m.vocab.tokens[3:] == ["x", "y", "z"]
    r = m.transcribe(x, sample_rate=sr)[0]
    assert set(r.text) <= set("xyz ") and r.duration_s == pytest.approx(11.0)
    with pytest.raises(FileNotFoundError, match="training manifest is gone"):
        m.transcribe(x, sample_rate=sr, decode="beam")
    beam = m.transcribe(x, sample_rate=sr, decode="beam", lexicon=["xy", "zz"])[0]
    assert set(beam.text.split()) <= {"xy", "zz"}


def test_a_lid_checkpoint_is_refused(tmp_path):
    save_checkpoint(tmp_path, "step-000001", CTCModel(ModelConfig(name="tiny", dim=32,
                                                                  num_layers=1, heads=2,
                                                                  ffn_dim=64, vocab_size=6)),
                    {"kind": "lid", "languages": ["a", "b"]})
    with pytest.raises(ValueError, match="is a lid model, not a CTC acoustic model"):
        load_model(tmp_path / "step-000001")


def test_transcript_to_dict_is_json(model, jfk):
    path, _, _ = jfk
    d = model.transcribe(path)[0].to_dict()
    assert set(d) == {"text", "duration_s", "words"}
    assert json.loads(json.dumps(d)) == d
