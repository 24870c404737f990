"""``data=csv`` on recorded Malayalam and French from ../shared/realspeech (read in place):
WebM/Opus converted through FFmpeg, speaker- and sentence-disjoint held-out splits, one-line
errors."""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import pytest
import soundfile as sf

from asrtl.data.audio import load_audio
from asrtl.data.manifest import prepare_corpus
from asrtl.errors import MissingInput, UserError
from tests.conftest import REPO
from tests.helpers import data_config

REAL = REPO.parent / "shared" / "realspeech"
FIELDS = ["path", "language", "speaker", "transcript"]


def _rows() -> list[dict[str, str]]:
    f = REAL / "manifest.csv"
    if not f.is_file():
        pytest.fail(f"shared recordings not found: {f}")
    with f.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _write(path: Path, rows: list[dict[str, str]], fields: list[str] = FIELDS) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    return path


def _malayalam(tmp_path: Path, speakers: int = 10) -> Path:
    """A CSV of Malayalam WebM recordings (absolute paths) of ``speakers`` speakers: each
    reads up to 2 of the 4 sentences most of them read, and 4 that few do, so that sentences
    recur across speakers, as in the whole corpus."""
    rows = [r for r in _rows() if r["language"] == "ml" and r["path"].endswith(".webm")]
    count = defaultdict(int)
    for r in rows:
        count[r["speaker"]] += 1
    top = sorted(sorted(count, key=lambda s: (-count[s], s))[:speakers])
    readers = defaultdict(set)
    for r in rows:
        if r["speaker"] in top:
            readers[r["transcript"]].add(r["speaker"])
    common = sorted(readers, key=lambda t: (-len(readers[t]), t))[:4]
    picked = []
    for spk in top:
        mine = sorted((r for r in rows if r["speaker"] == spk), key=lambda r: r["path"])
        picked += [r for r in mine if r["transcript"] in common][:2]
        picked += [r for r in mine if len(readers[r["transcript"]]) < 3][:4]
    return _write(tmp_path / "ml.csv", [{**r, "path": str(REAL / r["path"])} for r in picked])


def test_webm_is_converted_and_held_out_splits_share_no_speaker_or_sentence(tmp_path):
    manifest = _malayalam(tmp_path)
    corpus = prepare_corpus(data_config("csv", manifest, tmp_path / "cache", hours=None),
                            "ml")
    assert corpus.language == "malayalam" and set(corpus.splits) == {"train", "dev", "test"}
    cuts = {s: corpus.cuts(s) for s in corpus.splits}
    spk = {s: {c.supervisions[0].speaker for c in v} for s, v in cuts.items()}
    text = {s: {c.supervisions[0].text for c in v} for s, v in cuts.items()}
    assert not spk["train"] & (spk["dev"] | spk["test"]) and not spk["dev"] & spk["test"]
    assert not text["train"] & (text["dev"] | text["test"]) and not text["dev"] & text["test"]
    dropped = corpus.summary["dropped_for_held_out_sentences"]
    assert dropped.get("train", 0) > 0  # the shared sentences were read in training too
    # the WebM audio, converted into the cache as 16 kHz FLAC, reads through lhotse
    cut = next(iter(cuts["test"]))
    src = cut.recording.sources[0].source
    assert src.startswith(str(tmp_path / "cache" / "csv" / "malayalam")) and src.endswith(".flac")
    assert sf.info(src).samplerate == 16000
    audio = load_audio(cut)
    assert len(audio) == pytest.approx(cut.duration * 16000, abs=2) and abs(audio).max() > 0.01
    # a rerun reuses the cache: nothing converted again
    mtime = Path(src).stat().st_mtime_ns
    again = prepare_corpus(data_config("csv", manifest, tmp_path / "cache", hours=None),
                           "malayalam")
    assert again.dir == corpus.dir and Path(src).stat().st_mtime_ns == mtime


def test_paths_relative_to_the_csv_and_the_language_by_name_or_code(tmp_path):
    """The shared manifest itself (paths relative to it): French, soundfile-readable Ogg."""
    corpus = prepare_corpus(data_config("csv", REAL / "manifest.csv", tmp_path / "cache"),
                            "french")
    n = sum(len(corpus.cuts(s)) for s in corpus.splits)
    assert n == sum(r["language"] == "fr" for r in _rows())
    src = next(iter(corpus.cuts("train"))).recording.sources[0].source
    assert src.startswith(str(REAL / "fr"))  # read in place, not converted


