"""LID scoring arithmetic and the classifier's building blocks, on small hand-made numbers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from asrtl.lid.model import LIDConfig, LIDModel
from asrtl.lid.score import Posteriors, accuracy, bootstrap_top, rank_sources
from asrtl.lid.train import class_weights, frame_loss

LANGS = ["assamese", "thai", "turkish"]


def _post() -> Posteriors:
    # utterance 0: 10 frames, mostly assamese; utterance 1: 30 frames, mostly thai
    sums = np.array([[8.0, 1.0, 1.0], [6.0, 21.0, 3.0]])
    return Posteriors(LANGS, ["u0", "u1"], sums, np.array([10.0, 30.0]))


def test_frame_and_utterance_averages_differ_as_defined():
    p = _post()
    np.testing.assert_allclose(p.frame_mean(), [14 / 40, 22 / 40, 4 / 40])
    np.testing.assert_allclose(p.utterance_mean(), [(0.8 + 0.2) / 2, (0.1 + 0.7) / 2,
                                                    (0.1 + 0.1) / 2])
    assert p.predictions().tolist() == [0, 1]
    assert accuracy(p, "assamese") == 0.5


def test_ranking_is_by_frame_average_and_excludes_the_target():
    ranked = rank_sources(_post())
    assert [r["source"] for r in ranked] == ["thai", "assamese", "turkish"]
    ranked = rank_sources(_post(), exclude=["thai"])
    assert [r["source"] for r in ranked] == ["assamese", "turkish"]
    assert ranked[0]["utterance_score"] == pytest.approx(0.5)


def test_bootstrap_confidence():
    rng = np.random.default_rng(0)
    n = 50
    clear = Posteriors(LANGS, [str(i) for i in range(n)],
                       np.tile([7.0, 2.0, 1.0], (n, 1)) + rng.random((n, 3)), np.full(n, 10.0))
    assert bootstrap_top(clear, n=200) == {"assamese": 1.0, "thai": 0.0, "turkish": 0.0}
    # half the utterances say assamese, half thai: the top flips between resamples
    sums = np.array([[9.0, 1.0, 0.0] if i % 2 else [1.0, 9.0, 0.0] for i in range(n)])
    split = bootstrap_top(Posteriors(LANGS, [str(i) for i in range(n)], sums, np.full(n, 10.0)),
                          n=400)
    assert 0.2 < split["assamese"] < 0.8 and split["assamese"] + split["thai"] == 1.0


def test_class_weights_balance_audio_and_loss_ignores_padding():
    class Cut:
        def __init__(self, d):
            self.duration = d
    w = class_weights({"a": [Cut(10.0), Cut(10.0)], "b": [Cut(5.0)]})
    assert w.tolist() == pytest.approx([0.4, 1.6])  # a has 4x b's audio: a frame counts 1/4
    with pytest.raises(ValueError, match="'c' has no training audio"):
        class_weights({"a": [Cut(1.0)], "c": []})
    log_post = torch.log(torch.tensor([[[0.9, 0.1], [0.5, 0.5]]]))  # frame 2 is padding
    loss = frame_loss(log_post, torch.tensor([1]), torch.tensor([0]), torch.ones(2))
    assert loss.item() == pytest.approx(-np.log(0.9))


@pytest.mark.parametrize("encoder", ["xvector", "ecapa"])
def test_frame_posteriors_do_not_depend_on_padding(encoder):
    cfg = LIDConfig(languages=tuple(LANGS), encoder=encoder, channels=(32, 32, 32, 32, 64))
    model = LIDModel(cfg).eval()
    wav = torch.randn(1, 16000)
    alone, n = model(wav, torch.tensor([16000]))
    padded, _ = model(torch.cat([wav, torch.zeros(1, 8000)], 1), torch.tensor([16000]))
    assert alone.shape == (1, int(n), 3)
    # padding reaches only the last frames' convolution windows (the encoders' context)
    inner = int(n) - 20
    torch.testing.assert_close(padded[:, :inner].exp(), alone[:, :inner].exp(), atol=1e-4,
                               rtol=0)


def test_bad_configs_are_named():
    with pytest.raises(ValueError, match="at least 2 languages"):
        LIDConfig(languages=("bengali",))
    with pytest.raises(ValueError, match="unknown lid.encoder 'bert'"):
        LIDConfig(languages=("a", "b"), encoder="bert")


def test_the_dataclass_defaults_are_the_recipes():
    """``LIDConfig``'s defaults (the Python API's) are ``conf/lid.yaml``'s ``lid:`` section
    (the recipes'), so that a model built either way is the same."""
    import yaml

    from tests.conftest import REPO

    conf = yaml.safe_load((REPO / "conf" / "lid.yaml").read_text())["lid"]
    cfg = LIDConfig(languages=("a", "b"))
    assert {k: getattr(cfg, k) for k in conf} == {
        k: tuple(v) if isinstance(v, list) else v for k, v in conf.items()}
