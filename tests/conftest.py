"""Fixtures built once per run: a tiny two-language embedded corpus and the shared real clips."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"
TINY = {"name": "embedded", "hours": 0.02, "dev_utts": 12, "test_utts": 24, "adapt_utts": 8,
        "hard_speakers": 4, "workers": 2}


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private corpus cache for the whole test run (never the user's)."""
    path = tmp_path_factory.mktemp("asrtl-cache")
    os.environ["ASRTL_CACHE"] = str(path)
    return path


@pytest.fixture(scope="session")
def tiny_corpora(cache_dir: Path) -> dict:
    """Bengali and Turkish, about a minute of training audio each."""
    from asrtl.data.manifest import prepare_corpus

    return {lang: prepare_corpus(dict(TINY, cache_dir=str(cache_dir)), lang)
            for lang in ("bengali", "turkish")}


@pytest.fixture(scope="session")
def shared_clips() -> list[dict]:
    """Rows of ``../shared/data/manifest.csv`` with absolute paths (read in place)."""
    manifest = SHARED_DATA / "manifest.csv"
    if not manifest.is_file():
        pytest.fail(f"shared real clips not found: {manifest}")
    with manifest.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        row["abspath"] = str(SHARED_DATA / row["path"])
        row["utt_id"] = Path(row["path"]).stem
    return rows
