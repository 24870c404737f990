"""recipes/pretrain.py and recipes/decode.py as a user runs them."""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.conftest import TINY, TRAIN, _run, _run_here, _start, wait_for_line


def _final_weights(run: Path) -> dict[str, torch.Tensor]:
    latest = json.loads((run / "checkpoints" / "latest.json").read_text())
    return load_file(str(run / "checkpoints" / latest["name"] / "model.safetensors"))


def test_run_directory_layout(pretrained):
    run = pretrained
    for f in ("run.json", "log/pretrain.log", "log/hydra/config.yaml", "metrics.jsonl",
              "checkpoints/latest.json", "checkpoints/best.json",
              "results/test/hyps.txt", "results/test/errs.txt", "results/test-beam/scores.json"):
        assert (run / f).is_file(), f
    assert list((run / "tensorboard").glob("events.*"))
    assert "epoch 3 | train" in (run / "log/pretrain.log").read_text()
    scores = json.loads((run / "results/test/scores.json").read_text())
    assert {"wer", "cer", "wer_percent", "cer_percent", "rtf"} <= set(scores)
    assert scores["num_utts"] == TINY["test_utts"]
    assert scores["cer"] == pytest.approx(scores["cer_percent"] / 100, abs=1e-4)
    hyps = (run / "results/test/hyps.txt").read_text().splitlines()
    assert len(hyps) == TINY["test_utts"] and all("\t" in h for h in hyps)
    meta = json.loads((run / "checkpoints" / json.loads(
        (run / "checkpoints/best.json").read_text())["name"] / "meta.json").read_text())
    assert meta["vocab"][:3] == ["<blank>", "<unk>", "|"] and meta["language"] == "turkish"
    assert meta["architecture"]["name"] == "tiny" and meta["config"]["seed"] == 0
    assert meta["features"]["num_mel_bins"] == 80


def test_kill_9_mid_epoch_then_rerun_reaches_the_same_weights(pretrained, cache_dir, tmp_path):
    exp = tmp_path / "exp-b"
    run = exp / "pretrain" / "turkish"
    proc = _start("pretrain", *TRAIN, f"exp_dir={exp}", cache=cache_dir)
    # a checkpoint in the middle of the second epoch or later (the log line follows the save)
    mid_epoch = wait_for_line(proc, r"saved checkpoint (\S+): mid-epoch \([1-9]\d* epochs")[1]
    state = torch.load(run / "checkpoints" / mid_epoch / "trainer.pt", weights_only=True)
    assert state["batch_in_epoch"] > 0 and state["epoch"] >= 1
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (run / "results").exists()  # it really died before finishing
    res = _run("pretrain", *TRAIN, f"exp_dir={exp}", cache=cache_dir)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "resuming from" in res.stdout + res.stderr
    a, b = _final_weights(pretrained), _final_weights(run)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    rows_a = [json.loads(x) for x in (pretrained / "metrics.jsonl").read_text().splitlines()]
    rows_b = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    for key in ("train_loss", "valid_loss", "valid_cer", "step"):
        assert [r[key] for r in rows_a] == [r[key] for r in rows_b], key


