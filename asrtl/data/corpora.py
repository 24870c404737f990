"""Real corpora -> lhotse manifests: Kaldi data dirs, Common Voice, IARPA BABEL, lhotse files.

Every importer returns ``{split: (RecordingSet, SupervisionSet)}``; :mod:`asrtl.data.manifest`
validates, splits and caches the result the same way for all of them.
"""

from __future__ import annotations

import csv
import logging
import re
from collections.abc import Callable
from pathlib import Path

from lhotse import CutSet, Recording, RecordingSet, SupervisionSegment, SupervisionSet
from lhotse.utils import add_durations

from asrtl.data.audio import soundfile_for, sphere_problem
from asrtl.errors import MissingInput, UserError

log = logging.getLogger(__name__)

Manifests = dict[str, tuple[RecordingSet, SupervisionSet]]
Bad = Callable[[str, str], None]
"""``bad(kind, message)``: called for each bad utterance an importer meets (``kind`` such as
``zero_length`` or ``missing_recording``); it raises ``ValueError(message)`` or counts the
utterance, which the importer then drops (``data.skip_bad``)."""
# Names users give their splits -> asrtl's split names.
SPLIT_NAMES = {"train": "train", "training": "train", "dev": "dev", "valid": "dev",
               "validation": "dev", "test": "test", "eval": "test", "adapt": "adapt"}
# What an utterance id lacks when it is missing from this Kaldi file.
_MISSING_KIND = {"wav.scp": "missing_recording", "segments": "missing_recording",
                 "text": "missing_transcript", "utt2spk": "missing_speaker"}


def strict(kind: str, message: str) -> None:
    """The default :data:`Bad`: every bad utterance stops the import with its message."""
    raise UserError(message)


def recording_from_file(path: str | Path, recording_id: str, where: str,
                         bad: Bad = strict) -> Recording | None:
    """A recording with its true sample rate and channels (SPHERE read without sph2pipe
    unless shorten-compressed); a clear error when unreadable; ``None`` when its audio is
    zero-length and ``bad`` does not raise."""
    p = Path(path)
    if not p.is_file():
        raise MissingInput(f"{where}: audio file of {recording_id!r} not found: {p}")
    problem = sphere_problem(p)
    if problem:
        raise UserError(f"{where}: cannot read audio of {recording_id!r}: {problem}")
    try:
        with soundfile_for([p]):
            rec = Recording.from_file(p, recording_id=recording_id)
    except Exception as e:  # lhotse raises several types for unreadable audio
        raise UserError(f"{where}: unreadable or corrupt audio for {recording_id!r}: {p} "
                        f"({type(e).__name__})") from e
    if rec.num_samples <= 0:
        bad("zero_length", f"{where}: zero-length audio for {recording_id!r}: {p}")
        return None
    return rec


def _read_mapping(path: Path) -> dict[str, str]:
    out = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        key, _, value = line.strip().partition(" ")
        if key in out:
            raise UserError(f"{path}:{n}: duplicate id {key!r}")
        out[key] = value.strip()
    return out


def _read_segments(path: Path) -> dict[str, tuple[str, float, float]]:
    """``segments``: utterance -> (recording, start_s, end_s); end -1 means the recording's end."""
    out = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            utt, rec, start, end = line.split()
            out_value = (rec, float(start), float(end))
        except ValueError:
            raise UserError(f"{path}:{n}: expected '<utterance> <recording> <start> <end>', "
                            f"got {line.strip()!r}") from None
        if utt in out:
            raise UserError(f"{path}:{n}: duplicate id {utt!r}")
        out[utt] = out_value
    return out


def _common_ids(a: dict, a_name: Path, b: dict, b_name: Path, bad: Bad,
                reported: set[str]) -> set[str]:
    """The ids in both files; each id in only one goes to ``bad`` (named, with the count of
    mismatches) unless already in ``reported``, which it joins."""
    missing = sorted(set(a) - set(b))
    extra = sorted(set(b) - set(a))
    n = len(missing) + len(extra)
    for ids, where, other in ((missing, a_name, b_name), (extra, b_name, a_name)):
        for utt in (u for u in ids if u not in reported):
            reported.add(utt)
            bad(_MISSING_KIND.get(other.name, "mismatched_id"),
                f"utterance ids do not match: {utt!r} is in {where} but not in {other} "
                f"({n} mismatched)")
    return set(a) & set(b)


