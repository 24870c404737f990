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