def test_failed_start_then_sigterm_then_resume(pretrained, cache_dir, tmp_path):
    exp = tmp_path / "exp-c"
    run = exp / "pretrain" / "turkish"
    # fails before its first step: it leaves nothing that blocks the corrected command
    res = _run("pretrain", *TRAIN, f"exp_dir={exp}", "train.batch_duration_s=1",
               cache=cache_dir)
    assert res.returncode == 2 and "shorter than the longest" in res.stderr, res.stderr[-800:]
    proc = _start("pretrain", *TRAIN, f"exp_dir={exp}", cache=cache_dir)
    wait_for_line(proc, r"saved checkpoint \S+: end of epoch 1")
    proc.send_signal(signal.SIGTERM)  # as a cluster pre-empting the job
    err = proc.communicate(timeout=120)[0].strip().splitlines()
    assert proc.returncode == 128 + signal.SIGTERM, err[-5:]
    assert err[-1].startswith("error: interrupted by SIGTERM") and "resume" in err[-1], err[-3:]
    assert not [ln for ln in err if "Traceback" in ln]
    res = _run("pretrain", *TRAIN, f"exp_dir={exp}", cache=cache_dir)  # no stale lock
    assert res.returncode == 0, res.stderr[-3000:]
    assert "resuming from" in res.stdout + res.stderr
    a, b = _final_weights(pretrained), _final_weights(run)
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_a_run_dir_held_by_a_live_run_is_refused(cache_dir, tmp_path):
    from asrtl.train.run import hold_run_dir

    run = tmp_path / "pretrain" / "turkish"
    run.mkdir(parents=True)
    hold_run_dir(run)  # this test process is the live run
    res = _run("pretrain", *TRAIN, f"exp_dir={tmp_path}", cache=cache_dir)
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2 and f"in use by a live run (pid {os.getpid()} on" in lines[-1]
    assert not (run / "run.json").exists()


def test_decode_beam_and_real_clips(pretrained, cache_dir, shared_clips, tmp_path):
    res = _run("decode", f"checkpoint={pretrained}", "decode=beam", "beam_size=8",
               cache=cache_dir)
    assert res.returncode == 0, res.stderr[-2000:]
    beam = json.loads((pretrained / "results/test-beam/scores.json").read_text())
    assert beam["lexicon_words"] > 50 and beam["decode"] == "beam"
    # Real recordings through the whole path (a synthetic-trained model: WER will be high).
    rows = [r for r in shared_clips if r["language"] == "en"]
    kaldi = tmp_path / "kaldi"
    kaldi.mkdir()
    (kaldi / "wav.scp").write_text("".join(f"{r['utt_id']} {r['abspath']}\n" for r in rows))
    (kaldi / "text").write_text("".join(f"{r['utt_id']} {r['transcript']}\n" for r in rows))
    (kaldi / "utt2spk").write_text("".join(f"{r['utt_id']} {r['speaker']}\n" for r in rows))
    res = _run("decode", f"checkpoint={pretrained}", "data=kaldi", f"data.path={kaldi}",
               "language=english", "split=all", cache=cache_dir)
    assert res.returncode == 0, res.stderr[-2000:]
    real = json.loads((pretrained / "results/kaldi-english-all/scores.json").read_text())
    assert real["num_utts"] == len(rows)
    assert real["cer"] > 0


def test_bad_inputs_fail_in_one_named_line(pretrained, cache_dir, tmp_path):
    corrupt = tmp_path / "corrupt-ckpt"
    best = json.loads((pretrained / "checkpoints/best.json").read_text())["name"]
    shutil.copytree(pretrained / "checkpoints" / best, corrupt)
    (corrupt / "model.safetensors").write_bytes(b"\x00" * 64)
    exp = pretrained.parent.parent
    cases = [
        (("pretrain", "language=klingon", f"exp_dir={tmp_path}"), "unknown language 'klingon'"),
        (("pretrain", "language=turkish", f"exp_dir={corrupt}/model.safetensors/exp"),
         "not a directory"),
        (("pretrain", *TRAIN, f"exp_dir={exp}", "model=small"), "other settings (model."),
        (("pretrain", "language=turkish", "train.epocs=3"), "train.epocs"),
        (("decode", f"checkpoint={tmp_path}/nowhere"), "no asrtl checkpoint"),
        (("decode", f"checkpoint={corrupt}"), "corrupt checkpoint weights"),
        (("decode", f"checkpoint={pretrained}", "decode=viterbi2"), "decode must be greedy"),
    ]
    for (recipe, *args), needle in cases:
        res = _run_here(recipe, *args, cache=cache_dir)
        lines = res.stderr.strip().splitlines()
        assert res.returncode == 2 and lines and lines[-1].startswith("error: "), (args,
                                                                                    res.stderr)
        assert needle in lines[-1], (args, lines[-1])
        assert not [ln for ln in lines if "Traceback" in ln], (args, res.stderr)