def import_kaldi_dir(path: Path, bad: Bad = strict) -> tuple[RecordingSet, SupervisionSet]:
    """One Kaldi data dir (``wav.scp``, ``text``, ``utt2spk``, optional ``segments``).

    asrtl checks the files and ids (lhotse asserts or drops silently) and reads each audio
    file's true sample rate and channel count (lhotse trusts one given rate); ``segments``
    cut recordings into utterances (an end of -1: the recording's end).

    Args:
        path: the directory.
        bad: what to do with an utterance whose id is missing from a file, whose segment
            names an unknown recording, or whose audio is zero-length (default: raise).

    Raises:
        FileNotFoundError: missing directory, ``wav.scp``, ``text``, ``utt2spk`` or audio file.
        ValueError: mismatched utterance ids, corrupt or zero-length audio (unless ``bad``
            counts them), malformed ``segments``.
    """
    if not path.is_dir():
        raise MissingInput(f"Kaldi data dir not found: {path}")
    for name in ("wav.scp", "text", "utt2spk"):
        if not (path / name).is_file():
            raise MissingInput(f"Kaldi data dir {path} has no '{name}'")
    wav = _read_mapping(path / "wav.scp")
    text = _read_mapping(path / "text")
    speakers = _read_mapping(path / "utt2spk")
    segmented = (path / "segments").is_file()
    index = path / ("segments" if segmented else "wav.scp")
    segments = (_read_segments(index) if segmented
                else {utt: (utt, 0.0, -1.0) for utt in wav})
    reported: set[str] = set()  # an utterance is counted once, however many files lack it
    keep = (_common_ids(segments, index, text, path / "text", bad, reported)
            & _common_ids(segments, index, speakers, path / "utt2spk", bad, reported))
    utts = [u for u in segments if u in keep]
    for utt in list(utts):
        if segments[utt][0] not in wav:
            bad("missing_recording", f"{index}: utterance {utt!r} names recording "
                                     f"{segments[utt][0]!r}, which is not in wav.scp")
            utts.remove(utt)
    recordings: dict[str, Recording] = {}
    for rec_id in dict.fromkeys(segments[u][0] for u in utts):
        src = wav[rec_id]
        if src.endswith("|"):
            raise UserError(f"{path / 'wav.scp'}: {rec_id!r} is a piped command; asrtl reads "
                            f"audio files only (convert with sox/ffmpeg first)")
        rec = recording_from_file(src, rec_id, str(path / "wav.scp"), bad)
        if rec is not None:
            recordings[rec_id] = rec
    sups = []
    for utt in utts:
        rec_id, start, end = segments[utt]
        rec = recordings.get(rec_id)
        if rec is None:  # zero-length audio, counted
            continue
        end = rec.duration if end < 0 else min(end, rec.duration)
        # An empty transcript stays: validation names (or counts) the utterance.
        sups.append(SupervisionSegment(
            id=utt, recording_id=rec_id, start=start,
            duration=add_durations(end, -start, sampling_rate=rec.sampling_rate), channel=0,
            text=text[utt], speaker=speakers[utt]))
    return (RecordingSet.from_recordings(recordings.values()),
            SupervisionSet.from_segments(sups))


def import_kaldi(path: str | Path, bad: Bad = strict) -> Manifests:
    """A Kaldi data dir, or a directory of them named by split (``train``, ``dev``, ``test``)."""
    path = Path(path)
    if (path / "wav.scp").is_file():
        return {"all": import_kaldi_dir(path, bad)}
    subdirs = {SPLIT_NAMES[d.name]: d for d in sorted(path.iterdir())
               if d.is_dir() and d.name in SPLIT_NAMES} if path.is_dir() else {}
    if not subdirs:
        raise MissingInput(f"no Kaldi data dir (wav.scp) in {path} nor in its "
                           f"train/dev/test subdirectories")
    return {split: import_kaldi_dir(d, bad) for split, d in subdirs.items()}


def commonvoice_tsvs(path: Path) -> dict[str, Path]:
    """``{split: TSV}`` of a Common Voice language directory that the import reads:
    ``train``/``dev``/``test.tsv``, else ``validated.tsv`` as split ``all`` (none: empty)."""
    tsvs = {s: path / f"{s}.tsv" for s in ("train", "dev", "test") if (path / f"{s}.tsv").is_file()}
    if not tsvs and (path / "validated.tsv").is_file():
        tsvs = {"all": path / "validated.tsv"}
    return tsvs


