"""LID training resumes where it stopped and ends as an uninterrupted run."""

from __future__ import annotations

import pytest
import torch

from asrtl.lid.model import LIDConfig
from asrtl.lid.train import train_lid
from asrtl.train.loop import TrainConfig

ARCH = dict(encoder="ecapa", channels=(32, 32, 32, 32, 96), kernel_sizes=(5, 3, 3, 3, 1),
            dilations=(1, 2, 3, 4, 1))


def _train(run, cuts, epochs: int):
    cfg = LIDConfig(languages=tuple(cuts), **ARCH)
    train = TrainConfig(epochs=epochs, lr=2e-3, warmup_steps=4, batch_duration_s=20.0,
                        num_workers=0)
    return train_lid(run, cuts, cfg, train, torch.device("cpu"), 0, 1.0)


def test_lid_training_resumes_to_the_same_weights(tiny_corpora, tmp_path, monkeypatch):
    import asrtl.train.state as run_state

    cuts = {lang: c.cuts("train").subset(first=16) for lang, c in tiny_corpora.items()}
    whole = _train(tmp_path / "whole", cuts, 3)

    write = run_state.write_json_atomic

    def killed_after_epoch_2(path, data):  # the process dies once epoch 2 is saved
        write(path, data)
        if path.name == "latest.json" and data["epoch"] == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(run_state, "write_json_atomic", killed_after_epoch_2)  # RunState.save
    with pytest.raises(KeyboardInterrupt):
        _train(tmp_path / "stopped", cuts, 3)
    monkeypatch.undo()
    resumed = _train(tmp_path / "stopped", cuts, 3)  # the same command again
    for (k, a), b in zip(whole.state_dict().items(), resumed.state_dict().values(),
                         strict=True):
        assert torch.equal(a, b), k


def test_accumulated_batches_make_one_step(tiny_corpora, tmp_path, monkeypatch):
    """train.accum_grad=2: one optimizer step per two batches (half as many, rounded up)."""
    cuts = {lang: c.cuts("train").subset(first=8) for lang, c in tiny_corpora.items()}
    cfg = LIDConfig(languages=tuple(cuts), **ARCH)
    steps = []
    real_step = torch.optim.AdamW.step

    def counted(self, *a, **k):
        steps.append(1)
        return real_step(self, *a, **k)

    monkeypatch.setattr(torch.optim.AdamW, "step", counted)
    for accum, name in ((1, "one"), (2, "two")):
        steps.clear()
        train = TrainConfig(epochs=1, lr=2e-3, warmup_steps=1, batch_duration_s=10.0,
                            num_workers=0, accum_grad=accum)
        train_lid(tmp_path / name, cuts, cfg, train, torch.device("cpu"), 0)
        if accum == 1:
            one = len(steps)
    assert one >= 2 and len(steps) == -(-one // 2)


def test_settings_lid_training_cannot_use_are_named(caplog):
    from asrtl.errors import UserError
    from asrtl.lid.train import check_lid_train

    for kw, needle in (({"stop_cer": 0.5}, "has no CER"), ({"compile": True}, "does not compile"),
                       ({"amp": "bf16"}, "full precision")):
        with pytest.raises(UserError, match=needle):
            check_lid_train(TrainConfig(**kw), "lid.train")
    with caplog.at_level("INFO"):
        check_lid_train(TrainConfig(num_workers=0, select="wer"))
    assert "does not use train.num_workers=0" in caplog.text and "train.select='wer'" in caplog.text
