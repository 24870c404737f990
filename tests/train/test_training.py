"""A model that learns: loss and CER fall on a tiny corpus (real synthesis, real training)."""

import json

import pytest
import torch

from asrtl.data.features import Fbank
from asrtl.data.manifest import cut_texts
from asrtl.data.vocab import Vocabulary
from asrtl.eval.evaluate import decode_cuts
from asrtl.eval.score import score
from asrtl.models.ctc import CTCModel, ModelConfig
from asrtl.train.loop import TrainConfig, fit, one_language
from tests.conftest import SEED, TINY_MODEL, reached, record

# until the dev CER is at most 0.5 (train.stop_cer), 40 epochs at most: how long the all-blank
# plateau lasts depends on the corpus build and the CPU's kernels, the stop does not. 0.45
# was reached at epochs 16-21 in 5 corpus builds, and never in the cap in a sixth (best
# 0.456: the model's floor on that build; BENCHMARKS.md, test suite)
FAST = TrainConfig(epochs=40, lr=3e-3, warmup_steps=30, batch_duration_s=12.0,
                   checkpoint_every_steps=1000, num_workers=0, spec_augment=False,
                   stop_cer=0.5)


def _cer(model, vocab, cuts) -> float:
    fbank = Fbank()
    out = decode_cuts(model, fbank, vocab, cuts, torch.device("cpu"))
    return score(out.refs, out.hyps)["cer"]


@pytest.fixture(scope="session")
def trained(tiny_corpora, tmp_path_factory):
    corpus = tiny_corpora["turkish"]
    train, dev = corpus.cuts("train"), corpus.cuts("dev")
    vocab = Vocabulary.from_texts(cut_texts(train))
    torch.manual_seed(SEED)
    model = CTCModel(ModelConfig(**TINY_MODEL, vocab_size=len(vocab)))
    untrained = {"train": _cer(model, vocab, train), "dev": _cer(model, vocab, dev)}
    run = tmp_path_factory.mktemp("run")
    data = one_language(vocab, train, dev, FAST, SEED, torch.device("cpu"))
    result = fit(model, data, FAST, run, torch.device("cpu"), SEED,
                 {"vocab": vocab.tokens, "language": "turkish"})
    rows = reached(run, FAST.stop_cer, "trained")
    return {"model": model, "vocab": vocab, "untrained": untrained, "rows": rows,
            "result": result, "run": run, "corpus": corpus}


@pytest.mark.learning
def test_loss_falls(trained):
    rows = trained["rows"]
    record("training_loss", train_ratio=rows[-1]["train_loss"] / rows[0]["train_loss"],
           valid_ratio=min(r["valid_loss"] for r in rows) / rows[0]["valid_loss"])
    # it stopped after the first epoch at train.stop_cer, or at the cap
    assert [r for r in rows if r["valid_cer"] <= FAST.stop_cer] == rows[-1:]
    # the stop comes at a dev CER, not at a loss: measured at the stop, the last epoch's train
    # loss was 0.33 of the first's (CI, stop at 0.45); halved is the claim
    assert rows[-1]["train_loss"] < 0.5 * rows[0]["train_loss"]
    assert min(r["valid_loss"] for r in rows) < 0.8 * rows[0]["valid_loss"]


@pytest.mark.learning
def test_trained_model_beats_untrained_by_a_wide_margin(trained):
    model, vocab, corpus = trained["model"], trained["vocab"], trained["corpus"]
    trained_train = _cer(model, vocab, corpus.cuts("train"))
    record("training", epochs=len(trained["rows"]), train_cer=trained_train,
           untrained=trained["untrained"])
    assert trained["untrained"]["train"] > 0.8
    # a wide margin on the training voices too (stopped at a dev CER: train CER 0.001-0.31
    # at the 0.45 stop, 0.31 in CI's run)
    assert trained_train < trained["untrained"]["train"] - 0.3
    # Held-out voices: still far better than chance after about a minute of audio.
    trained_dev = _cer(model, vocab, corpus.cuts("dev"))
    assert trained_dev < trained["untrained"]["dev"] - 0.3


def test_run_layout(trained):
    run = trained["run"]
    best = json.loads((run / "checkpoints" / "best.json").read_text())
    assert (run / "checkpoints" / best["name"] / "model.safetensors").is_file()
    assert (run / "checkpoints" / "latest.json").is_file()
    assert list((run / "tensorboard").glob("events.out.tfevents.*"))
    kept = [p for p in (run / "checkpoints").glob("step-*")]
    assert len(kept) <= 3  # keep_checkpoints=2 plus the best
