"""A user's mistake is one line; a bug keeps its traceback (``asrtl.errors.UserError`` is the
only exception a recipe turns into ``error: ...``)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from asrtl.errors import MissingInput, UserError
from tests.conftest import TRAIN, _run_here


def _fail_with(exc: Exception):
    def pretrain_language(*args, **kwargs):
        raise exc
    return pretrain_language


@pytest.mark.parametrize("exc", [ValueError("boom: a bug"), KeyError("boom: a bug"),
                                 FileNotFoundError("boom: a bug")], ids=type)
def test_a_bug_keeps_its_traceback(exc, monkeypatch, cache_dir, tmp_path):
    import asrtl.train.run

    monkeypatch.setattr(asrtl.train.run, "pretrain_language", _fail_with(exc))
    res = _run_here("pretrain", *TRAIN, f"exp_dir={tmp_path}", cache=cache_dir)
    assert res.returncode == 1, res.stderr
    assert "Traceback" in res.stderr and "boom: a bug" in res.stderr
    assert "error: boom" not in res.stderr


@pytest.mark.parametrize("exc", [UserError("data.path: no such corpus"),
                                 MissingInput("data.path: no such corpus")], ids=type)
def test_a_user_error_is_one_line(exc, monkeypatch, cache_dir, tmp_path):
    import asrtl.train.run

    monkeypatch.setattr(asrtl.train.run, "pretrain_language", _fail_with(exc))
    res = _run_here("pretrain", *TRAIN, f"exp_dir={tmp_path}", cache=cache_dir)
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == ["error: data.path: no such corpus"]


def test_user_errors_are_value_errors_for_old_callers():
    assert issubclass(UserError, ValueError) and issubclass(MissingInput, FileNotFoundError)


def _corrupt_inputs(tmp: Path) -> list[tuple[str, Callable[[], object]]]:
    """Files a run wrote (or a user edited) that are now corrupt, each with the call that
    reads it: ``(what the one line must name, call)``."""
    from asrtl.adapt.run import load_adapted
    from asrtl.data.manifest import Corpus
    from asrtl.models.peft import load_peft
    from asrtl.study.report import collect
    from asrtl.train.checkpoint import resolve_checkpoint
    from asrtl.train.run import claim_run_dir
    from asrtl.train.state import read_metrics

    def put(rel: str, data: bytes) -> Path:
        f = tmp / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(data)
        return f

    put("run/checkpoints/best.json", b'{"name": "step-0')
    put("pointer/checkpoints/latest.json", b'{"step": 3}')
    put("claimed/run.json", b"{")
    put("claimed/checkpoints/step-1/meta.json", b"{}")
    put("metrics/metrics.jsonl", b'{"epoch": 1}\n{"epoch": 2')
    put("study/study.json", b"\x89PNG")
    put("adapted/adapted.json", b"[1,")
    adapter = put("peft/adapter.safetensors", b"\x00" * 64)
    put("corpus/train_cuts.jsonl.gz", b"not gzip at all")
    corpus = Corpus(language="x", source="embedded", dir=tmp / "corpus", summary={})
    return [
        ("corrupt checkpoint pointer", lambda: resolve_checkpoint(tmp / "run")),
        ("names no checkpoint", lambda: resolve_checkpoint(tmp / "pointer")),
        ("corrupt run config", lambda: claim_run_dir(tmp / "claimed", {"a": 1},
                                                     work="checkpoints/*")),
        ("corrupt metrics file", lambda: read_metrics(tmp / "metrics")),
        ("corrupt study record", lambda: collect(tmp / "study")),
        ("corrupt speaker adaptation record", lambda: load_adapted(tmp / "adapted")),
        ("corrupt adapter file", lambda: load_peft(torch.nn.Linear(1, 1), adapter)),
        ("corrupt corpus manifest", lambda: corpus.cuts("train")),
    ]


@pytest.mark.parametrize("case", range(8))
def test_a_corrupt_file_a_run_wrote_is_one_error_naming_it(case, tmp_path):
    what, call = _corrupt_inputs(tmp_path)[case]
    with pytest.raises(UserError) as e:
        call()
    line = str(e.value)
    assert what in line and str(tmp_path) in line and "\n" not in line, line


@pytest.mark.parametrize("key, value, hint, needle", [
    ("temperature", "hot", float, "temperature: expected a number, got 'hot'"),
    ("utts", 2.5, int, "utts: expected an integer, got 2.5"),
    ("data.dev_fraction", "10%", float, "data.dev_fraction: expected a number"),
])
def test_a_setting_read_outside_a_settings_class_names_its_key(key, value, hint, needle):
    from asrtl.settings import checked

    with pytest.raises(UserError, match=re.escape(needle)):
        checked(key, value, hint)


@pytest.mark.parametrize("added", [["+language=turkish"], ["++train.lr=0.01"],
                                   ["+hydra.job.chdir=false"], ["+model=tiny"]],
                         ids=["required-key", "known-key", "hydra-key", "config-group"])
def test_plus_is_refused_only_for_keys_the_recipe_lacks(added, capsys):
    from asrtl.cli import _check_added_keys

    _check_added_keys("pretrain", added)  # no exit
    with pytest.raises(SystemExit) as e:
        _check_added_keys("pretrain", [*added, "+train.lrr=0.01"])
    assert e.value.code == 2
    assert "unknown setting train.lrr" in capsys.readouterr().err


def test_check_overrides_composes_the_config_named_by_config_name(capsys):
    from asrtl.cli import check_overrides

    for argv in (["--config-name", "demo_real"], ["--config-name=demo_real"], ["-cn", "demo_real"],
                 ["--config-name", "demo_real", "lang.it.data=csv"]):
        check_overrides("demo", argv)  # composes demo_real: no exit
    with pytest.raises(SystemExit):
        check_overrides("demo", ["--config-name", "demo_real", "target_hourz=1"])
    assert "target_hourz" in capsys.readouterr().err
