"""The report from a small fixture of stored results: numbers in = numbers out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from asrtl.records import Ranking, TransferSummary
from asrtl.study.layout import StudyLayout
from asrtl.study.report import collect, spearman, write_report

LANGS = ["bengali", "assamese", "turkish", "thai"]
LAY = StudyLayout(0.1, 0.6, "finetune", "discriminative", "lid")
# WER by (source, target); "none": no pretraining, small budget
WER = {("none", "bengali"): 0.90, ("assamese", "bengali"): 0.55, ("turkish", "bengali"): 0.70,
       ("thai", "bengali"): 0.75, ("bengali", "bengali"): 0.50,
       ("none", "assamese"): 0.85, ("bengali", "assamese"): 0.60,
       ("turkish", "assamese"): 0.62, ("thai", "assamese"): 0.90,  # thai no better than none
       ("assamese", "assamese"): 0.52}
LOO = {"bengali": {"assamese": 0.5, "turkish": 0.3, "thai": 0.2},   # ranks as WER does
       "assamese": {"bengali": 0.3, "turkish": 0.4, "thai": 0.3}}   # picks turkish: disagrees


def _write(root: Path, rel: str, data: dict) -> None:
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / rel).write_text(json.dumps(data))


def _summary(root: Path, rel: str, source: str, target: str, wer: float, cer: float) -> None:
    """A transfer's summary.json as recipes/transfer.py writes it."""
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    TransferSummary(source=source, target=target, strategy=Path(rel).parent.name, wer=wer,
                    cer=cer, wer_percent=100 * wer, cer_percent=100 * cer).save(root / rel)


@pytest.fixture
def study(tmp_path) -> Path:
    _write(tmp_path, "study.json", {
        "name": "fixture", "languages": LANGS, "small_hours": 0.1, "large_hours": 0.6,
        "strategy": "finetune", "adaptation": "discriminative", "lid": "lid",
        "focus": {"target": "bengali", "source": "assamese", "chosen_by": "LID"}})
    for (s, t), w in WER.items():
        rel = LAY.scratch_small(t) if s == "none" else LAY.transfer(s, t)
        _summary(tmp_path, rel, s, t, w, w / 3)
    _write(tmp_path, LAY.large_scratch("bengali"), {"wer": 0.58, "cer": 0.2})
    _summary(tmp_path, LAY.small_source("assamese", "bengali"), "assamese", "bengali", 0.8, 0.3)
    _summary(tmp_path, LAY.adapted("assamese", "bengali"), "assamese", "bengali", 0.53, 0.17)
    _write(tmp_path, "lid/rankings.json", {t: {"ranking": [
        {"source": s, "score": v} for s, v in sorted(r.items(), key=lambda x: -x[1])],
        "best": max(r, key=r.get), "top_share_bootstrap": {max(r, key=r.get): 0.9}}
        for t, r in LOO.items()})
    _write(tmp_path, "lid/lid_matrix.json", {"columns": LANGS, "frame_mean": {
        t: {s: 0.25 for s in LANGS} for t in LANGS}})
    _write(tmp_path, "lid/accuracy.json", {"utterance_accuracy": 0.8,
                                           "per_language": {t: 0.8 for t in LANGS}})
    return tmp_path


def test_numbers_ranks_and_agreement(study):
    res = collect(study)
    assert res["wer"]["assamese"]["bengali"] == 0.55 and res["wer"]["none"]["bengali"] == 0.90
    assert res["cer"]["bengali"]["bengali"] == pytest.approx(0.5 / 3)
    assert res["wer"]["bengali"]["turkish"] is None  # never run: shown, not invented
    bn, asm = res["per_target"]["bengali"], res["per_target"]["assamese"]
    assert bn["wer_ranking"] == ["assamese", "turkish", "thai"] and bn["wer_best"] == "assamese"
    assert bn["lid_best"] == "assamese" and bn["agree"] is True
    assert bn["spearman_lid_score_vs_neg_wer"] == pytest.approx(1.0)  # LID ranks like WER
    assert asm["wer_best"] == "bengali" and asm["lid_best"] == "turkish"
    assert asm["agree"] is False
    assert asm["not_improved_over_scratch"] == ["thai"] and bn["not_improved_over_scratch"] == []
    assert "transfer/turkish-to-thai/finetune/summary.json" in res["missing"]
    assert res["runs"]["assamese->bengali"]["file"] == LAY.transfer("assamese", "bengali")


