"""recipes/multilingual.py and a multilingual transfer source, as a user runs them."""

from __future__ import annotations

import json

import pytest
import torch

from asrtl.data.manifest import cut_texts
from asrtl.data.vocab import Vocabulary
from asrtl.models.ctc import CTCModel
from asrtl.multilingual.model import load_multilingual, load_source
from asrtl.train.checkpoint import load_checkpoint
from tests.conftest import SEED, TINY_DATA, _run, _run_here

ML = ["languages=[bengali,turkish]", "model=tiny", "train.epochs=3", "train.batch_duration_s=12",
      "train.num_workers=0", "train.lr=3e-3", "train.warmup_steps=10", "decode.beam_size=8",
      f"seed={SEED}", *TINY_DATA]


@pytest.fixture(scope="module")
def multilingual(tiny_corpora, cache_dir, tmp_path_factory):
    exp = tmp_path_factory.mktemp("exp-ml")
    res = _run("multilingual", *ML, f"exp_dir={exp}", cache=cache_dir)
    assert res.returncode == 0, res.stderr[-3000:]
    return exp, res


@pytest.mark.learning
def test_trains_every_language_and_records_its_heads(multilingual, tiny_corpora):
    exp, res = multilingual
    run = exp / "multilingual" / "bengali+turkish"
    for lang in ("bengali", "turkish"):
        assert f"{lang} test greedy: WER" in res.stdout
        assert (run / "results" / lang / "test-beam" / "scores.json").is_file()
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 3
    for key in ("train_loss/bengali", "train_loss/turkish", "valid_wer/bengali",
                "valid_cer/turkish"):
        assert key in rows[-1]
    assert rows[-1]["train_loss"] < rows[0]["train_loss"]
    # the checkpoint: languages and each head's vocabulary; round-trips exactly
    model, meta, ckpt = load_multilingual(run)
    assert meta.kind == "multilingual" and meta.languages == ["bengali", "turkish"]
    for lang in ("bengali", "turkish"):
        vocab = Vocabulary.from_texts(cut_texts(tiny_corpora[lang].cuts("train")))
        assert meta.vocabs[lang] == vocab.tokens
        assert model.heads[lang].out_features == len(vocab)
    from safetensors.torch import load_file
    saved = load_file(str(ckpt / "model.safetensors"))
    assert saved.keys() == model.state_dict().keys()
    assert all(torch.equal(saved[k], v) for k, v in model.state_dict().items())
    with pytest.raises(ValueError, match="is a multilingual model, not a CTC"):
        load_checkpoint(run)


def test_transfers_from_the_shared_encoder(multilingual, cache_dir):
    exp, _ = multilingual
    args = ["target=bengali", "target_hours=0.02", "model=tiny", "train.epochs=1",
            "train.batch_duration_s=12", "train.num_workers=0", "decode.beam=false",
            *TINY_DATA, f"exp_dir={exp}"]
    res = _run("transfer", "source=multilingual:bengali+turkish", *args, cache=cache_dir)
    assert res.returncode == 0, res.stderr[-3000:]
    run = exp / "transfer" / "multilingual:bengali+turkish-to-bengali" / "finetune"
    report = json.loads((run / "copy_report.json").read_text())
    assert report["layers"] == ["frontend", "encoder.layers.0", "encoder.layers.1",
                                "encoder.layers.2", "head"]
    assert report["head"]["token_coverage"] == 1.0 and not report["head"]["new"]
    model, _, ckpt = load_multilingual(exp / "multilingual" / "bengali+turkish")
    summary = json.loads((run / "summary.json").read_text())
    assert summary["source_checkpoint"] == str(ckpt)
    # the same source by path (source_checkpoint=...): the union head over both vocabularies
    source = load_source(ckpt)
    assert isinstance(source.model, CTCModel) and source.path == ckpt
    assert set(source.vocab.tokens) == {t for v in model.vocabs.values() for t in v.tokens}
    # a multilingual model that was never trained
    res = _run("transfer", "source=multilingual:thai+turkish", *args, cache=cache_dir)
    assert res.returncode == 2
    assert "recipes/multilingual.py languages=[thai,turkish]" in res.stderr.splitlines()[-1]


@pytest.mark.parametrize("args,needle", [
    (["languages=[bengali]"], "at least 2 different languages"),
    (["languages=[bengali,bengali]"], "at least 2 different languages"),
    (["languages=[bengali,klingon]"], "klingon"),
    (["languages=[bengali,turkish]", "temperature=0"], "temperature must be > 0"),
    ([], "languages=..."),
])
def test_bad_inputs_fail_in_one_named_line(args, needle, cache_dir, tmp_path):
    res = _run_here("multilingual", "model=tiny", *TINY_DATA, *args, f"exp_dir={tmp_path}",
               cache=cache_dir)
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2 and lines and needle in lines[-1], res.stderr[-800:]
