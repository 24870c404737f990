"""Pre-emption inside the training loop: SIGTERM or SIGINT stops after the current step with
a checkpoint; resuming from it ends with the same weights as a run never interrupted."""

from __future__ import annotations

import os
import signal

import pytest
import torch

from asrtl.data.manifest import cut_texts
from asrtl.data.vocab import Vocabulary
from asrtl.models.ctc import CTCModel, ModelConfig
from asrtl.train.checkpoint import load_trainer_state
from asrtl.train.loop import TrainConfig, fit, one_language
from asrtl.train.signals import Interrupted
from tests.conftest import TINY_MODEL

CFG = TrainConfig(epochs=2, lr=3e-3, warmup_steps=5, batch_duration_s=12.0,
                  checkpoint_every_steps=1000, num_workers=0)


def _setup(corpus):
    train = corpus.cuts("train")
    vocab = Vocabulary.from_texts(cut_texts(train))
    torch.manual_seed(0)
    model = CTCModel(ModelConfig(**TINY_MODEL, vocab_size=len(vocab)))
    data = one_language(vocab, train, corpus.cuts("dev").subset(first=4), CFG, 0,
                        torch.device("cpu"))
    return model, data, {"vocab": vocab.tokens, "language": corpus.language}


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_checkpoints_and_the_resume_is_exact(tiny_corpora, tmp_path, signum):
    corpus = tiny_corpora["turkish"]
    model, data, meta = _setup(corpus)
    fit(model, data, CFG, tmp_path / "whole", torch.device("cpu"), 0, meta)

    model2, data2, _ = _setup(corpus)
    plan = data2.dataset

    def dataset_that_signals(batches):  # the signal arrives while step 3 loads its batch
        ds = plan(batches)
        getitem = ds.__getitem__

        class Signalling(torch.utils.data.Dataset):
            def __len__(self) -> int:
                return len(ds)

            def __getitem__(self, i: int):
                if i == 2:
                    os.kill(os.getpid(), signum)
                return getitem(i)
        return Signalling()

    data2.dataset = dataset_that_signals
    run = tmp_path / "stopped"
    handler = signal.getsignal(signum)
    with pytest.raises(Interrupted, match=f"interrupted by {signal.Signals(signum).name} at "
                                          f"step 3: checkpoint in .*run the same command") as e:
        fit(model2, data2, CFG, run, torch.device("cpu"), 0, meta)
    assert e.value.code == 128 + signum
    state = load_trainer_state(run / "checkpoints" / "step-000003")
    assert state["step"] == 3 and state["batch_in_epoch"] == 3 and state["epoch"] == 0
    assert signal.getsignal(signum) is handler  # the handler was put back

    model3, data3, _ = _setup(corpus)
    fit(model3, data3, CFG, run, torch.device("cpu"), 0, meta)
    for (k, a), b in zip(model.state_dict().items(), model3.state_dict().values(),
                         strict=True):
        assert torch.equal(a, b), k
