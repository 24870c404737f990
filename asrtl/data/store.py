"""Writing a prepared corpus: per-split lhotse manifests and ``summary.json``, atomically."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

from lhotse import CutSet, RecordingSet, SupervisionSet

SPLITS = ("train", "dev", "test", "adapt")


def write_manifests(splits: Mapping[str, CutSet], out: Path, summary: dict) -> dict:
    """Writes per-split recordings/supervisions/cuts and ``summary.json`` atomically.

    Split statistics are added to ``summary``; a concurrent writer that finished first wins.

    Returns:
        The summary as written.
    """
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    summary = dict(summary, splits={})
    train_words: set[str] = set()
    for split in SPLITS:
        if split not in splits:
            continue
        cuts = splits[split]
        cuts.to_file(tmp / f"{split}_cuts.jsonl.gz")
        RecordingSet.from_recordings({c.recording.id: c.recording for c in cuts}.values()
                                     ).to_file(tmp / f"{split}_recordings.jsonl.gz")
        SupervisionSet.from_segments(s for c in cuts for s in c.supervisions).to_file(
            tmp / f"{split}_supervisions.jsonl.gz")
        summary["splits"][split] = split_stats(cuts, train_words)
        if split == "train":
            train_words = {w for c in cuts for s in c.supervisions for w in s.text.split()}
    (tmp / "summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=1,
                                                 default=str))
    if out.exists():
        shutil.rmtree(tmp)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, out)
    return summary


def split_stats(cuts: CutSet, train_words: set[str]) -> dict:
    """Utterances, hours, speakers, distinct words and OOV rate (against ``train_words``)."""
    sups = [s for c in cuts for s in c.supervisions]
    tokens = [w for s in sups for w in s.text.split()]
    oov = sum(w not in train_words for w in tokens) / max(1, len(tokens)) if train_words else 0.0
    return {"utterances": len(sups), "hours": round(sum(c.duration for c in cuts) / 3600, 4),
            "speakers": len({s.speaker for s in sups}), "distinct_words": len(set(tokens)),
            "oov_rate": round(oov, 4)}