def test_which_predictor_judges_each_ranker_against_wer(study):
    from asrtl.study.report import markdown

    assert collect(study)["predictors"]["summary"] == {}
    good = {"assamese": 3.0, "turkish": 2.0, "thai": 1.0}
    (study / "rank/bengali").mkdir(parents=True)
    Ranking(target="bengali", sources=["assamese", "thai", "turkish"],
            rankers={"good": good, "bad": {"assamese": 1.0, "turkish": 2.0, "thai": 3.0}},
            ranking=[{"source": s, "score": v} for s, v in good.items()],
            ).save(study / "rank/bengali/ranking.json")
    res = collect(study)
    wer = res["wer"]
    good = res["predictors"]["per_target"]["good"]["bengali"]
    bad = res["predictors"]["per_target"]["bad"]["bengali"]
    assert good["spearman"] == 1.0 and good["top1"] and good["regret"] == 0
    assert bad["spearman"] == -1.0 and bad["pick"] == "thai" and not bad["top1"]
    assert bad["regret"] == pytest.approx(100 * (wer["thai"]["bengali"]
                                                 - wer["assamese"]["bengali"]), abs=0.01)
    assert res["predictors"]["summary"]["good"] == {"mean_spearman": 1.0, "top1": 1,
                                                    "targets": 1, "mean_regret": 0.0}
    assert "| good | +1.00 | 1/1 | 0.0 | bengali: assamese |" in markdown(res)


def test_report_files_are_written_and_deterministic(study):
    out = write_report(study)
    md = (out / "report.md").read_text()
    assert "| bengali 0.1 h, no pretraining | 90.0 | 30.0 |" in md
    assert "| assamese 0.6 h -> bengali 0.1 h + discriminative | 53.0 | 17.0 |" in md
    assert "| bengali | assamese > turkish > thai (90 %) | assamese | yes | +1.00 |" in md
    assert "LID picked the best source for 1 of 2 targets" in md and "disagrees" in md
    assert "- By WER: no. Not better than the small-budget baseline: thai -> assamese." in md
    assert ("Negative transfer (the finetune transfer worse than or equal to no pretraining) "
            "in 1 of 6 pairs") in md  # targets with a baseline: bengali, assamese; 3 sources
    assert "- By CER: no. Not better than the small-budget baseline: thai -> assamese." in md
    wer = (out / "wer.csv").read_text().splitlines()
    assert wer[0] == "pretrain_on,bengali,assamese,turkish,thai"
    assert wer[1] == "none,0.9000,0.8500,,"
    for png in ("wer_matrix.png", "lid_matrix.png", "transfer_gain.png"):
        assert (out / png).stat().st_size > 5000
    before = {f.name: f.read_bytes() for f in out.iterdir()}
    write_report(study)
    assert {f.name: f.read_bytes() for f in out.iterdir()} == before


def test_spearman_and_bad_study(tmp_path):
    assert spearman([1, 2, 3], [3, 2, 1]) == -1.0
    assert spearman([1, 1, 1], [3, 2, 1]) is None
    with pytest.raises(FileNotFoundError, match="no study.json"):
        collect(tmp_path)


def test_the_report_says_which_corpus_each_language_came_from(study, tmp_path):
    """A recorded French corpus (data=csv, ../shared/realspeech) behind one language's
    pretraining run: its source, path, speakers and 44.1 kHz audio are in the report."""
    from asrtl.data.manifest import prepare_corpus
    from asrtl.models.ctc import CTCModel, ModelConfig
    from asrtl.train.state import RunState
    from tests.conftest import REPO

    csv = REPO.parent / "shared" / "realspeech" / "manifest.csv"
    corpus = prepare_corpus({"name": "csv", "path": str(csv), "cache_dir": str(tmp_path / "c")},
                            "fr")
    model = CTCModel(ModelConfig(name="t", dim=16, num_layers=1, heads=2, ffn_dim=32,
                                 subsampling_channels=4, num_mel_bins=16, vocab_size=5))
    RunState(study / LAY.pretrain_dir("turkish", 0.6)).save(
        "step-000001", model, {"corpus": {"dir": str(corpus.dir)}}, {"epoch": 1})
    res = collect(study)
    fr = res["corpora"]["turkish"]
    assert fr["source"] == "csv" and fr["path"] == str(csv)
    assert fr["splits"]["train"]["speakers"] == corpus.summary["splits"]["train"]["speakers"]
    assert 44100 in fr["sample_rates"]
    assert res["corpora"]["bengali"] is None  # no run kept
    write_report(study)
    md = (study / "report" / "report.md").read_text()
    assert f"| turkish | csv ({csv}) |" in md and "| bengali | n/a |" in md