# ------------------------------------------------------------ exp_dir and split=all

def _one_speaker_kaldi(root: Path, rows: list[dict]) -> Path:
    root.mkdir(parents=True)
    (root / "wav.scp").write_text("".join(f"{r['utt_id']} {r['abspath']}\n" for r in rows))
    (root / "text").write_text("".join(f"{r['utt_id']} {r['transcript']}\n" for r in rows))
    (root / "utt2spk").write_text("".join(f"{r['utt_id']} {r['speaker']}\n" for r in rows))
    return root


def test_decode_exp_dir_and_split_all_of_a_tiny_kaldi_dir(pretrained, cache_dir, shared_clips,
                                                          tmp_path):
    """exp_dir: results under <exp_dir>/decode/<run>/, nothing written beside the checkpoint;
    split=all decodes a Kaldi dir too small to split (one utterance)."""
    run = tmp_path / "models" / "turkish"
    shutil.copytree(pretrained, run)
    before = sorted(p.relative_to(run) for p in run.rglob("*"))
    one = _one_speaker_kaldi(tmp_path / "one", [next(r for r in shared_clips
                                                    if r["utt_id"] == "sb-spk1_1")])
    exp = tmp_path / "exp"
    res = _run("decode", f"checkpoint={run}", "data=kaldi", f"data.path={one}",
               "language=english", "split=all", f"exp_dir={exp}", cache=cache_dir)
    assert res.returncode == 0, res.stderr[-2000:]
    scores = json.loads((exp / "decode/turkish/results/kaldi-english-all/scores.json")
                        .read_text())
    assert scores["num_utts"] == 1 and scores["split"] == "all"
    assert f"-> {exp / 'decode/turkish/results/kaldi-english-all'}" in res.stdout
    res = _run("decode", f"checkpoint={run}", f"exp_dir={exp}", cache=cache_dir)  # own corpus
    assert res.returncode == 0, res.stderr[-2000:]
    own = json.loads((exp / "decode/turkish/results/test/scores.json").read_text())
    assert own["num_utts"] == TINY["test_utts"]
    assert sorted(p.relative_to(run) for p in run.rglob("*")) == before  # only read
    # one utterance cannot be split into train/dev/test: one line, naming why
    res = _run("decode", f"checkpoint={run}", "data=kaldi", f"data.path={one}",
               "language=english", "split=test", f"exp_dir={exp}", cache=cache_dir)
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2 and "too few utterances (1) to hold out test" in lines[-1]


def test_speaker_adapt_split_all_of_one_speakers_kaldi_dir(pretrained, cache_dir, shared_clips,
                                                           tmp_path):
    """A Kaldi dir holding one speaker's recordings only: split=all adapts on k of them and
    evaluates on the others (the same for every k)."""
    rows = [r for r in shared_clips if r["speaker"] == "ljspeech"]
    alice = _one_speaker_kaldi(tmp_path / "ljspeech", rows)
    exp = tmp_path / "exp"
    res = _run("speaker_adapt", f"checkpoint={pretrained}", "data=kaldi", f"data.path={alice}",
               "split=all", "speaker=ljspeech", "utts=[1,2]", "method=lhuc", "method.steps=3",
               f"exp_dir={exp}", cache=cache_dir)
    assert res.returncode == 0, res.stderr[-2000:]
    out = json.loads((exp / "adapt/turkish/lhuc/results.json").read_text())
    assert out["split"] == "all"
    assert [(r["speaker"], r["k"], r["eval_utts"]) for r in out["rows"]] == [
        ("ljspeech", 1, 4), ("ljspeech", 2, 4)]  # one evaluation set for every k
    meta = json.loads((exp / "adapt/turkish/lhuc" / out["rows"][1]["dir"] / "adapted.json")
                      .read_text())
    assert sorted(meta["adapt_ids"] + meta["eval_ids"]) == sorted(r["utt_id"] for r in rows)
    assert "lhuc k=2 (1 speakers)" in res.stdout
