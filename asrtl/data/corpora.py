"""Real corpora -> lhotse manifests: Kaldi data dirs, Common Voice, IARPA BABEL, lhotse files.

Every importer returns ``{split: (RecordingSet, SupervisionSet)}``; :mod:`asrtl.data.manifest`
validates, splits and caches the result the same way for all of them.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Callable
from pathlib import Path

from lhotse import CutSet, Recording, RecordingSet, SupervisionSegment, SupervisionSet
from lhotse.utils import fastcopy

log = logging.getLogger(__name__)

Manifests = dict[str, tuple[RecordingSet, SupervisionSet]]
# Names users give their splits -> asrtl's split names.
SPLIT_NAMES = {"train": "train", "training": "train", "dev": "dev", "valid": "dev",
               "validation": "dev", "test": "test", "eval": "test", "adapt": "adapt"}


def _recording_from_file(path: str | Path, recording_id: str, where: str) -> Recording:
    """A recording with its true sample rate and channels; a clear error when unreadable."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{where}: audio file of {recording_id!r} not found: {p}")
    try:
        rec = Recording.from_file(p, recording_id=recording_id)
    except Exception as e:  # lhotse raises several types for unreadable audio
        raise ValueError(f"{where}: unreadable or corrupt audio for {recording_id!r}: {p} "
                         f"({type(e).__name__})") from e
    if rec.num_samples <= 0:
        raise ValueError(f"{where}: zero-length audio for {recording_id!r}: {p}")
    return rec


def _read_mapping(path: Path) -> dict[str, str]:
    out = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        key, _, value = line.strip().partition(" ")
        if key in out:
            raise ValueError(f"{path}:{n}: duplicate id {key!r}")
        out[key] = value.strip()
    return out


def _check_same_ids(a: dict, a_name: Path, b: dict, b_name: Path) -> None:
    missing = sorted(set(a) - set(b))
    extra = sorted(set(b) - set(a))
    if missing or extra:
        bad, where, other = (missing[0], a_name, b_name) if missing else (extra[0], b_name,
                                                                          a_name)
        raise ValueError(f"utterance ids do not match: {bad!r} is in {where} but not in {other} "
                         f"({len(missing) + len(extra)} mismatched)")


def import_kaldi_dir(path: Path) -> tuple[RecordingSet, SupervisionSet]:
    """One Kaldi data dir (``wav.scp``, ``text``, ``utt2spk``, optional ``segments``).

    Segmented dirs are parsed by lhotse's :func:`lhotse.kaldi.load_kaldi_data_dir`; asrtl
    checks the files and ids first (lhotse asserts or drops silently) and reads each audio
    file's true sample rate and channel count (lhotse trusts one given rate).

    Raises:
        FileNotFoundError: missing directory, ``wav.scp``, ``text`` or audio file.
        ValueError: mismatched utterance ids, corrupt or zero-length audio.
    """
    from lhotse.kaldi import load_kaldi_data_dir

    if not path.is_dir():
        raise FileNotFoundError(f"Kaldi data dir not found: {path}")
    for name in ("wav.scp", "text"):
        if not (path / name).is_file():
            raise FileNotFoundError(f"Kaldi data dir {path} has no '{name}'")
    wav = _read_mapping(path / "wav.scp")
    text = _read_mapping(path / "text")
    utt_index = path / ("segments" if (path / "segments").is_file() else "wav.scp")
    utts = _read_mapping(utt_index) if utt_index.name == "segments" else wav
    _check_same_ids(utts, utt_index, text, path / "text")
    if (path / "utt2spk").is_file():
        _check_same_ids(utts, utt_index, _read_mapping(path / "utt2spk"), path / "utt2spk")
    else:
        raise FileNotFoundError(f"Kaldi data dir {path} has no 'utt2spk'")
    if utt_index.name == "segments":
        for utt, seg in utts.items():
            rec = seg.split()[0] if seg.split() else ""
            if rec not in wav:
                raise ValueError(f"{path / 'segments'}: utterance {utt!r} names recording "
                                 f"{rec!r}, which is not in wav.scp")
    recordings = {}
    for rec_id, src in wav.items():
        if src.endswith("|"):
            raise ValueError(f"{path / 'wav.scp'}: {rec_id!r} is a piped command; asrtl reads "
                             f"audio files only (convert with sox/ffmpeg first)")
        recordings[rec_id] = _recording_from_file(src, rec_id, str(path / "wav.scp"))
    recording_set = RecordingSet.from_recordings(recordings.values())
    if utt_index.name == "segments":
        rate = next(iter(recordings.values())).sampling_rate
        _, supervisions, _ = load_kaldi_data_dir(path, sampling_rate=rate, use_reco2dur=False)
        return recording_set, supervisions
    # Whole-recording utterances: lhotse's reader fails on an empty transcript line with an
    # unrelated message, so build these directly and let validation name the utterance.
    speakers = _read_mapping(path / "utt2spk")
    return recording_set, SupervisionSet.from_segments(
        SupervisionSegment(id=utt, recording_id=utt, start=0.0,
                           duration=recordings[utt].duration, channel=0, text=text[utt],
                           speaker=speakers[utt]) for utt in wav)


