"""A real Kaldi dir smaller than asked for, and one too small to split: what the cache is
called and what the user is told (the real clips of ../shared/data, read in place)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from asrtl.data.manifest import prepare_corpus
from tests.helpers import data_config, kaldi_dir


@pytest.fixture()
def split_dir(shared_clips, tmp_path) -> Path:
    """train (the short sb-spk1/sb-spk2 clips, 15 s in all), dev and test: its own splits."""
    sb = [r for r in shared_clips if r["speaker"].startswith("sb-")]
    root = tmp_path / "kaldi"
    kaldi_dir(root / "train", sb)
    kaldi_dir(root / "dev", [r for r in shared_clips if r["speaker"] == "jfk"])
    kaldi_dir(root / "test", [r for r in shared_clips if r["speaker"] == "libri-1995"])
    return root


def _train_s(corpus) -> float:
    return sum(c.duration for c in corpus.cuts("train"))


def test_hours_beyond_the_corpus_use_it_all_and_say_so(shared_clips, split_dir, tmp_path,
                                                       caplog):
    with caplog.at_level(logging.WARNING, logger="asrtl.data.manifest"):
        corpus = prepare_corpus(data_config("kaldi", split_dir, tmp_path / "c", hours=5), "english")
    assert corpus.dir.name == "corpus-all"  # not corpus-5h: it holds 15 s
    total = sum(float(r["duration_s"]) for r in shared_clips if r["speaker"].startswith("sb-"))
    assert len(corpus.cuts("train")) == 6 and _train_s(corpus) == pytest.approx(total, abs=0.05)
    warned = [r.getMessage() for r in caplog.records if "data.hours=5" in r.getMessage()]
    assert len(warned) == 1 and "has only 0.004 h of training audio (6 utterances): using " \
                               "all of it (cached as corpus-all)" in warned[0]
    assert json.loads((corpus.dir / "summary.json").read_text())["warnings"] == warned
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="asrtl.data.manifest"):  # from the cache
        again = prepare_corpus(data_config("kaldi", split_dir, tmp_path / "c", hours=5), "english")
    assert again.dir == corpus.dir
    assert [r.getMessage() for r in caplog.records] == warned  # told again, not only once


def test_hours_within_the_corpus_cap_it_and_name_the_cap(split_dir, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="asrtl.data.manifest"):
        capped = prepare_corpus(data_config("kaldi", split_dir, tmp_path / "c", hours=0.001),
                                "english")
    assert capped.dir.name == "corpus-0.001h"
    assert 3.6 <= _train_s(capped) < 10 and len(capped.cuts("train")) < 6
    assert not [r for r in caplog.records if "data.hours" in r.getMessage()]
    full = prepare_corpus(data_config("kaldi", split_dir, tmp_path / "c"), "english")
    assert full.dir.name == "corpus-all" and len(full.cuts("train")) == 6
    assert capped.dir.parent != full.dir.parent  # one cache key each


def test_an_old_cache_is_still_found(split_dir, tmp_path):
    corpus = prepare_corpus(data_config("kaldi", split_dir, tmp_path / "c"), "english")
    old = corpus.dir.with_name("corpus-allh")  # what asrtl called it before
    corpus.dir.rename(old)
    assert prepare_corpus(data_config("kaldi", split_dir, tmp_path / "c"), "english").dir == old


def test_a_dir_too_small_to_split_warns_and_suggests_split_all(shared_clips, tmp_path, caplog):
    kaldi = kaldi_dir(tmp_path / "alice", [r for r in shared_clips
                                            if r["speaker"].startswith("sb-")])
    with caplog.at_level(logging.WARNING, logger="asrtl.data.manifest"):
        corpus = prepare_corpus(data_config("kaldi", kaldi, tmp_path / "c"), "english")
    assert [len(corpus.cuts(s)) for s in ("train", "dev", "test")] == [4, 1, 1]
    warned = [r.getMessage() for r in caplog.records if "split=all" in r.getMessage()]
    assert len(warned) == 1, caplog.text
    assert ("6 utterances in all, so the dev and test splits held out of them hold too few "
            "to score on (dev 1, test 1 utterances); give more data, or split=all") in warned[0]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="asrtl.data.manifest"):  # split=all: no split
        whole = prepare_corpus(data_config("kaldi", kaldi, tmp_path / "c"), "english",
                               hold_out=False)
    assert len(whole.cuts("all")) == 6 and whole.splits == ["train"]
    assert not [r for r in caplog.records if "split=all" in r.getMessage()]


def test_its_own_small_splits_are_not_warned_about(split_dir, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="asrtl.data.manifest"):
        corpus = prepare_corpus(data_config("kaldi", split_dir, tmp_path / "c"), "english")
    assert len(corpus.cuts("dev")) == 1  # the user's own choice
    assert not [r for r in caplog.records if "split=all" in r.getMessage()]


@pytest.mark.parametrize("hours", ["lots", -1, True])
def test_bad_hours_fail_naming_the_key(split_dir, tmp_path, hours):
    with pytest.raises(ValueError, match=r"^data.hours: expected hours of audio \(or null: "
                                         r"all\), got"):
        prepare_corpus(data_config("kaldi", split_dir, tmp_path / "c", hours=hours), "english")
