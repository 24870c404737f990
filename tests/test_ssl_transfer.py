"""A supervised tiny wav2vec 2.0 source trained here, saved as torchaudio and Hugging Face
weights, transferred through ``source_checkpoint=`` like any source: the encoder arrives
intact and a fresh head on it learns (the target's CER falls from ~1.0)."""

from __future__ import annotations

import json
import math

import pytest
import torch
from safetensors.torch import save_file

from asrtl.models.ssl_weights import to_torchaudio
from asrtl.train.checkpoint import load_checkpoint
from asrtl.train.state import RunState, read_metrics
from tests.conftest import SEED, TINY_DATA, _run, reached, record
from tests.helpers import hf_config, hf_names

# the tiny (pre-LN) wav2vec 2.0 left the all-blank plateau by epoch 10-15 on four builds of the
# tiny corpus, test CER 0.76-0.80 after 30 epochs: the source trains until it has left it
# (ssl_source), features a fresh head can use
SSL_TRAIN = ["model=wav2vec2_tiny", "model.mask_time_prob=0", "train.num_workers=0",
             "train.warmup_steps=50", "decode.beam=false", f"seed={SEED}", *TINY_DATA]


def batch_s(tiny_corpora) -> str:
    """6 s batches, or the longest Turkish utterance's length rounded up where it is longer
    (6.9 s in the corpus build of data.seed=1: the recipe refuses shorter batches)."""
    longest = max(c.duration for c in tiny_corpora["turkish"].cuts("train"))
    return f"train.batch_duration_s={max(6, math.ceil(longest))}"


@pytest.fixture(scope="module")
def ssl_source(tiny_corpora, cache_dir, tmp_path_factory):
    """recipes/pretrain.py with model=wav2vec2_tiny on Turkish, until it emits text: until
    its dev CER is at most 0.82, 60 epochs at most, from a second initialisation (seed + 100)
    when the first never leaves CTC's blank plateau. What the tests here check is the encoder
    weights' path, not whether a from-scratch wav2vec 2.0 learns from 72 s of audio: over
    seeds 0-9 each setting tried stayed on the plateau in one corpus build (train.lr=1.5e-3
    with clip 5 in data.seed=5's, dev CER 0.98 after 60 epochs; lr 1e-3 with clip 1, now, in
    data.seed=9's; BENCHMARKS.md, test suite); with lr 1e-3 and clip 1 it stopped at epochs
    5-28 in the other nine."""
    attempts = 0
    for seed in (SEED, SEED + 100):
        attempts += 1
        exp = tmp_path_factory.mktemp("ssl-exp")
        res = _run("pretrain", "language=turkish", "train.epochs=60", "train.stop_cer=0.82",
                   "train.lr=1e-3", "train.grad_clip=1.0", batch_s(tiny_corpora),
                   *[a for a in SSL_TRAIN if not a.startswith("seed=")], f"seed={seed}",
                   f"exp_dir={exp}", cache=cache_dir)
        assert res.returncode == 0, res.stderr[-3000:]
        if min(r["valid_cer"] for r in read_metrics(exp / "pretrain" / "turkish")) <= 0.82:
            break
    record("ssl_source_attempts", attempts=attempts)
    reached(exp / "pretrain" / "turkish", 0.82, "ssl_source")
    return exp, load_checkpoint(exp / "pretrain" / "turkish")


@pytest.mark.learning
def test_source_learned(ssl_source):
    exp, _ = ssl_source
    scores = json.loads((exp / "pretrain" / "turkish" / "results" / "test" /
                         "scores.json").read_text())
    assert scores["cer"] < 0.9  # it left the blank floor: a source worth transferring


@pytest.mark.learning
def test_transfer_from_torchaudio_weights(ssl_source, cache_dir, tiny_corpora):
    exp, source = ssl_source
    weights = exp / "turkish-w2v.pth"
    torch.save(to_torchaudio(source.model), weights)
    # the target is the source's language: a fresh head on the loaded encoder must find what
    # the source's head knew (a tiny from-scratch wav2vec 2.0 helps Bengali too little to
    # test on: its CER moved 0.913 -> 0.889 in one trial and not at all in another)
    # 20 epochs: from the source of data.seed=7 (stopped at epoch 8, just off the blank
    # plateau) 12 left the target at dev CER 0.957 then 1.0; 20 reached 0.862
    res = _run("transfer", f"source_checkpoint={weights}", "target=turkish",
               "target_hours=0.02", "train.epochs=20", "train.lr=1e-3", "strategy=ssl_finetune",
               "strategy.stage_epochs=3", batch_s(tiny_corpora), *SSL_TRAIN, f"exp_dir={exp}",
               cache=cache_dir)
    assert res.returncode == 0, res.stderr[-3000:]
    run = exp / "transfer" / "ckpt-turkish-w2v-to-turkish" / "ssl_finetune"
    report = json.loads((run / "copy_report.json").read_text())
    assert "head" not in report["layers"] and report["head"] is None
    assert "encoder.feature_extractor" in report["layers"]
    # every encoder tensor (the mask vector, absent from torchaudio files, keeps the
    # loaded encoder's initialisation); the head is new
    assert len(report["copied"]) == len(source.model.state_dict()) - 2
    assert report["reinitialised"] == ["head.weight", "head.bias"]
    # ssl_finetune froze the feature extractor: at the end of training it is the source's,
    # tensor for tensor, while the transformer (trained after the head-only epochs) moved
    trained = load_checkpoint(RunState(run).latest()).model.state_dict()
    extractor = [k for k in trained if k.startswith("encoder.feature_extractor.")]
    src = source.model.state_dict()
    assert extractor and all(torch.equal(trained[k], src[k]) for k in extractor)
    assert any(not torch.equal(trained[k], src[k]) for k in trained
               if k.startswith("encoder.transformer.layers."))
    dev = [r["valid_cer"] for r in read_metrics(run)]
    # a fresh head scores CER ~1.0 (the source's first epoch: 0.97-1.0); on the loaded
    # encoder it falls well below within the run
    assert min(dev) < 0.9, dev
    summary = json.loads((run / "summary.json").read_text())
    assert summary["cer"] < 1.0


def test_huggingface_dir_copies_every_encoder_tensor(ssl_source, tmp_path):
    """The copy itself, without training: a Hugging Face directory of the trained encoder
    lands tensor for tensor in a fresh target (what the recipe does before it trains)."""
    from asrtl.models.ctc import ModelConfig
    from asrtl.models.factory import build_model
    from asrtl.models.ssl_weights import load_ssl_encoder
    from asrtl.transfer.copy import copy_layers

    _, source = ssl_source
    d = tmp_path / "hf"
    d.mkdir()
    (d / "config.json").write_text(json.dumps(hf_config(source.model.cfg)))
    save_file(hf_names(to_torchaudio(source.model)), str(d / "model.safetensors"))
    encoder, meta = load_ssl_encoder(d, source.model.cfg)
    target = build_model(ModelConfig.from_dict({**source.model.cfg.to_dict(),
                                                "vocab_size": 30}))
    report = copy_layers(encoder, target)
    theirs = source.model.state_dict()
    ours = target.state_dict()
    assert report.copied and all(torch.equal(ours[k], theirs[k]) for k in report.copied
                                 if not k.endswith("mask_embedding"))
    assert not torch.equal(ours["head.weight"][:4], theirs["head.weight"][:4])
