"""recipes/speaker_adapt.py as a user runs it, on the tiny corpus's hard speakers."""

from __future__ import annotations

import json
import math

from tests.recipes.test_pretrain_decode import _run, pretrained  # noqa: F401 (fixture)


def test_adapts_every_hard_speaker_and_keeps_evaluation_apart(pretrained, cache_dir,  # noqa: F811
                                                              tmp_path):
    res = _run("speaker_adapt", f"checkpoint={pretrained}", "speakers=all", "utts=[1,2]",
               "method=lhuc", "method.steps=5", f"exp_dir={tmp_path}", cache=cache_dir)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "lhuc k=2 (4 speakers): WER" in res.stdout
    run = tmp_path / "adapt" / "turkish" / "lhuc"
    out = json.loads((run / "results.json").read_text())
    assert len(out["rows"]) == 8 and out["utts"] == [1, 2]
    for row in out["rows"]:
        meta = json.loads((run / row["dir"] / "adapted.json").read_text())
        assert len(meta["adapt_ids"]) == row["k"] and meta["eval_ids"]
        assert not set(meta["adapt_ids"]) & set(meta["eval_ids"])
        assert meta["num_parameters"] == sum(math.prod(s) for s in meta["parameters"].values())
        assert (run / row["dir"] / "adapted.safetensors").stat().st_size < 20_000
    speakers = {r["speaker"] for r in out["rows"]}
    for spk in speakers:  # one evaluation set per speaker, whatever k
        evals = {tuple(json.loads((run / r["dir"] / "adapted.json").read_text())["eval_ids"])
                 for r in out["rows"] if r["speaker"] == spk}
        assert len(evals) == 1


def test_bad_inputs_fail_in_one_named_line(pretrained, cache_dir, tmp_path):  # noqa: F811
    cases = [(["speaker=nobody", "utts=1"], "unknown speaker 'nobody'"),
             (["speakers=all", "utts=10"], "needs at least 11"),
             (["utts=1"], "give speaker=<id> or speakers=all"),
             (["speakers=all", "method=magic"], "method"),
             ]
    for args, needle in cases:
        res = _run("speaker_adapt", f"checkpoint={pretrained}", f"exp_dir={tmp_path}/{needle[:4]}",
                   *args, cache=cache_dir)
        lines = res.stderr.strip().splitlines()
        assert res.returncode == 2 and lines and needle in lines[-1], (args, res.stderr[-800:])