def import_kaldi(path: str | Path) -> Manifests:
    """A Kaldi data dir, or a directory of them named by split (``train``, ``dev``, ``test``)."""
    path = Path(path)
    if (path / "wav.scp").is_file():
        return {"all": import_kaldi_dir(path)}
    subdirs = {SPLIT_NAMES[d.name]: d for d in sorted(path.iterdir())
               if d.is_dir() and d.name in SPLIT_NAMES} if path.is_dir() else {}
    if not subdirs:
        raise FileNotFoundError(f"no Kaldi data dir (wav.scp) in {path} nor in its "
                                f"train/dev/test subdirectories")
    return {split: import_kaldi_dir(d) for split, d in subdirs.items()}


def import_commonvoice(path: str | Path, language: str) -> Manifests:
    """A Common Voice language directory: ``clips/`` + ``train.tsv``/``dev.tsv``/``test.tsv``
    (or ``validated.tsv`` alone), the per-language layout of lhotse's ``prepare_commonvoice``.

    Raises:
        FileNotFoundError: no TSV, or a clip the TSV names is missing.
        ValueError: a TSV without ``path``/``sentence`` columns, corrupt audio.
    """
    path = Path(path)
    tsvs = {s: path / f"{s}.tsv" for s in ("train", "dev", "test") if (path / f"{s}.tsv").is_file()}
    if not tsvs and (path / "validated.tsv").is_file():
        tsvs = {"all": path / "validated.tsv"}
    if not tsvs:
        raise FileNotFoundError(f"Common Voice dir {path} has no train.tsv/dev.tsv/test.tsv or "
                                f"validated.tsv")
    out: Manifests = {}
    for split, tsv in tsvs.items():
        recs, sups = [], []
        with tsv.open(encoding="utf-8", newline="") as f:
            rows = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
            missing = {"path", "sentence"} - set(rows.fieldnames or [])
            if missing:
                raise ValueError(f"{tsv}: missing column(s) {sorted(missing)}")
            for row in rows:
                rec_id = Path(row["path"]).stem
                rec = _recording_from_file(path / "clips" / row["path"], rec_id, str(tsv))
                recs.append(rec)
                sups.append(SupervisionSegment(
                    id=rec_id, recording_id=rec_id, start=0.0, duration=rec.duration, channel=0,
                    text=(row["sentence"] or "").strip(), language=language,
                    speaker=row.get("client_id") or rec_id, gender=row.get("gender") or None))
        out[split] = (RecordingSet.from_recordings(recs), SupervisionSet.from_segments(sups))
    return out


def import_babel(path: str | Path, language: str) -> Manifests:
    """An IARPA BABEL language pack (LDC layout with ``conversational/``), via lhotse's
    :func:`lhotse.recipes.babel.prepare_single_babel_language`; ``training`` -> train,
    ``dev`` -> dev, ``eval`` -> test."""
    from lhotse.recipes.babel import prepare_single_babel_language

    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"BABEL language pack not found: {path}")
    manifests = prepare_single_babel_language(path, no_eval_ok=True)
    out: Manifests = {}
    for split, m in manifests.items():
        if "recordings" in m and "supervisions" in m and len(m["supervisions"]):
            sups = SupervisionSet.from_segments(fastcopy(s, language=language)
                                                for s in m["supervisions"])
            out[SPLIT_NAMES.get(split, split)] = (m["recordings"], sups)
    if not out:
        raise ValueError(f"no BABEL transcripts found under {path}")
    return out


def import_lhotse(path: str | Path) -> Manifests:
    """A lhotse CutSet file, or a directory of ``*cuts*<split>*.jsonl[.gz]`` files."""
    path = Path(path)
    if path.is_file():
        files = {"all": path}
    elif path.is_dir():
        files = {}
        for f in sorted(path.glob("*cuts*.jsonl*")):
            for name, split in SPLIT_NAMES.items():
                if f"_{name}." in f.name or f"_{name}_" in f.name or f.name.startswith(name):
                    files.setdefault(split, f)
        if not files:
            raise FileNotFoundError(f"no lhotse cut manifests (*cuts*_<split>.jsonl.gz) in {path}")
    else:
        raise FileNotFoundError(f"lhotse manifest not found: {path}")
    out: Manifests = {}
    for split, f in files.items():
        try:
            cuts = CutSet.from_file(f)
        except Exception as e:
            raise ValueError(f"not a readable lhotse CutSet: {f} ({type(e).__name__}: {e})") from e
        recs = {c.recording.id: c.recording for c in cuts if c.has_recording}
        sups = [s for c in cuts for s in c.supervisions]
        out[split] = (RecordingSet.from_recordings(recs.values()), SupervisionSet.from_segments(
            sups))
    return out


IMPORTERS: dict[str, Callable[..., Manifests]] = {
    "kaldi": lambda path, language: import_kaldi(path),
    "commonvoice": import_commonvoice,
    "babel": import_babel,
    "lhotse": lambda path, language: import_lhotse(path),
}
