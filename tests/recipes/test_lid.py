"""recipes/lid.py as a user runs it, on tiny embedded corpora (held-out speakers)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import soundfile as sf
from lhotse import CutSet, Recording, RecordingSet

from tests.conftest import SEED, TINY_DATA, _run, _run_here, record

# 0.05 h per language and 10 epochs: on 0.03 h, after 6 epochs assamese led bengali's ranking
# in 2 of 2 corpus builds but its bootstrap share was 0.845 in one, and after 10 epochs 0.875
# in 1 of 5 (tools/flake_check.py; BENCHMARKS.md, test suite)
LID_HOURS = 0.05
LID = [f"data.hours={LID_HOURS}", "train.epochs=10", "train.batch_duration_s=20",
       "train.num_workers=0", "bootstrap=200", f"seed={SEED}",
       *[a for a in TINY_DATA if not a.startswith("data.hours")]]


@pytest.fixture(scope="module")
def ranked(cache_dir, tmp_path_factory) -> Path:
    exp = tmp_path_factory.mktemp("exp-lid")
    res = _run("lid", "sources=[assamese,thai,turkish]", "target=bengali", f"exp_dir={exp}",
               *LID, cache=cache_dir)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "best source for bengali: assamese" in res.stdout
    return exp / "lid" / "assamese+thai+turkish-to-bengali"


@pytest.mark.learning
def test_bengali_ranks_assamese_first(ranked):
    out = json.loads((ranked / "ranking.json").read_text())
    acc = json.loads((ranked / "accuracy.json").read_text())
    record("lid", ranking=out["ranking"], top_share=out["top_share_bootstrap"],
           utterance_accuracy=acc["utterance_accuracy"])
    assert out["target"] == "bengali" and out["classes"] == ["assamese", "thai", "turkish"]
    scores = [r["score"] for r in out["ranking"]]
    assert [r["source"] for r in out["ranking"]][0] == "assamese"
    assert scores == sorted(scores, reverse=True) and sum(scores) == pytest.approx(1, abs=1e-3)
    assert out["top_share_bootstrap"]["assamese"] >= 0.9
    assert acc["split"] == "test" and acc["utterance_accuracy"] > 1 / 3  # above chance
    lines = (ranked / "lid_matrix.csv").read_text().splitlines()
    assert lines[0] == "input,assamese,thai,turkish"
    assert [ln.split(",")[0] for ln in lines[1:]] == ["assamese", "thai", "turkish", "bengali"]


def test_checkpoint_is_asrtl_format_and_not_an_acoustic_model(ranked):
    from asrtl.lid.model import load_lid
    from asrtl.train.checkpoint import load_checkpoint

    model, meta = load_lid(ranked)
    assert meta.languages == ["assamese", "thai", "turkish"] and meta.kind == "lid"
    assert (ranked / "checkpoints" / "latest.json").is_file()
    with pytest.raises(ValueError, match="not a CTC acoustic model"):
        load_checkpoint(ranked)


def _manifest(cuts: CutSet, path: Path, rate: int) -> Path:
    """The cuts' audio rewritten at ``rate`` into a RecordingSet manifest."""
    from asrtl.data.audio import load_audio

    recs = []
    for c in cuts:
        wav = path.parent / f"{c.id}.wav"
        audio = load_audio(c, sample_rate=rate)
        sf.write(wav, audio, rate)
        recs.append(Recording.from_file(wav, recording_id=c.id))
    RecordingSet.from_recordings(recs).to_file(path)
    return path


@pytest.mark.learning
def test_target_manifest_at_8khz_is_resampled(ranked, cache_dir, tmp_path):
    from asrtl.data.manifest import prepare_corpus
    from tests.conftest import TINY

    test = prepare_corpus(dict(TINY, cache_dir=str(cache_dir), hours=LID_HOURS),
                          "bengali").cuts("test")
    manifest = _manifest(test.subset(first=12), tmp_path / "bn8k_recordings.jsonl.gz", 8000)
    exp = ranked.parent.parent
    res = _run("lid", "sources=[assamese,thai,turkish]", f"target={manifest}",
               f"checkpoint={ranked}", f"exp_dir={exp}", *LID, cache=cache_dir)
    assert res.returncode == 0, res.stderr[-2000:]
    out = json.loads((exp / "lid" / "assamese+thai+turkish-to-bn8k_recordings" /
                      "ranking.json").read_text())
    assert out["sampling_rates"] == {"8000": 12} and out["utterances"] == 12
    assert out["ranking"][0]["source"] == "assamese"


def test_bad_inputs_fail_in_one_named_line(ranked, cache_dir, tmp_path):
    exp = tmp_path
    empty = tmp_path / "empty_cuts.jsonl.gz"
    CutSet.from_cuts([]).to_file(empty)
    cases = [
        (["sources=[assamese]", "target=bengali"], "at least 2 source languages"),
        (["sources=[assamese,thai,turkish]", f"target={empty}"], "has no audio"),
        (["sources=[assamese,thai,turkish]", f"target={tmp_path}/nope.jsonl.gz"],
         "audio manifest not found"),
        (["sources=[assamese,klingon]"], "klingon"),
        (["sources=[assamese,thai]", "lid.encoder=bert"], "unknown lid.encoder 'bert'"),
        (["sources=[assamese,thai]", "train.epochs=0"], "must be > 0"),
        (["sources=[assamese,thai]", f"checkpoint={ranked}"], "not sources=['assamese', 'thai']"),
    ]
    for i, (args, needle) in enumerate(cases):
        res = _run_here("lid", f"exp_dir={exp}/bad{i}", *LID, *args, cache=cache_dir)
        lines = res.stderr.strip().splitlines()
        assert res.returncode == 2 and lines and needle in lines[-1], (args, res.stderr[-800:])


def test_hours_is_a_deprecated_alias_and_old_runs_resume(ranked, cache_dir, tmp_path):
    """``hours=`` (what conf/scale/*.yaml of recipes/study.py pass) still works, with a
    warning; a run dir begun when LID read ``hours`` resumes instead of clashing."""
    run = tmp_path / "lid" / ranked.name
    shutil.copytree(ranked, run, ignore=shutil.ignore_patterns(".lock"))
    old = json.loads((run / "run.json").read_text())
    assert old["data"]["hours"] == LID_HOURS and old["hours"] is None
    old["data"]["hours"], old["hours"] = 0.5, LID_HOURS  # as asrtl wrote it before data.hours
    (run / "run.json").write_text(json.dumps(old))
    args = [f"hours={LID_HOURS}", *(a for a in LID if not a.startswith("data.hours"))]
    res = _run("lid", "sources=[assamese,thai,turkish]", "target=bengali",
               f"exp_dir={tmp_path}", *args, cache=cache_dir)
    assert res.returncode == 0, res.stderr[-3000:]
    assert (f"hours={LID_HOURS} is deprecated and will be removed: use "
            f"data.hours={LID_HOURS}") in (
        res.stdout + res.stderr)
    assert "best source for bengali: assamese" in res.stdout
    new = json.loads((run / "run.json").read_text())
    assert new["data"]["hours"] == LID_HOURS and new["hours"] is None
    assert json.loads((run / "ranking.json").read_text())["ranking"] == json.loads(
        (ranked / "ranking.json").read_text())["ranking"]
