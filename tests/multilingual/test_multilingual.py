"""The multilingual model and sampler: heads trained only by their language, temperature
sampling, the union head of a transfer source."""

from __future__ import annotations

import collections

import pytest
import torch

from asrtl.data.features import Fbank, SpecAugment
from asrtl.data.manifest import cut_texts
from asrtl.data.vocab import Vocabulary
from asrtl.errors import UserError
from asrtl.models.ctc import ModelConfig
from asrtl.multilingual.data import MixedDataset, language_probs, mixed_plan
from asrtl.multilingual.model import MultilingualCTC, language_model, union_model
from asrtl.train.loop import train_step

TINY_MODEL = dict(name="tiny", dim=32, num_layers=2, heads=2, ffn_dim=64,
                  subsampling_channels=8)


@pytest.fixture(scope="module")
def setup(tiny_corpora):
    train = {lang: c.cuts("train") for lang, c in tiny_corpora.items()}
    vocabs = {lang: Vocabulary.from_texts(cut_texts(cuts)) for lang, cuts in train.items()}
    torch.manual_seed(0)
    return MultilingualCTC(ModelConfig(**TINY_MODEL), vocabs), train, vocabs


def test_each_head_learns_only_from_its_languages_batches(setup):
    model, train, vocabs = setup
    plan = [(lang, [next(iter(train[lang])).id]) for lang in ("turkish", "bengali", "turkish")]
    data = MixedDataset(train, vocabs, plan)
    assert [data[i].language for i in range(3)] == ["turkish", "bengali", "turkish"]
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    fbank, specaug = Fbank(), SpecAugment(0, 0, 0, 0)
    for i in range(3):
        batch = data[i]
        other = "bengali" if batch.language == "turkish" else "turkish"
        before = {k: v.clone() for k, v in model.state_dict().items()}
        train_step(model, fbank, specaug, optimizer, scaler, batch, 5.0, None)
        mine, theirs = model.heads[batch.language], model.heads[other]
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in mine.parameters())
        assert all(p.grad is None for p in theirs.parameters())
        after = model.state_dict()
        assert torch.equal(after[f"heads.{other}.weight"], before[f"heads.{other}.weight"])
        assert not torch.equal(after[f"heads.{batch.language}.weight"],
                               before[f"heads.{batch.language}.weight"])
        for shared in ("frontend.out.weight", "encoder.layers.1.ffn2.sequential.4.weight"):
            assert not torch.equal(after[shared], before[shared])  # every batch trains these
    with pytest.raises(ValueError, match="no head for language 'lao'"):
        model(torch.zeros(1, 50, 80), torch.tensor([50]), "lao")


def test_sampling_follows_the_temperature():
    sizes = {"big": 4.0, "small": 1.0}
    assert language_probs(sizes, 1.0) == pytest.approx({"big": 0.8, "small": 0.2})
    assert language_probs(sizes, 2.0) == pytest.approx({"big": 2 / 3, "small": 1 / 3})
    assert language_probs(sizes, 1e6)["small"] == pytest.approx(0.5, abs=1e-5)
    assert language_probs(sizes, 0.5)["big"] == pytest.approx(16 / 17)
    with pytest.raises(ValueError, match="temperature must be > 0"):
        language_probs(sizes, 0)
    with pytest.raises(ValueError, match="no training data for small"):
        language_probs({"big": 1.0, "small": 0.0}, 1.0)

    def batches_of(lang: str, rnd: int) -> list[list[str]]:
        return [[f"{lang}-{rnd}-{i}"] for i in range(7)]

    for temperature in (1.0, 2.0, 10.0):
        probs = language_probs(sizes, temperature)
        plan = mixed_plan(batches_of, probs, 6000, seed=0, epoch=3)
        share = collections.Counter(lang for lang, _ in plan)["small"] / len(plan)
        assert share == pytest.approx(probs["small"], abs=0.02), temperature
        small = [ids[0] for lang, ids in plan if lang == "small"]  # in order, round after round
        assert small[:8] == [f"small-0-{i}" for i in range(7)] + ["small-1-0"]
    assert plan == mixed_plan(batches_of, probs, 6000, seed=0, epoch=3)  # resumable
    assert plan != mixed_plan(batches_of, probs, 6000, seed=0, epoch=4)


def test_views_share_weights_and_the_union_head_averages(setup):
    model, _, vocabs = setup
    model.eval()
    feats = Fbank()(torch.randn(1, 16000), torch.tensor([16000]))
    view = language_model(model, "bengali")
    assert view.head is model.heads["bengali"] and view.encoder is model.encoder
    torch.testing.assert_close(view(*feats)[0], model(*feats, "bengali")[0])
    union, vocab = union_model(model)
    assert set(vocab.tokens) == set(vocabs["bengali"].tokens) | set(vocabs["turkish"].tokens)
    assert union.encoder is not model.encoder  # a copy: transfer cannot touch the source
    b, t = model.heads["bengali"], model.heads["turkish"]
    bi, ti, ui = vocabs["bengali"].index, vocabs["turkish"].index, vocab.index
    only_turkish = next(tok for tok in vocabs["turkish"].tokens if tok not in bi)
    torch.testing.assert_close(union.head.weight[ui[only_turkish]], t.weight[ti[only_turkish]])
    torch.testing.assert_close(union.head.bias[ui["|"]], (b.bias[bi["|"]] + t.bias[ti["|"]]) / 2)
    with pytest.raises(ValueError, match="at least 2 languages"):
        MultilingualCTC(ModelConfig(**TINY_MODEL), {"bengali": vocabs["bengali"]})


def test_a_shared_phone_head_is_one_head_for_every_language(tiny_corpora, cache_dir, tmp_path):
    """units=phones: one attribute-composed head over the union inventory (a universal phone
    recogniser), the same module in every language's view, saved and loaded as such."""
    from asrtl.data.phones import with_units
    from asrtl.multilingual.model import SHARED, checkpoint_meta, load_multilingual
    from asrtl.train.checkpoint import save_checkpoint

    phones = {lang: with_units(c, "phones", cache_dir) for lang, c in tiny_corpora.items()}
    union = Vocabulary.from_texts([t for c in phones.values() for t in cut_texts(c.cuts("train"))],
                                  units="phones")
    vocabs = {lang: union for lang in phones}
    cfg = ModelConfig(**TINY_MODEL, head="attributes")
    with pytest.raises(UserError, match="is for the shared phone head"):
        MultilingualCTC(cfg, vocabs)
    model = MultilingualCTC(cfg, vocabs, shared_head=True)
    model.heads[SHARED].set_vocab(union)
    assert list(model.heads) == [SHARED] and model.languages == ["bengali", "turkish"]
    assert language_model(model, "bengali").head is language_model(model, "turkish").head
    source, vocab = union_model(model)
    assert vocab == union and source.cfg.head == "attributes"
    ckpt = save_checkpoint(tmp_path, "step-1", model, checkpoint_meta(vocabs, shared_head=True))
    loaded, meta, _ = load_multilingual(ckpt)
    assert loaded.shared_head and meta.units == "phones"
    model.eval(), loaded.eval()
    feats = Fbank()(torch.randn(1, 16000), torch.tensor([16000]))
    torch.testing.assert_close(loaded(*feats, "turkish")[0], model(*feats, "turkish")[0])
