"""The wav2vec 2.0 family: presets equal torchaudio's builders, weights in every supported
format load back under our names with the same outputs, and bad weights are one-line errors."""

from __future__ import annotations

import argparse
import dataclasses
import json
import re

import pytest
import torch
import torchaudio
import yaml
from safetensors.torch import save_file

from asrtl.models.ctc import ModelConfig
from asrtl.models.factory import build_model, input_transform
from asrtl.models.layers import resolve_layers
from asrtl.models.ssl import Wav2Vec2CTC, time_mask
from asrtl.models.ssl_weights import config_from_huggingface, is_ssl_weights, load_ssl_encoder
from asrtl.transfer.copy import copy_layers
from tests.conftest import REPO
from tests.helpers import hf_config, hf_names

BUILDERS = {"wav2vec2_base": torchaudio.models.wav2vec2_base,
            "xlsr_300m": torchaudio.models.wav2vec2_xlsr_300m,
            "xlsr_1b": torchaudio.models.wav2vec2_xlsr_1b,
            "hubert_base": torchaudio.models.hubert_base,
            "hubert_large": torchaudio.models.hubert_large,
            "wavlm_base": torchaudio.models.wavlm_base,
            "wavlm_large": torchaudio.models.wavlm_large}


def preset(name: str, **over) -> ModelConfig:
    return ModelConfig.from_dict({**yaml.safe_load((REPO / "conf" / "model" /
                                                    f"{name}.yaml").read_text()), **over})


TINY = preset("wav2vec2_tiny", dropout=0.0, mask_time_prob=0.0)


def torchaudio_tiny(seed: int = 0, **over) -> torch.nn.Module:
    """A torchaudio wav2vec2 of the tiny preset's architecture, random weights."""
    torch.manual_seed(seed)
    cfg = {**TINY.to_dict(), **over}
    return torchaudio.models.wav2vec2_model(
        extractor_mode=cfg["extractor_mode"],
        extractor_conv_layer_config=[list(c) for c in cfg["conv_layers"]],
        extractor_conv_bias=cfg["conv_bias"], encoder_embed_dim=cfg["dim"],
        encoder_projection_dropout=0.0, encoder_pos_conv_kernel=cfg["pos_conv_kernel"],
        encoder_pos_conv_groups=cfg["pos_conv_groups"], encoder_num_layers=cfg["num_layers"],
        encoder_num_heads=cfg["heads"], encoder_attention_dropout=0.0,
        encoder_ff_interm_features=cfg["ffn_dim"], encoder_ff_interm_dropout=0.0,
        encoder_dropout=0.0, encoder_layer_norm_first=cfg["layer_norm_first"],
        encoder_layer_drop=0.0, aux_num_out=12).eval()


LAYER = r"encoder\.transformer\.layers\.(\d+)\."  # torchaudio's transformer layer N
# the extractor's norms: group norm in the first block only, or a layer norm in every block
# (wrapped in fairseq's TransposeLast sequence: block.2.1)
EXTRACTOR_NORMS = {
    "group_norm": (r"feature_extractor\.conv_layers\.0\.layer_norm\.(\w+)",
                   r"feature_extractor.conv_layers.0.2.\1"),
    "layer_norm": (r"feature_extractor\.conv_layers\.(\d+)\.layer_norm\.(\w+)",
                   r"feature_extractor.conv_layers.\1.2.1.\2")}
FAIRSEQ = [  # torchaudio name pattern -> fairseq name (fairseq's module layout)
    (r"feature_extractor\.conv_layers\.(\d+)\.conv\.(\w+)",
     r"feature_extractor.conv_layers.\1.0.\2"),
    (r"encoder\.feature_projection\.projection\.(\w+)", r"post_extract_proj.\1"),
    (r"encoder\.feature_projection\.layer_norm\.(\w+)", r"layer_norm.\1"),
    (r"encoder\.transformer\.pos_conv_embed\.conv\.bias", "encoder.pos_conv.0.bias"),
    (r".*parametrizations\.weight\.original0", "encoder.pos_conv.0.weight_g"),
    (r".*parametrizations\.weight\.original1", "encoder.pos_conv.0.weight_v"),
    (r"encoder\.transformer\.layer_norm\.(\w+)", r"encoder.layer_norm.\1"),
    (LAYER + r"attention\.(\w+)\.(\w+)", r"encoder.layers.\1.self_attn.\2.\3"),
    (LAYER + r"layer_norm\.(\w+)", r"encoder.layers.\1.self_attn_layer_norm.\2"),
    (LAYER + r"feed_forward\.intermediate_dense\.(\w+)", r"encoder.layers.\1.fc1.\2"),
    (LAYER + r"feed_forward\.output_dense\.(\w+)", r"encoder.layers.\1.fc2.\2"),
    (LAYER + r"final_layer_norm\.(\w+)", r"encoder.layers.\1.final_layer_norm.\2"),
    (r"aux\.(\w+)", r"proj.\1")]


