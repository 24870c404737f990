"""``data=csv``: a manifest CSV of recorded utterances -> lhotse manifests.

The CSV (UTF-8, a header row) has at least ``path,language,speaker,transcript``; ``path`` is
relative to the CSV's directory (or absolute), ``language`` an ISO code or an asrtl name
(``ml``, ``malayalam``), and an optional ``split`` column (``train``/``dev``/``test``...)
keeps the corpus's own splits. ``../shared/realspeech/manifest.csv`` is one. Only the rows of
the language asked for are read. Audio libsndfile cannot read (WebM/Opus) is decoded by
FFmpeg (PyAV) into 16 kHz FLAC in the corpus cache (:mod:`asrtl.data.transcode`).
"""

from __future__ import annotations

import csv
from pathlib import Path, PurePath

from lhotse import Recording, RecordingSet, SupervisionSegment, SupervisionSet

from asrtl.data.corpora import SPLIT_NAMES, Bad, Manifests, recording_from_file, strict
from asrtl.data.languages import get_language
from asrtl.data.transcode import soundfile_reads, to_flac
from asrtl.errors import MissingInput, UserError

REQUIRED = ("path", "language", "speaker", "transcript")


def csv_file(path: Path) -> Path:
    """The manifest CSV ``path`` names: the file, or ``manifest.csv`` in the directory."""
    f = path / "manifest.csv" if path.is_dir() else path
    if not f.is_file():
        raise MissingInput(f"data=csv: no manifest CSV at {f}")
    return f


def csv_rows(path: Path, language: str) -> list[dict[str, str]]:
    """The CSV's rows of ``language`` (any code or name of it), each with its line number in
    the file (``_line``).

    Raises:
        UserError: a required column missing, or no row of the language (naming those there).
    """
    f = csv_file(path)
    want = get_language(language).name
    with f.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
        if missing:
            raise UserError(f"{f}: missing column(s) {missing} (needs {', '.join(REQUIRED)})")
        rows = []
        for row in reader:
            rows.append({**row, "_line": str(reader.line_num)})
    codes: dict[str, str | None] = {}
    for code in {r["language"] for r in rows}:
        try:
            codes[code] = get_language(code).name
        except ValueError:
            codes[code] = None  # a language asrtl does not know: never the one asked for
    out = [r for r in rows if codes[r["language"]] == want]
    if not out:
        raise UserError(f"{f}: no rows of language {language} (it has: "
                        f"{', '.join(sorted(codes))})")
    return out


def recording_id(path: str) -> str:
    """The id of the recording at ``path`` (as the CSV gives it): its path without the
    extension, ``/``-separated, without a root or ``.``/``..`` parts."""
    parts = [p for p in PurePath(path.replace("\\", "/")).with_suffix("").parts
             if p not in (".", "..", "/")]
    return "/".join(parts)


def import_csv(path: str | Path, language: str, bad: Bad = strict,
               audio_dir: Path | None = None) -> Manifests:
    """The rows of ``language`` as recordings and supervisions, by the ``split`` column
    (else all in ``all``).

    Args:
        path: the CSV, or a directory holding ``manifest.csv``.
        audio_dir: where audio libsndfile cannot read is converted to (the corpus cache).

    Raises:
        FileNotFoundError: the CSV, or (unless ``bad`` counts it) an audio file, missing.
        ValueError: a missing column, no row of ``language``, audio no decoder reads.
    """
    f = csv_file(Path(path))
    root = f.parent
    recs: dict[str, list[Recording]] = {}
    sups: dict[str, list[SupervisionSegment]] = {}
    seen: set[str] = set()
    for row in csv_rows(Path(path), language):
        where = f"{f}:{row['_line']}"
        audio = (root / row["path"]).expanduser()
        rec_id = recording_id(row["path"])
        if rec_id in seen:
            raise UserError(f"{where}: duplicate path {row['path']!r}")
        seen.add(rec_id)
        if not audio.is_file():
            bad("missing_recording", f"{where}: audio file not found: {audio}")
            continue
        if not soundfile_reads(audio):
            if audio_dir is None:
                raise UserError(f"{where}: libsndfile cannot read {audio}, and no directory "
                                f"to convert it into was given")
            audio = to_flac(audio, audio_dir / f"{rec_id}.flac")
        rec = recording_from_file(audio, rec_id, where, bad)
        if rec is None:
            continue
        split = SPLIT_NAMES.get((row.get("split") or "").strip().lower(), "all")
        recs.setdefault(split, []).append(rec)
        sups.setdefault(split, []).append(SupervisionSegment(
            id=rec_id, recording_id=rec_id, start=0.0, duration=rec.duration, channel=0,
            text=row["transcript"], speaker=(row["speaker"] or None), language=language))
    return {s: (RecordingSet.from_recordings(recs[s]), SupervisionSet.from_segments(sups[s]))
            for s in recs}