def import_commonvoice(path: str | Path, language: str, bad: Bad = strict) -> Manifests:
    """A Common Voice language directory: ``clips/`` + ``train.tsv``/``dev.tsv``/``test.tsv``
    (or ``validated.tsv`` alone), the per-language layout of lhotse's ``prepare_commonvoice``.

    Raises:
        FileNotFoundError: no TSV, or a clip the TSV names is missing.
        ValueError: a TSV without ``path``/``sentence`` columns, corrupt audio, zero-length
            audio (unless ``bad`` counts it).
    """
    path = Path(path)
    tsvs = commonvoice_tsvs(path)
    if not tsvs:
        raise MissingInput(f"Common Voice dir {path} has no train.tsv/dev.tsv/test.tsv or "
                           f"validated.tsv")
    out: Manifests = {}
    for split, tsv in tsvs.items():
        recs, sups = [], []
        with tsv.open(encoding="utf-8", newline="") as f:
            rows = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
            missing = {"path", "sentence"} - set(rows.fieldnames or [])
            if missing:
                raise UserError(f"{tsv}: missing column(s) {sorted(missing)}")
            for row in rows:
                rec_id = Path(row["path"]).stem
                rec = recording_from_file(path / "clips" / row["path"], rec_id, str(tsv), bad)
                if rec is None:
                    continue
                recs.append(rec)
                sups.append(SupervisionSegment(
                    id=rec_id, recording_id=rec_id, start=0.0, duration=rec.duration, channel=0,
                    text=(row["sentence"] or "").strip(), language=language,
                    speaker=row.get("client_id") or rec_id, gender=row.get("gender") or None))
        out[split] = (RecordingSet.from_recordings(recs), SupervisionSet.from_segments(sups))
    return out


# BABEL's non-lexical tags (<no-speech>, <breath>, <hes>, <foreign>...) and the ones lhotse
# maps them to (<unk>, <v-noise>, <noise>, <silence>); "(())" is unintelligible speech.
_BABEL_TAG = re.compile(r"<[^<>\s]*>|\(\(\s*\)\)")
# BABEL_<phase>_<language code>_<speaker>_<date>_<time>_<inLine|outLine|scripted>[_...]
_BABEL_NAME = re.compile(r"^BABEL_[A-Za-z0-9]+_(\d{3})_([^_]+)_([^_]+)_([^_]+)_([^_]+)")
_BABEL_STAMP = re.compile(r"^\[(\d+(?:\.\d*)?)\]$")
_BABEL_CHANNEL = {"inLine": "A", "outLine": "B"}  # a conversation's two sides
BABEL_SUBSETS = {"training": "train", "dev": "dev", "eval": "test"}


def babel_words(text: str) -> str:
    """A BABEL transcript line without its tags: ``<no-speech>`` -> ``""``,
    ``"<breath> hello (()) world <hes>"`` -> ``"hello world"``."""
    return " ".join(_BABEL_TAG.sub(" ", text).split())


def babel_segments(path: Path) -> list[tuple[float, float, str]]:
    """The timed lines of a BABEL transcript, ``(start_s, end_s, text)``: each ``[seconds]``
    line opens a segment that the next one closes (a stamp with no text before the next one
    opens nothing, as in lhotse's BABEL recipe).

    Raises:
        ValueError: a malformed time stamp or text before the first one, with file and line.
    """
    stamps: list[list] = []
    for n, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if line.startswith("["):
            m = _BABEL_STAMP.match(line)
            if not m:
                raise UserError(f"{path}:{n}: bad time stamp {line!r} (expected [seconds])")
            stamps.append([float(m[1]), ""])
        elif line:
            if not stamps:
                raise UserError(f"{path}:{n}: text before the first time stamp")
            stamps[-1][1] = f"{stamps[-1][1]} {line}".strip()
    return [(start, end, text) for (start, text), (end, _)
            in zip(stamps[:-1], stamps[1:], strict=True) if text]


def _babel_conversational(path: Path) -> Path:
    """The pack's ``conversational`` dir, its transcripts' names checked."""
    found = sorted(d for d in path.rglob("conversational") if d.is_dir())
    if not found:
        raise MissingInput(f"BABEL pack {path} has no 'conversational' directory (expected "
                           f"conversational/{{training,dev,eval}}/{{audio,transcription}})")
    if len(found) > 1:
        log.warning("BABEL: several 'conversational' dirs under %s; reading %s", path, found[0])
    conv = found[0]
    for t in sorted(conv.glob("*/transcription/*")):
        if t.is_file() and not _BABEL_NAME.match(t.stem):
            raise UserError(f"{t}: not a BABEL transcript name (BABEL_<phase>_<language "
                            f"code>_<speaker>_<date>_<time>_<inLine|outLine>.txt)")
    return conv