def fairseq_checkpoint(ta: torch.nn.Module, cfg: ModelConfig, finetuned: bool) -> dict:
    """A fairseq checkpoint of ``ta`` as fairseq lays it out (``cfg`` + ``model``)."""
    state = {}
    for k, v in ta.state_dict().items():
        for pattern, repl in [EXTRACTOR_NORMS[cfg.extractor_mode], *FAIRSEQ]:
            if re.fullmatch(pattern, k):
                state[re.sub(pattern, repl, k)] = v
                break
        else:
            raise AssertionError(f"test mapping lacks {k}")
    state["mask_emb"] = torch.full((cfg.dim,), 0.25)
    if not finetuned:  # a pretrained model: quantiser and target projection, no CTC head
        state = {k: v for k, v in state.items() if not k.startswith("proj.")}
        state |= {"quantizer.vars": torch.zeros(1, 4, 8), "final_proj.weight": torch.ones(2, 2)}
    model = {"_name": "wav2vec2", "conv_bias": cfg.conv_bias,
             "extractor_mode": "layer_norm" if cfg.extractor_mode == "layer_norm" else "default",
             "conv_feature_layers": str([tuple(c) for c in cfg.conv_layers]),
             "encoder_embed_dim": cfg.dim, "encoder_layers": cfg.num_layers,
             "encoder_attention_heads": cfg.heads, "encoder_ffn_embed_dim": cfg.ffn_dim,
             "conv_pos": cfg.pos_conv_kernel, "conv_pos_groups": cfg.pos_conv_groups,
             "layer_norm_first": cfg.layer_norm_first}
    if finetuned:
        return {"cfg": {"model": {"_name": "wav2vec_ctc", "w2v_args": {"model": model}}},
                "model": {("w2v_encoder." + ("w2v_model." if not k.startswith("proj.") else "")
                           + k): v for k, v in state.items()}}
    return {"cfg": {"model": model}, "model": state}


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_presets_are_torchaudios_architectures(name):
    with torch.device("meta"):
        ours = Wav2Vec2CTC(preset(name, vocab_size=0))
        theirs = BUILDERS[name]()
    want = {("encoder." + k if k.startswith("feature_extractor.") else k): v.shape
            for k, v in theirs.state_dict().items()}
    got = {k: v.shape for k, v in ours.state_dict().items() if not k.endswith("mask_embedding")}
    assert got == want
    assert ours.layer_names()[0] == "encoder.feature_extractor"
    assert ours.layer_names()[-1] == f"encoder.transformer.layers.{ours.cfg.num_layers - 1}"


def expect_same(model: Wav2Vec2CTC, ta: torch.nn.Module) -> None:
    """Every tensor and the transformer's output equal torchaudio's."""
    theirs = {("encoder." + k if k.startswith("feature_extractor.") else k): v
              for k, v in ta.state_dict().items() if not k.startswith("aux.")}
    ours = {k: v for k, v in model.state_dict().items() if not k.endswith("mask_embedding")}
    assert ours.keys() == theirs.keys()
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)
    torch.manual_seed(1)
    wavs = torch.randn(2, 8000)
    lens = torch.tensor([8000, 5000])
    with torch.no_grad():
        want, want_lens = ta(wavs, lens)  # aux head: compare the encoder before it
        want = ta.encoder(*ta.feature_extractor(wavs, lens))
        got, got_lens = model.eval().encode(wavs, lens)
    assert torch.equal(got_lens, want_lens)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_torchaudio_pipeline_file_loads(tmp_path):
    ta = torchaudio_tiny()
    path = tmp_path / "wav2vec2_tiny.pth"
    torch.save(ta.state_dict(), path)
    assert is_ssl_weights(path)
    model, meta = load_ssl_encoder(path, TINY)
    assert meta["format"] == "torchaudio" and meta["dropped"] == ["aux"]
    assert model.head is None and "head" not in model.layer_names()
    expect_same(model, ta)


def test_huggingface_directory_loads(tmp_path):
    ta = torchaudio_tiny()
    d = tmp_path / "wav2vec2-tiny"
    d.mkdir()
    (d / "config.json").write_text(json.dumps(hf_config(TINY)))
    save_file(hf_names(ta.state_dict()) | {"wav2vec2.masked_spec_embed": torch.ones(TINY.dim)},
              str(d / "model.safetensors"))
    assert is_ssl_weights(d)
    assert config_from_huggingface(hf_config(TINY)).conv_layers == TINY.conv_layers
    model, meta = load_ssl_encoder(d, TINY)
    assert meta["format"] == "huggingface" and meta["dropped"] == ["aux"]
    assert torch.equal(model.encoder.feature_projection.mask_embedding, torch.ones(TINY.dim))
    expect_same(model, ta)


