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
    from asrtl.train.loop import _selection

    empty = {"valid_wer": 1.00, "valid_cer": 0.97, "valid_loss": 3.1}  # early: blanks only
    later = {"valid_wer": 1.04, "valid_cer": 0.31, "valid_loss": 1.2}  # insertions, but text
    assert _selection(empty, "wer") < _selection(later, "wer")  # WER keeps the empty one
    assert _selection(later, "cer") < _selection(empty, "cer")
    assert _selection(later, "loss") < _selection(empty, "loss")
    stored = {"wer": 1.00, "cer": 0.97}  # a best.json of an older run: no loss stored
    assert _selection(later, "cer") < _selection(stored, "cer")