def _babel_side(text_file: Path, language: str, bad: Bad
                ) -> tuple[Recording | None, list[SupervisionSegment]]:
    """One conversation side: its recording and its speech segments (ids as lhotse's, with
    the start in milliseconds)."""
    audio = next((f for f in (text_file.parent.parent / "audio" / f"{text_file.stem}{e}"
                              for e in (".sph", ".wav")) if f.is_file()), None)
    if audio is None:
        bad("missing_recording", f"{text_file}: no audio "
                                 f"{text_file.parent.parent / 'audio' / text_file.stem}.sph")
        return None, []
    rec = recording_from_file(audio, text_file.stem, str(text_file), bad)
    if rec is None:
        return None, []
    code, spk, date, hour, side = _BABEL_NAME.match(text_file.stem).groups()
    speaker = f"{code}_{spk}_{_BABEL_CHANNEL.get(side, 'A')}"
    sups = []
    for start, end, text in babel_segments(text_file):
        words = babel_words(text)
        if words:  # else non-speech: <no-speech>, <breath>, (()) alone
            sups.append(SupervisionSegment(
                id=f"{speaker}_{date}_{hour}_{round(1000 * start):08d}",
                recording_id=rec.id, start=start,
                duration=round(min(end, rec.duration) - start, 6), channel=0, text=words,
                language=language, speaker=speaker, custom={"babel_text": text}))
    return rec, sups


def import_babel(path: str | Path, language: str, bad: Bad = strict) -> Manifests:
    """An IARPA BABEL language pack (LDC layout: ``conversational/{training,dev,eval}/
    {audio,transcription}``): ``training`` -> train, ``dev`` -> dev, ``eval`` -> test (when
    it has transcripts; LDC ships eval audio without them). Transcripts are parsed as
    lhotse's BABEL recipe parses them (its speakers: one per conversation side), without
    reading untranscribed audio (lhotse's recipe fails on eval audio without transcripts);
    SPHERE audio is read without sph2pipe unless shorten-compressed; tags (``<no-speech>``,
    ``<breath>``, ``<hes>``, ``(())``...) are removed from the text and segments with no word
    left (non-speech) dropped; the tagged line stays in ``custom["babel_text"]``.

    Raises:
        FileNotFoundError: no pack, no ``conversational`` dir.
        ValueError: a transcript not named as BABEL names them or malformed (file and line),
            a transcript without audio (unless ``bad`` counts it), unreadable audio (shorten
            without sph2pipe: how to get it), no transcribed speech.
    """
    path = Path(path)
    if not path.is_dir():
        raise MissingInput(f"BABEL language pack not found: {path}")
    conv = _babel_conversational(path)
    out: Manifests = {}
    for subset, split in BABEL_SUBSETS.items():
        recs, sups = [], []
        for text_file in sorted((conv / subset / "transcription").glob("*.txt")):
            rec, side = _babel_side(text_file, language, bad)
            recs += [rec] if rec is not None else []
            sups += side
        if sups:
            out[split] = (RecordingSet.from_recordings(recs), SupervisionSet.from_segments(sups))
    if not out:
        raise UserError(f"no transcribed speech in {conv} "
                        f"({{training,dev,eval}}/transcription/*.txt)")
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
            raise MissingInput(f"no lhotse cut manifests (*cuts*_<split>.jsonl.gz) in {path}")
    else:
        raise MissingInput(f"lhotse manifest not found: {path}")
    out: Manifests = {}
    for split, f in files.items():
        try:
            cuts = CutSet.from_file(f)
        except Exception as e:
            raise UserError(f"not a readable lhotse CutSet: {f} ({type(e).__name__}: {e})") from e
        recs = {c.recording.id: c.recording for c in cuts if c.has_recording}
        sups = [s for c in cuts for s in c.supervisions]
        out[split] = (RecordingSet.from_recordings(recs.values()), SupervisionSet.from_segments(
            sups))
    return out


# Every importer: (path, language, bad) -> Manifests; the recorded corpora's
# (``asrtl.data.manifest.RECORDED``) also take ``audio_dir=``, for audio libsndfile cannot read.
IMPORTERS: dict[str, Callable[..., Manifests]] = {
    "kaldi": lambda path, language, bad=strict: import_kaldi(path, bad),
    "commonvoice": import_commonvoice,
    "babel": import_babel,
    "lhotse": lambda path, language, bad=strict: import_lhotse(path),
}
