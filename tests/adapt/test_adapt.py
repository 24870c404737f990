"""Speaker adaptation mechanics on the tiny corpus: what trains, what is held out."""

from __future__ import annotations

import pytest
import torch
from lhotse import CutSet
from lhotse.utils import fastcopy
from omegaconf import OmegaConf

from asrtl.adapt.methods import prepare
from asrtl.adapt.run import (
    adapt,
    feasible,
    load_adapted,
    save_adapted,
    speaker_split,
    speakers_of,
    subset,
)
from asrtl.data.features import Fbank
from asrtl.data.manifest import cut_texts
from asrtl.data.vocab import Vocabulary
from asrtl.models.ctc import CTCModel, ModelConfig
from asrtl.train.checkpoint import save_checkpoint


@pytest.fixture(scope="module")
def setup(tiny_corpora):
    corpus = tiny_corpora["turkish"]
    vocab = Vocabulary.from_texts(cut_texts(corpus.cuts("train")))
    torch.manual_seed(0)
    model = CTCModel(ModelConfig(name="tiny", dim=48, num_layers=2, heads=2, ffn_dim=96,
                                 vocab_size=len(vocab)))
    return model.eval(), vocab, corpus.cuts("adapt")


def test_split_keeps_evaluation_out_of_adaptation(setup):
    _, _, cuts = setup
    speaker = next(iter(speakers_of(cuts)))
    pool, held = speaker_split(cuts, speaker, 3)
    assert len(pool) == 3 and held and not set(pool) & set(held)
    assert set(pool) | set(held) == set(speakers_of(cuts)[speaker])
    assert speaker_split(cuts, speaker, 3) == (pool, held)  # seeded: the same every time
    pool2, held2 = speaker_split(cuts, speaker, 2)
    assert not set(pool2) & set(held2)
    with pytest.raises(ValueError, match="needs at least"):
        speaker_split(cuts, speaker, 100)
    with pytest.raises(ValueError, match="unknown speaker 'nobody'"):
        speaker_split(cuts, "nobody", 1)


def test_lhuc_trains_only_its_scales_and_reloads(setup, tmp_path):
    model, vocab, cuts = setup
    base = {k: v.clone() for k, v in model.state_dict().items()}
    speaker = next(iter(speakers_of(cuts)))
    pool, held = speaker_split(cuts, speaker, 3)
    cfg = OmegaConf.create({"steps": 5, "lr": 0.05, "spec_augment": False})
    adapted = CTCModel(model.cfg)
    adapted.load_state_dict(base)
    state = adapt(adapted, vocab, subset(cuts, pool), "lhuc", cfg, torch.device("cpu"))
    for k, v in adapted.state_dict().items():
        assert torch.equal(v, base[k]), k  # the model's own weights never move
    assert sum(p.numel() for p in state.parameters()) == 2 * 48
    assert all(not torch.equal(r, torch.zeros_like(r)) for r in state.lhuc.r)
    feats = Fbank()(torch.randn(1, 16000), torch.tensor([16000]))
    with torch.no_grad():
        out_adapted = adapted(*feats)[0]
        assert not torch.allclose(out_adapted, model(*feats)[0])  # the scales act
    # saved alone, loaded on top of the base checkpoint: the same outputs
    ckpt = save_checkpoint(tmp_path / "checkpoints", "step-000001", model,
                           {"vocab": vocab.tokens, "language": "turkish"})
    save_adapted(tmp_path / "spk", state, {"base_checkpoint": str(ckpt), "method": "lhuc"})
    reloaded, _, meta = load_adapted(tmp_path / "spk")
    assert meta["num_parameters"] == 96
    with torch.no_grad():
        torch.testing.assert_close(reloaded(*feats)[0], out_adapted)


def test_finetune_lower_freezes_the_upper_layers(setup):
    model, _, _ = setup
    m = CTCModel(model.cfg)
    state = prepare(m, "finetune_lower", layers=2)
    assert {n.split(".")[0] for n in state.params} == {"frontend", "encoder"}
    assert all(n.startswith(("frontend.", "encoder.layers.0.")) for n in state.params)
    assert not any(p.requires_grad for p in m.head.parameters())
    with pytest.raises(ValueError, match="unknown adaptation method 'magic'"):
        prepare(CTCModel(model.cfg), "magic")


def test_early_stopping_picks_the_step_count_on_a_held_out_utterance(setup):
    model, vocab, cuts = setup
    pools = [subset(cuts, speaker_split(cuts, spk, 3)[0]) for spk in speakers_of(cuts)]
    pool = next(p for p in pools if all(feasible(model, vocab, p, torch.device("cpu")).values()))
    base = {k: v.clone() for k, v in model.state_dict().items()}

    def run(lr: float):
        m = CTCModel(model.cfg)
        m.load_state_dict(base)
        cfg = OmegaConf.create({"steps": 10, "lr": lr, "early_stop": True, "eval_every": 2,
                                "spec_augment": False})
        return m, adapt(m, vocab, pool, "finetune_all", cfg, torch.device("cpu"))

    m, state = run(3e-3)  # an untrained model: the held-out loss falls, so it adapts
    assert state.steps in (2, 4, 6, 8, 10)
    assert not torch.equal(m.head.weight, base["head.weight"])
    m, state = run(50.0)  # a step this size only wrecks it: it stops before the first step
    assert state.steps == 0
    for k, v in m.state_dict().items():
        assert torch.equal(v, base[k]), k


def test_feasibility_counts_labels_and_repeats_against_output_frames(setup):
    model, vocab, cuts = setup
    cut = next(iter(cuts))
    frames = int(model(*Fbank()(torch.from_numpy(cut.load_audio()), torch.tensor(
        [cut.num_samples])))[1][0])
    letters = [t for t in vocab.tokens if len(t) == 1 and t.isalpha()]

    def with_text(text: str):
        sup = fastcopy(cut.supervisions[0], text=text)
        return CutSet.from_cuts([fastcopy(cut, supervisions=[sup])])

    distinct = "".join(letters[i % len(letters)] for i in range(frames))
    assert feasible(model, vocab, with_text(distinct), torch.device("cpu"))[cut.id]
    assert not feasible(model, vocab, with_text(distinct + letters[0] + letters[1]),
                        torch.device("cpu"))[cut.id]
    n = (frames + 1) // 2  # n repeats of one letter need 2n - 1 frames (blanks between)
    assert not feasible(model, vocab, with_text(letters[0] * (n + 1)), torch.device("cpu"))[cut.id]
    assert feasible(model, vocab, with_text(letters[0] * n),
                    torch.device("cpu"))[cut.id]
