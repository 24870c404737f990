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
