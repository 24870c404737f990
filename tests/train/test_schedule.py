import pytest

from asrtl.train.schedule import lr_factor


def test_warmup_then_cosine_decay_to_final_ratio():
    f = [lr_factor(s, 1000, 100, "cosine", 0.1) for s in range(1000)]
    assert f[0] == pytest.approx(0.01) and f[99] == pytest.approx(1.0)
    assert all(a <= b for a, b in zip(f[:100], f[1:100], strict=False))
    assert all(a >= b for a, b in zip(f[100:], f[101:], strict=False))
    assert f[-1] == pytest.approx(0.1, abs=0.01)


def test_constant_and_unknown():
    assert lr_factor(500, 1000, 10, "constant") == 1.0
    with pytest.raises(ValueError, match="unknown schedule 'sawtooth'"):
        lr_factor(0, 10, 1, "sawtooth")


def test_best_checkpoint_selection_by_metric():
    from asrtl.train.state import selection as _selection

    empty = {"valid_wer": 1.00, "valid_cer": 0.97, "valid_loss": 3.1}  # early: blanks only
    later = {"valid_wer": 1.04, "valid_cer": 0.31, "valid_loss": 1.2}  # insertions, but text
    assert _selection(empty, "wer") < _selection(later, "wer")  # WER keeps the empty one
    assert _selection(later, "cer") < _selection(empty, "cer")
    assert _selection(later, "loss") < _selection(empty, "loss")
    stored = {"wer": 1.00, "cer": 0.97}  # a best.json of an older run: no loss stored
    assert _selection(later, "cer") < _selection(stored, "cer")


def test_run_state_saves_prunes_and_keeps_the_best(tmp_path):
    """One layout for every loop: latest.json follows the newest checkpoint, best.json the
    chosen one, old checkpoints go except the best, metrics are replaced as given."""
    import json

    from asrtl.models.ctc import CTCModel, ModelConfig
    from asrtl.train.state import RunState

    model = CTCModel(ModelConfig(name="t", dim=16, num_layers=1, heads=2, ffn_dim=32,
                                 subsampling_channels=4, num_mel_bins=16, vocab_size=5))
    run = RunState(tmp_path, keep=1)
    assert run.latest() is None and run.trainer_state() is None and run.best() == {}
    best = {"name": "step-000001", "cer": 0.5}
    rows = [{"epoch": 1, "step": 1}]
    run.save("step-000001", model, {"step": 1, "epoch": 1}, {"epoch": 1}, best, rows)
    run.save("step-000002", model, {"step": 2}, {"epoch": 1}, best)  # mid-epoch: no rows
    run.save("step-000003", model, {"step": 3, "epoch": 2}, {"epoch": 2}, best,
             [*rows, {"epoch": 2, "step": 3}])
    kept = sorted(p.name for p in run.ckpt_dir.iterdir() if p.is_dir())
    assert kept == ["step-000001", "step-000003"]  # the best survives pruning
    assert run.latest().name == "step-000003" and run.trainer_state() == {"epoch": 2}
    assert run.best() == best
    assert json.loads((run.ckpt_dir / "latest.json").read_text()) == {
        "name": "step-000003", "step": 3, "epoch": 2}
    assert [r["step"] for r in run.history()] == [1, 3]
    assert [r["step"] for r in run.history(until=2)] == [1]
