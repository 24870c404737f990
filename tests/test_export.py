"""asrtl.export: exported models (onnxruntime, TorchScript) give PyTorch's log-probabilities on
the shared real clips, batched with padding; a layer that does not export is named."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from asrtl.api import ASRModel
from asrtl.data.vocab import Vocabulary
from asrtl.export import ExportError, export_model, max_abs_diff, onnx_session, run_onnx
from asrtl.models.ctc import CTCModel, ModelConfig
from tests.conftest import TINY_MODEL

TOLERANCE = 1e-4  # max |log-prob difference| over valid frames
BATCH_CLIPS = 8


def _asr(path: Path, encoder: str = "conformer", seed: int = 0) -> ASRModel:
    """A tiny CTC model with random weights, as :func:`asrtl.api.load_model` returns one."""
    torch.manual_seed(seed)
    vocab = Vocabulary.from_texts(["the quick brown fox jumps over the lazy dog"])
    model = CTCModel(ModelConfig(**TINY_MODEL, encoder=encoder, vocab_size=len(vocab)))
    return ASRModel(model, vocab, "english", path, None, torch.device("cpu"))


def _padded(paths: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """The clips read in place, zero-padded: ``(wavs (B, S) float32, wav_lens (B,))``."""
    audio = []
    for p in paths:
        samples, rate = sf.read(p, dtype="float32")
        assert rate == 16000 and samples.ndim == 1, p
        audio.append(samples)
    wavs = np.zeros((len(audio), max(len(a) for a in audio)), dtype=np.float32)
    for i, a in enumerate(audio):
        wavs[i, :len(a)] = a
    return torch.from_numpy(wavs), torch.tensor([len(a) for a in audio])


def _eager(asr: ASRModel, wavs: torch.Tensor, lens: torch.Tensor):
    with torch.no_grad():
        return asr.model(*asr.fbank(wavs, lens))


@pytest.fixture(scope="module")
def asr(tmp_path_factory) -> ASRModel:
    return _asr(tmp_path_factory.mktemp("ckpt"))


@pytest.fixture(scope="module")
def onnx_dir(asr, tmp_path_factory) -> Path:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    out = tmp_path_factory.mktemp("export")
    export_model(asr, out, "onnx")
    return out


@pytest.fixture(scope="module")
def clips(shared_clips) -> list[str]:
    """Clips of different lengths, the shortest and the longest among them."""
    by_length = sorted(shared_clips, key=lambda r: float(r["duration_s"]))
    step = max(1, len(by_length) // (BATCH_CLIPS - 1))
    chosen = [*by_length[::step][:BATCH_CLIPS - 1], by_length[-1]]
    return [r["abspath"] for r in chosen]


def _check_onnx(asr: ASRModel, session, wavs: torch.Tensor, lens: torch.Tensor) -> None:
    ref, ref_lens = _eager(asr, wavs, lens)
    out, out_lens = run_onnx(session, wavs, lens)
    assert out.shape == tuple(ref.shape)
    assert out_lens.tolist() == ref_lens.tolist()
    assert max_abs_diff(out, ref, ref_lens) < TOLERANCE


def test_onnx_matches_pytorch_one_clip_at_a_time(asr, onnx_dir, clips):
    session = onnx_session(onnx_dir / "model.onnx")
    for path in (clips[0], clips[-1]):  # shortest and longest, batch size 1
        _check_onnx(asr, session, *_padded([path]))


def test_onnx_matches_pytorch_on_a_padded_batch(asr, onnx_dir, clips):
    wavs, lens = _padded(clips)
    assert len(set(lens.tolist())) == len(clips)  # every clip padded but the longest
    _check_onnx(asr, onnx_session(onnx_dir / "model.onnx"), wavs, lens)


def test_export_json_describes_the_graph(asr, onnx_dir):
    info = json.loads((onnx_dir / "export.json").read_text())
    session = onnx_session(onnx_dir / "model.onnx")
    assert [i["name"] for i in info["inputs"]] == [i.name for i in session.get_inputs()]
    assert [o["name"] for o in info["outputs"]] == [o.name for o in session.get_outputs()]
    assert [i.shape for i in session.get_inputs()] == [["batch", "samples"], ["batch"]]
    assert session.get_outputs()[0].shape == ["batch", "frames", len(asr.vocab)]
    assert info["vocab"] == asr.vocab.tokens and info["vocab"][info["blank"]] == "<blank>"
    assert info["frame_shift_s"] == pytest.approx(0.04) and info["sample_rate"] == 16000
    assert info["features"]["in_graph"] is True
    assert info["formats"]["onnx"]["max_abs_diff_vs_torch"] < TOLERANCE


def test_onnx_from_features(asr, tmp_path, clips):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    info = export_model(asr, tmp_path, "onnx", inputs="features")
    assert info["inputs"][0]["name"] == "feats" and info["features"]["in_graph"] is False
    with torch.no_grad():
        feats, feat_lens = asr.fbank(*_padded(clips[:4]))
        ref, ref_lens = asr.model(feats, feat_lens)
    out, out_lens = run_onnx(onnx_session(tmp_path / "model.onnx"), feats, feat_lens)
    assert out_lens.tolist() == ref_lens.tolist()
    assert max_abs_diff(out, ref, ref_lens) < TOLERANCE


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated")
def test_torchscript_matches_pytorch(asr, tmp_path, clips):
    export_model(asr, tmp_path, "torchscript")
    traced = torch.jit.load(str(tmp_path / "model.pt"))
    wavs, lens = _padded(clips)
    ref, ref_lens = _eager(asr, wavs, lens)
    with torch.no_grad():
        out, out_lens = traced(wavs, lens)
    assert out_lens.tolist() == ref_lens.tolist()
    assert max_abs_diff(out, ref, ref_lens) < TOLERANCE


def test_both_formats_share_export_json(asr, onnx_dir):
    info = export_model(asr, onnx_dir, "torchscript")
    assert set(info["formats"]) == {"onnx", "torchscript"}
    assert json.loads((onnx_dir / "export.json").read_text())["formats"] == info["formats"]


def test_export_json_forgets_another_models_files(asr, tmp_path):
    (tmp_path / "model.onnx").write_bytes(b"another model")
    (tmp_path / "export.json").write_text(json.dumps({
        "checkpoint": str(asr.path), "weights_sha256": "0" * 64, "input": "waveform",
        "formats": {"onnx": {"file": "model.onnx"}}}))
    info = export_model(asr, tmp_path, "torchscript")
    assert set(info["formats"]) == {"torchscript"}
    assert not (tmp_path / "model.onnx").exists()


def test_an_unexportable_layer_is_named(tmp_path):
    pytest.importorskip("onnxscript")
    with pytest.raises(ExportError, match=r"^layer encoder\.layers\.0 \(LSTMLayer\) does not "
                                          r"export to onnx: \S"):
        export_model(_asr(tmp_path, encoder="lstm"), tmp_path / "lstm", "onnx")
    assert not list((tmp_path / "lstm").iterdir())  # nothing half-written


def test_a_layer_with_an_op_onnx_lacks_is_named(tmp_path, monkeypatch):
    pytest.importorskip("onnxscript")
    asr = _asr(tmp_path)
    layer = asr.model.encoder.layers[1]
    forward = layer.forward
    monkeypatch.setattr(layer, "forward",
                        lambda x, mask: forward(x, mask) + torch.cummax(x, 0).values)
    with pytest.raises(ExportError) as e:
        export_model(asr, tmp_path / "out", "onnx")
    message = str(e.value)
    assert message.startswith("layer encoder.layers.1 (MaskedConformerLayer)")
    assert "cummax" in message and "\n" not in message


def test_bad_format_and_input_are_refused(asr, tmp_path):
    with pytest.raises(ValueError, match="format must be one of onnx, torchscript"):
        export_model(asr, tmp_path, "tflite")
    with pytest.raises(ValueError, match="input must be one of waveform, features"):
        export_model(asr, tmp_path, "torchscript", inputs="mfcc")