@pytest.mark.parametrize("finetuned", [False, True])
@pytest.mark.parametrize("mode", ["group_norm", "layer_norm"])  # the base models', XLS-R's
def test_fairseq_checkpoint_loads(tmp_path, finetuned, mode):
    arch = {"extractor_mode": mode, "layer_norm_first": mode == "layer_norm"}
    cfg = dataclasses.replace(TINY, **arch)
    ta = torchaudio_tiny(**arch)
    path = tmp_path / "xlsr_tiny.pt"
    torch.save(fairseq_checkpoint(ta, cfg, finetuned), path)
    model, meta = load_ssl_encoder(path, cfg)
    assert meta["format"] == "fairseq"
    assert meta["dropped"] == (["aux"] if finetuned else ["final_proj", "quantizer"])
    assert torch.equal(model.encoder.feature_projection.mask_embedding,
                       torch.full((TINY.dim,), 0.25))
    expect_same(model, ta)


def test_fairseq_layer_specs_as_fairseq_writes_them(tmp_path):
    """fairseq stores ``conv_feature_layers`` as an expression: ``[(512, 10, 5)] + [(512, 3,
    2)] * 4 + ...`` (XLS-R's and MMS's configs); it is read without eval."""
    from asrtl.models.ssl_weights import conv_spec

    spec = "[(32, 10, 5)] + [(32, 3, 2)] * 4 + [(32, 2, 2)] * 2"
    assert tuple(conv_spec(spec)) == TINY.conv_layers
    ta = torchaudio_tiny()
    ckpt = fairseq_checkpoint(ta, TINY, finetuned=False)
    ckpt["cfg"]["model"]["conv_feature_layers"] = spec
    torch.save(ckpt, tmp_path / "xlsr.pt")
    model, _ = load_ssl_encoder(tmp_path / "xlsr.pt", TINY)
    expect_same(model, ta)
    for bad in ("__import__('os').system('true')", "[(32, 10, 5)] - [1]", "[(32, 10, 5"):
        with pytest.raises(ValueError, match="conv_feature_layers: "):
            conv_spec(bad)


def test_pickled_fairseq_needs_the_opt_in(tmp_path):
    ta = torchaudio_tiny()
    ckpt = fairseq_checkpoint(ta, TINY, finetuned=False)
    path = tmp_path / "pickled.pt"
    torch.save({"args": argparse.Namespace(**ckpt["cfg"]["model"]), "model": ckpt["model"]},
               path)
    with pytest.raises(ValueError, match="source_allow_pickle=true"):
        load_ssl_encoder(path, TINY)
    model, _ = load_ssl_encoder(path, TINY, allow_pickle=True)
    expect_same(model, ta)


def test_bad_weights_are_one_line_errors(tmp_path):
    ta = torchaudio_tiny()
    (tmp_path / "noconfig").mkdir()
    with pytest.raises(FileNotFoundError, match="has no config.json"):
        load_ssl_encoder(tmp_path / "noconfig", TINY)
    with pytest.raises(FileNotFoundError, match="does not exist: download it"):
        load_ssl_encoder(tmp_path / "xlsr.pth", TINY)
    path = tmp_path / "tiny.pth"
    torch.save(ta.state_dict(), path)
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        load_ssl_encoder(truncated, TINY)
    wider = preset("wav2vec2_tiny", dim=128)
    with pytest.raises(ValueError, match=r"has shape .* choose the matching model="):
        load_ssl_encoder(path, wider)
    d = tmp_path / "hf"
    d.mkdir()
    (d / "config.json").write_text(json.dumps(hf_config(TINY)))
    save_file(hf_names(ta.state_dict()), str(d / "model.safetensors"))
    with pytest.raises(ValueError, match=r"another architecture than the preset: dim=96 "
                                         r"there vs 128"):
        load_ssl_encoder(d, wider)
    with pytest.raises(ValueError, match="model=tiny is a conformer"):
        load_ssl_encoder(path, preset("tiny"))
    with pytest.raises(ValueError) as e:
        load_ssl_encoder(truncated, TINY)
    assert "\n" not in str(e.value)