def test_bad_csvs_fail_in_one_line_naming_the_thing(tmp_path):
    ok = [r for r in _rows() if r["language"] == "fr"][:4]
    cache = tmp_path / "cache"
    no_col = _write(tmp_path / "no_col.csv", ok, ["path", "language", "transcript"])
    gone = _write(tmp_path / "gone.csv", [{**ok[0], "path": "nowhere/x.ogg"}])
    (tmp_path / "bad.webm").write_bytes(b"\x1aE\xdf\xa3 not really webm")
    garbage = _write(tmp_path / "garbage.csv", [{**ok[0], "path": "bad.webm"}])
    cases = [
        (no_col, "fr", UserError, "missing column(s) ['speaker']"),
        (_write(tmp_path / "fr.csv", [{**r, "path": str(REAL / r["path"])} for r in ok]),
         "malayalam", UserError, "no rows of language malayalam (it has: fr)"),
        (gone, "fr", UserError, "audio file not found"),
        (garbage, "fr", UserError, "cannot decode with FFmpeg"),
        (tmp_path / "absent.csv", "fr", MissingInput, "data.path not found"),
    ]
    for path, lang, exc, needle in cases:
        with pytest.raises(exc) as e:
            prepare_corpus(data_config("csv", path, cache), lang)
        line = str(e.value)
        assert needle in line and "\n" not in line, (path.name, line)


def test_one_language_from_another_corpus(tmp_path):
    """``lang.<L>.data=csv lang.<L>.path=...``: French from the recorded CSV, whatever
    ``data`` says (the embedded corpus here, never built for it)."""
    from asrtl.data.manifest import for_language

    data = {"name": "embedded", "hours": 0.05, "cache_dir": str(tmp_path / "cache"),
            "speakers": 9, "lang": {"fr": {"data": "csv", "path": str(REAL / "manifest.csv")}}}
    assert for_language(data, "french") == {"name": "csv", "path": str(REAL / "manifest.csv"),
                                            "hours": 0.05, "cache_dir": str(tmp_path / "cache")}
    assert for_language(data, "bengali") is data  # not named: the data config
    corpus = prepare_corpus(data, "french")
    assert corpus.source == "csv" and corpus.language == "french"
    assert sum(c.duration for c in corpus.cuts("train")) <= 0.05 * 3600 + 10
    with pytest.raises(UserError, match=r"lang.fr: give lang.fr.data=<corpus kind>"):
        for_language({**data, "lang": {"fr": {"path": "x"}}}, "french")


@pytest.mark.parametrize("args, needle", [
    (["lang.fr.data=csv", "lang.fr.path=/nowhere.csv"], "lang.fr.path not found: /nowhere.csv"),
    (["lang.klingon.data=csv"], "bad override lang.klingon.data=csv: unknown language"),
    (["lang.fr.corpus=csv"], "expected lang.<language>.<key>=..., the key one of data, path"),
    (["lang.fr.data=nosuch"], "unknown data source 'nosuch'"),
])
def test_bad_lang_settings_fail_in_one_line(args, needle, tmp_path):
    from tests.conftest import _run_here

    res = _run_here("prepare", "language=french", *args, f"hydra.run.dir={tmp_path}/run",
                    cache=tmp_path / "cache")
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2 and len(lines) == 1 and needle in lines[0], res.stderr


def test_lang_settings_are_passed_on_to_the_jobs_of_a_study():
    from omegaconf import OmegaConf

    from asrtl.cli import lang_args, lang_overrides

    cfg = OmegaConf.create({"lang": {"fr": {"data": "csv", "path": "/x.csv", "hours": None}}})
    args = lang_args(cfg)
    assert args == ["lang.fr.data=csv", "lang.fr.path=/x.csv"]
    assert lang_overrides(["-m", *args, "seed=1"]) == ["-m", "++lang.fr.data=csv",
                                                        "++lang.fr.path=/x.csv", "seed=1"]


def test_every_training_sentence_held_out_is_one_line():
    """Every speaker reads the same two sentences: holding out speakers holds out every
    sentence, and the one line says why rather than "too few utterances"."""
    rows = [r for r in _rows() if r["language"] == "fr"][:6]
    for i, r in enumerate(rows):
        r.update(speaker=f"s{i % 3}", transcript=["un deux", "trois"][i // 3],
                 path=str(REAL / r["path"]))
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        f = _write(Path(tmp) / "same.csv", rows)
        with pytest.raises(UserError, match="every train utterance reads a sentence of the "
                                            "held-out test split"):
            prepare_corpus(data_config("csv", f, Path(tmp) / "cache"), "fr")