def test_transfer_copies_the_encoder_and_names_layers(tmp_path):
    ta = torchaudio_tiny()
    path = tmp_path / "tiny.pth"
    torch.save(ta.state_dict(), path)
    source, _ = load_ssl_encoder(path, TINY)
    target = build_model(TINY.__class__.from_dict({**TINY.to_dict(), "vocab_size": 20}))
    report = copy_layers(source, target)  # default: what the source has (no head)
    assert "head" not in report.layers and "head.weight" in report.reinitialised
    assert all(torch.equal(target.state_dict()[k], source.state_dict()[k])
               for k in report.copied)
    assert len(report.copied) == len(source.state_dict())
    with pytest.raises(ValueError, match="valid: encoder.feature_extractor"):
        resolve_layers(target, ["encoder.layers.0"])
    with pytest.raises(ValueError, match="source model has no tensor 'head.weight'"):
        copy_layers(source, target, ["head"])


def test_time_mask_and_waveform_input():
    x = torch.zeros(2, 100, 4)
    emb = torch.ones(4)
    torch.manual_seed(0)
    y = time_mask(x, torch.tensor([100, 50]), 0.05, 10, emb)
    masked = y[..., 0] == 1
    assert 0.1 < masked[0].float().mean() < 0.8
    assert not masked[1, 50:].any()  # padding is never masked
    starts = masked[0] & ~torch.cat([torch.tensor([False]), masked[0, :-1]])
    runs = masked[0].sum() / starts.sum()
    assert runs >= 10 - 1e-6  # spans of 10 frames (overlapping ones merge)
    wav = torch.cat([torch.randn(1, 4000) * 3 + 1, torch.zeros(1, 4000)], 1)
    out, _ = input_transform(TINY)(wav, torch.tensor([4000]))
    assert abs(out[0, :4000].mean()) < 1e-5 and abs(out[0, :4000].std() - 1) < 1e-3
    assert torch.equal(out[0, 4000:], torch.zeros(4000))


def test_padding_does_not_leak_with_layer_norm_extractor():
    """XLS-R's layer-norm extractor: an utterance decodes the same alone or padded in a
    batch (the group-norm extractor of the base models normalises over padding, as in
    fairseq and torchaudio)."""
    torch.manual_seed(0)
    model = Wav2Vec2CTC(preset("wav2vec2_tiny", extractor_mode="layer_norm",
                               layer_norm_first=True, vocab_size=10)).eval()
    wavs = torch.randn(2, 16000)
    lens = torch.tensor([16000, 9000])
    with torch.no_grad():
        batched, out_lens = model(wavs, lens)
        alone, _ = model(wavs[1:, :9000], lens[1:])
    n = int(out_lens[1])
    assert n == alone.shape[1]
    torch.testing.assert_close(batched[1, :n], alone[0], rtol=1e-4, atol=1e-4)


def test_8khz_audio_is_resampled_for_a_16khz_encoder_and_logged(tmp_path, caplog):
    import logging

    import numpy as np
    import soundfile as sf
    from lhotse import Recording

    from asrtl.data import audio

    path = tmp_path / "phone.wav"
    t = np.arange(8000) / 8000
    sf.write(path, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 8000)
    cut = Recording.from_file(path).to_cut()
    audio._RESAMPLED.discard((8000, 16000))
    with caplog.at_level(logging.INFO, logger="asrtl.data.audio"):
        samples = audio.load_audio(cut)
    assert samples.shape == (16000,)
    assert "audio at 8000 Hz resampled to the models' 16000 Hz" in caplog.text
    wavs, lens = input_transform(TINY)(torch.from_numpy(samples)[None], torch.tensor([16000]))
    out, out_lens = Wav2Vec2CTC(preset("wav2vec2_tiny", vocab_size=8)).eval()(wavs, lens)
    assert out_lens.item() == 49  # 20 ms frames of 1 s at 16 kHz


@pytest.mark.parametrize("method", ["lhuc", "finetune_lower"])
def test_speaker_adaptation_methods_apply_to_wav2vec2(method):
    """LHUC scales the transformer layers' outputs (tuples there); finetune_lower names the
    wav2vec 2.0 units: the adaptation methods work unchanged on these encoders."""
    from asrtl.adapt.methods import prepare

    torch.manual_seed(0)
    model = Wav2Vec2CTC(preset("wav2vec2_tiny", vocab_size=8, dropout=0.0)).eval()
    wavs, lens = torch.randn(1, 8000), torch.tensor([8000])
    with torch.no_grad():
        before, _ = model(wavs, lens)
    state = prepare(model, method, layers=2)
    with torch.no_grad():
        same, _ = model(wavs, lens)
    torch.testing.assert_close(same, before)  # LHUC starts at scale 1
    trained = {n for n, p in model.named_parameters() if p.requires_grad}
    if method == "lhuc":
        assert state.lhuc is not None and not trained
        with torch.no_grad():
            for r in state.lhuc.r:
                r.fill_(1.0)
            moved, _ = model(wavs, lens)
        assert not torch.allclose(moved, before)
    else:
        assert trained and all(n.startswith(("encoder.feature_extractor.",
                                             "encoder.feature_projection.")) for n in trained)
