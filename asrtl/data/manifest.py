"""One front door to every corpus: ``prepare_corpus(data_cfg, language) -> Corpus``.

Whatever the source (``embedded``, ``kaldi``, ``commonvoice``, ``babel``, ``lhotse``), the
result is the same directory layout in the cache: ``{split}_{recordings,supervisions,cuts}
.jsonl.gz`` for ``train``/``dev``/``test`` (and ``adapt`` for the embedded corpus) plus
``summary.json``, written to a temporary directory and renamed into place.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import logging
import os
import random
import unicodedata
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from lhotse import CutSet, RecordingSet, SupervisionSet
from lhotse.cut import Cut
from lhotse.utils import fastcopy

from asrtl.data.corpora import IMPORTERS as FILE_IMPORTERS
from asrtl.data.corpora import SPLIT_NAMES, Bad, commonvoice_tsvs
from asrtl.data.csvcorpus import csv_file, csv_rows, import_csv
from asrtl.data.debian import (
    asterisk_audio,
    fetch_packages,
    fillets_audio,
    import_asterisk,
    import_fillets,
    iso_of,
    packages,
)
from asrtl.data.embedded import EmbeddedConfig, prepare_embedded
from asrtl.data.languages import Language, get_language
from asrtl.data.store import SPLITS, write_manifests
from asrtl.data.text import normalize, out_of_script
from asrtl.errors import MissingInput, UserError
from asrtl.io import read_json
from asrtl.settings import checked

log = logging.getLogger(__name__)

# recorded corpora: their importers take ``audio_dir=`` (audio libsndfile cannot read is
# converted there, in the cache), and their held-out splits share no sentence with training
# (read speech: one prompt list read by many speakers)
RECORDED = {"csv": import_csv, "asterisk": import_asterisk, "fillets": import_fillets}
FETCHED = ("asterisk", "fillets")  # without data.path: Debian packages fetched into the cache
IMPORTERS = {**FILE_IMPORTERS, **RECORDED}
SOURCES = ("embedded", *IMPORTERS)
_KEEP_IN_WORDS = {"'", "-", "\u2019"}


def cut_texts(cuts: Iterable[Cut]) -> list[str]:
    """The transcript of each cut (its first supervision), in order."""
    return [c.supervisions[0].text for c in cuts]


def cut_words(cuts: Iterable[Cut]) -> list[str]:
    """The distinct words of the cuts' transcripts, sorted (e.g. a decoding lexicon)."""
    return sorted({w for t in cut_texts(cuts) for w in t.split()})


def default_cache_dir() -> Path:
    """``$ASRTL_CACHE`` or ``~/.cache/asrtl``."""
    return Path(os.environ.get("ASRTL_CACHE", "~/.cache/asrtl")).expanduser()


def data_cache_dir(data: Mapping[str, Any]) -> Path:
    """The cache a ``data:`` config builds in: its ``cache_dir``, else the default."""
    given = data.get("cache_dir")
    return Path(str(given)).expanduser() if given else default_cache_dir()


@dataclass
class Corpus:
    """A prepared corpus of one language: manifests per split in ``dir``."""

    language: str
    source: str
    dir: Path
    summary: dict

    @property
    def splits(self) -> list[str]:
        return [s for s in SPLITS if (self.dir / f"{s}_cuts.jsonl.gz").is_file()]

    def cuts(self, split: str) -> CutSet:
        """The split's cuts (eager: corpora here are small enough to hold in memory);
        ``all``: every utterance of every split.

        Raises:
            ValueError: when the corpus has no such split.
        """
        if split == "all":
            return CutSet.from_cuts(c for s in self.splits for c in self.cuts(s))
        path = self.dir / f"{split}_cuts.jsonl.gz"
        if not path.is_file():
            raise UserError(f"corpus {self.dir} has no split {split!r} (has {self.splits})")
        try:
            return CutSet.from_file(path).to_eager()
        except (gzip.BadGzipFile, EOFError, zlib.error, ValueError, KeyError, TypeError) as e:
            raise UserError(f"corrupt corpus manifest {path} ({type(e).__name__}: {e}): "
                            f"remove {self.dir} to build it again") from None


def _embedded_config(data: Mapping[str, Any], seed: int) -> EmbeddedConfig:
    kwargs: dict[str, Any] = {}
    for f in fields(EmbeddedConfig):
        value = data.get(f.name)
        if value is None:
            continue
        pair = f.name in ("noise_snr_db", "speed")
        try:
            kwargs[f.name] = tuple(float(v) for v in value) if pair else type(f.default)(value)
            if pair and len(kwargs[f.name]) != 2:
                raise ValueError
        except (TypeError, ValueError):
            expected = "[low, high]" if pair else type(f.default).__name__
            raise UserError(f"data.{f.name}: expected {expected}, got {value!r}") from None
    kwargs.setdefault("seed", seed)
    return EmbeddedConfig(**kwargs)


# conf/data/<real corpus>.yaml's defaults: a key left unset (a language taken from another
# corpus through lang.<L>) means the same corpus, and the same cache key
REAL_DEFAULTS = {"out_of_script": "warn", "skip_bad": False, "dev_fraction": 0.1,
                 "test_fraction": 0.1}
# the keys of ``data`` a language taken from another corpus keeps (the rest are the other
# corpus's: its defaults, or what ``lang.<L>`` sets)
SHARED_DATA_KEYS = ("cache_dir", "hours", "seed")


def for_language(data: Mapping[str, Any], language: str) -> Mapping[str, Any]:
    """``data`` as ``language`` reads it: when ``data["lang"]`` names that language (by name
    or ISO code) with another corpus, that corpus (``data`` its source, ``path``, options)
    with ``data``'s cache dir, hours and seed; else ``data`` itself.

    Raises:
        UserError: ``lang.<L>`` without ``data``, or a ``path`` that does not exist.
    """
    per_language = data.get("lang") or {}
    if not per_language:
        return data
    try:
        name = get_language(language).name
    except ValueError:  # a manifest path or a label of a real corpus: only by that label
        name = None
    for key, spec in per_language.items():
        try:
            same = name is not None and get_language(str(key)).name == name
        except ValueError:
            same = False
        if not same and str(key) != language:
            continue
        spec = dict(spec or {})
        if not spec.get("data"):
            raise UserError(f"lang.{key}: give lang.{key}.data=<corpus kind> "
                            f"({', '.join(SOURCES)})")
        if spec.get("path") and not Path(str(spec["path"])).expanduser().exists():
            raise MissingInput(f"lang.{key}.path not found: {spec['path']}")
        return {**{k: data[k] for k in SHARED_DATA_KEYS if data.get(k) is not None},
                **{k: v for k, v in spec.items() if k != "data" and v is not None},
                "name": spec["data"]}
    return data


def prepare_corpus(data: Mapping[str, Any], language: str, seed: int = 0,
                   hold_out: bool = True) -> Corpus:
    """Builds or reuses the corpus that ``data`` (the ``data`` config group) describes.

    Args:
        data: ``name`` (a source), ``path`` (real corpora), ``hours``, ``cache_dir`` and the
            source's options (see ``conf/data/*.yaml``); ``lang``, ``{language: {"data":
            source, "path": ..., ...}}``, takes a language from another corpus
            (:func:`for_language`; the recipes' ``lang.<L>.data=... lang.<L>.path=...``).
        language: registry name for ``embedded``; any label for real corpora (a registry name
            additionally enables the script check).
        seed: seed of generation and of speaker splits.
        hold_out: for a real corpus without dev/test, carve them out of its utterances by
            speaker; ``False`` keeps the corpus's own splits, however few utterances it has
            (what ``split=all`` reads: every utterance).

    Raises:
        ValueError: unknown source or language, bad utterances (named), bad options.
        FileNotFoundError: a missing corpus path or file.
    """
    data = for_language(data, language)
    source = str(data.get("name", "embedded"))
    cache = Path(data.get("cache_dir") or default_cache_dir()).expanduser()
    if source == "embedded":
        cfg = _embedded_config(data, seed)
        out = prepare_embedded(language, cfg, cache)
        lang = get_language(language).name
    elif source in IMPORTERS:
        if source in RECORDED:  # rows or packages of a language, by its code or name
            language = get_language(language).name
        out = _prepare_real(source, data, language, seed, cache, hold_out)
        lang = language
    else:
        raise UserError(f"unknown data source {source!r}; known: {', '.join(SOURCES)}")
    summary = read_json(out / "summary.json", "corpus summary")
    return Corpus(language=lang, source=source, dir=out, summary=summary)


def _registry_language(language: str) -> Language | None:
    try:
        return get_language(language)
    except ValueError:
        return None


def _bad_handler(skip_bad: bool, counts: dict[str, int], where: str = "") -> Bad:
    """Counts each bad utterance by kind; raises its one-line error unless ``skip_bad``."""

    def bad(kind: str, msg: str) -> None:
        counts[kind] = counts.get(kind, 0) + 1
        if not skip_bad:
            raise UserError(f"{where}{msg} (data.skip_bad=true drops such utterances)")

    return bad


def _prepare_real(source: str, data: Mapping[str, Any], language: str, seed: int,
                  cache: Path, hold_out: bool = True) -> Path:
    path = data.get("path")
    if not path and source in FETCHED:
        iso = iso_of(source, language)
        path = fetch_packages(packages(source, iso), cache / "debian" / f"{source}-{iso}")
    if not path:
        raise UserError(f"data={source} needs data.path=<corpus directory or manifest>")
    # one setting for a study of many languages: data.path=/corpora/{language}
    path = Path(str(path).replace("{language}", language)).expanduser().resolve()
    if not path.exists():
        raise MissingInput(f"data.path not found: {path}")
    hours = data.get("hours")
    if hours is not None and (isinstance(hours, bool) or _number(hours) is None
                              or _number(hours) < 0):
        raise UserError(f"data.hours: expected hours of audio (or null: all), got {hours!r}")
    params = {"source": source, "path": str(path), "files": _fingerprint(path),
              "language": language, "seed": seed, "hours": hours,
              **{k: data.get(k) for k in ("out_of_script", "skip_bad", "dev_fraction",
                                          "test_fraction", "sample_rate")}}
    for k, default in REAL_DEFAULTS.items():  # unset (lang.<L> of another kind): the YAML's
        if params[k] is None:
            params[k] = default
    if not hold_out:  # only then: the cache keys of held-out corpora stay as they were
        params["hold_out"] = False
    audio = audio_stats(source, path, language)
    legacy = _key(params)  # the key before it covered the audio files
    params["audio"] = hashlib.sha1("".join(f"{p}:{st}\n" for p, st in audio.items()
                                           ).encode()).hexdigest()
    key = _key(params)
    cached = (sorted((cache / source / language / key).glob("corpus-*/summary.json"))
              or _unchanged_since(cache / source / language / legacy, audio))
    if cached:  # one corpus per key, named by what it holds (older ones: corpus-allh)
        out = cached[0].parent
        log.info("reusing cached %s manifests in %s", source, out)
        for warning in read_json(cached[0], "corpus summary").get("warnings", []):
            log.warning("%s", warning)
        return out
    counts: dict[str, int] = {}
    convert = {"audio_dir": cache / source / language / key / "audio"} if source in RECORDED else {}
    manifests = IMPORTERS[source](path, language,
                                  _bad_handler(bool(data.get("skip_bad", False)), counts),
                                  **convert)
    lang = _registry_language(language)
    cleaned = {split: _clean(recs, sups, language, lang, data, counts, f"{source}:{split}")
               for split, (recs, sups) in manifests.items()}
    shared: dict[str, int] = {}  # utterances dropped for reading a held-out sentence
    splits = _assign_splits(cleaned, seed,
                            checked("data.dev_fraction", data.get("dev_fraction", 0.1), float),
                            checked("data.test_fraction", data.get("test_fraction", 0.1), float),
                            hold_out, text_disjoint=source in RECORDED, counts=shared)
    dropped, noted = split_counts(counts, data.get("out_of_script"))
    if dropped:
        log.warning("%s: dropped bad utterances (data.skip_bad=true, data.out_of_script=drop): "
                    "%s", path, dropped)
    if shared:
        log.info("%s: the held-out splits share no sentence with the others: dropped %s "
                 "utterances reading one of theirs", path, shared)
    warnings = [*_small_held_out(cleaned, splits, path)]
    name = "corpus-all"  # the whole training split
    if hours and "train" in splits:
        total_h = sum(c.duration for c in splits["train"]) / 3600
        if float(hours) < total_h:
            splits["train"] = _limit_hours(splits["train"], float(hours), seed)
            name = f"corpus-{float(hours):g}h"
        elif float(hours) > total_h:
            warnings.append(f"data.hours={hours} asked, but {path} has only {total_h:.3f} h "
                            f"of training audio ({len(splits['train'])} utterances): using all "
                            f"of it (cached as {name})")
    for warning in warnings:
        log.warning("%s", warning)
    summary = {"language": language, "source": source, "path": str(path), "key": key,
               "params": params, "dropped_utterances": dropped,
               "noted_utterances": noted, "bad_utterances": counts, "warnings": warnings,
               **({"dropped_for_held_out_sentences": shared} if shared else {})}
    out = cache / source / language / key / name
    write_manifests(splits, out, summary)
    return out


def _key(params: Mapping[str, Any]) -> str:
    return hashlib.sha1(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]


def _unchanged_since(key_dir: Path, audio: Mapping[str, str]) -> list[Path]:
    """The ``summary.json`` of a corpus cached under a key that did not cover the audio files
    (asrtl before it did), when every one of ``audio`` is there and was last modified (or
    replaced: its ctime) before that corpus was written; else ``[]`` (it is rebuilt)."""
    cached = sorted(key_dir.glob("corpus-*/summary.json"))
    if not cached or any(st == "missing" for st in audio.values()):
        return []
    built = cached[0].stat().st_mtime_ns
    for p in audio:
        st = os.stat(p)
        if max(st.st_mtime_ns, st.st_ctime_ns) >= built:
            return []
    return cached


def audio_stats(source: str, path: Path, language: str | None = None) -> dict[str, str]:
    """``{audio file: "<size>:<mtime_ns>"}`` (``"missing"`` when absent) of every audio file
    that importing the corpus at ``path`` reads, found without reading any audio (the paths
    of a Kaldi ``wav.scp``, the clips of Common Voice TSVs, a BABEL pack's ``audio/`` files, a
    lhotse manifest's recordings): part of the cache key, so that an audio file fixed or
    replaced in place rebuilds the corpus. One ``os.stat`` per file."""
    out = {}
    for f in sorted(set(_audio_files(source, path, language))):
        try:
            st = os.stat(f)
            out[str(f)] = f"{st.st_size}:{st.st_mtime_ns}"
        except OSError:
            out[str(f)] = "missing"  # the import names it
    return out


def _audio_files(source: str, path: Path, language: str | None = None) -> list[Path]:
    """The audio files of :func:`audio_stats`; what cannot be parsed is left to the import,
    which names it."""
    if source == "kaldi":
        scps = [path / "wav.scp"] if (path / "wav.scp").is_file() else (
            [d / "wav.scp" for d in sorted(path.iterdir()) if d.name in SPLIT_NAMES]
            if path.is_dir() else [])
        files = []
        for scp in (f for f in scps if f.is_file()):
            for line in scp.read_text(encoding="utf-8", errors="replace").splitlines():
                src = line.strip().partition(" ")[2].strip()
                if src and not src.endswith("|"):
                    files.append(Path(src))
        return files
    if source == "commonvoice":
        files = []
        for tsv in commonvoice_tsvs(path).values():  # those the import reads
            with tsv.open(encoding="utf-8", newline="", errors="replace") as f:
                rows = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
                if "path" in (rows.fieldnames or []):
                    files += [path / "clips" / row["path"] for row in rows if row.get("path")]
        return files
    if source == "babel":
        return [f for conv in path.rglob("conversational") if conv.is_dir()
                for f in conv.glob("*/audio/*") if f.is_file()]
    if source == "asterisk" and language is not None:
        return asterisk_audio(path, language)
    if source == "fillets" and language is not None:
        return fillets_audio(path, language)
    if source == "csv" and language is not None:
        try:
            rows = csv_rows(path, language)
        except (UserError, OSError):  # the import names it
            return []
        return [csv_file(path).parent / r["path"] for r in rows]
    if source == "lhotse":
        manifests = [path] if path.is_file() else sorted(path.glob("*cuts*.jsonl*"))
        files = []
        for m in manifests:
            try:
                files += [Path(src.source) for cut in CutSet.from_jsonl_lazy(m)
                          if cut.has_recording for src in cut.recording.sources
                          if src.type == "file"]
            except Exception:  # noqa: BLE001 (not a manifest: the import says so)
                continue
        return files
    return []


def split_counts(counts: Mapping[str, int], out_of_script: str | None
                 ) -> tuple[dict[str, int], dict[str, int]]:
    """The counts of an import's noted utterances by kind, as ``(dropped, kept)``: under
    ``data.out_of_script=warn`` (the default) transcripts outside the script are kept, only
    noted; every other kind counted (``data.skip_bad``, ``out_of_script=drop``) was dropped.
    (``summary.json``'s ``bad_utterances`` holds both, as it always did.)"""
    kept_kinds = ("out_of_script",) if str(out_of_script or "warn") == "warn" else ()
    return ({k: n for k, n in counts.items() if k not in kept_kinds},
            {k: n for k, n in counts.items() if k in kept_kinds})


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


FEW_HELD_OUT = 5  # a dev or test split carved out with fewer utterances scores little


def _small_held_out(cleaned: Mapping[str, CutSet], splits: Mapping[str, CutSet],
                    path: Path) -> list[str]:
    """A warning for each dev/test split carved out of a corpus (not its own) with fewer
    than :data:`FEW_HELD_OUT` utterances."""
    carved = {s: len(splits[s]) for s in ("dev", "test") if s in splits and s not in cleaned}
    small = {s: n for s, n in carved.items() if n < FEW_HELD_OUT}
    if not small:
        return []
    total = sum(len(c) for c in cleaned.values())
    sizes = ", ".join(f"{s} {n}" for s, n in small.items())
    return [f"{path}: {total} utterances in all, so the {' and '.join(small)} split"
            f"{'s' if len(small) > 1 else ''} held out of them hold{'' if len(small) > 1 else 's'}"
            f" too few to score on ({sizes} utterances); give more data, or split=all where a "
            f"recipe reads one split (every utterance, unsplit)"]


def _fingerprint(path: Path) -> str:
    """Hash of the names, sizes and mtimes of the corpus's files (two levels deep, and a
    BABEL pack's ``transcription/`` files; a Common Voice ``clips/`` folder excluded): editing
    ``text``, a TSV or a transcript in place invalidates the cache, which a directory's own
    mtime would not."""
    patterns = ("*", "*/*", "*/*/transcription/*", "*/*/*/transcription/*")
    paths = [path] if path.is_file() else sorted(
        {p for pattern in patterns for p in path.glob(pattern)
         if p.is_file() and p.parent.name != "clips"})
    h = hashlib.sha1()
    for p in paths:
        st = p.stat()
        h.update(f"{p.relative_to(path.parent)}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def _clean(recs: RecordingSet, sups: SupervisionSet | None, label: str, lang: Language | None,
           data: Mapping[str, Any], counts: dict[str, int], where: str) -> CutSet:
    """Validates and normalises supervisions; returns cuts. Bad ones raise or are counted."""
    if sups is None or len(sups) == 0:
        raise UserError(f"{where}: no transcribed utterances")
    bad = _bad_handler(bool(data.get("skip_bad", False)), counts, f"{where}: ")
    policy = str(data.get("out_of_script", "warn"))
    if policy not in ("warn", "refuse", "drop"):
        raise UserError(f"data.out_of_script must be warn, refuse or drop, got {policy!r}")
    rec_ids = set(recs.ids)
    kept = []
    for sup in sups:
        if sup.recording_id not in rec_ids:
            bad("missing_recording", f"utterance {sup.id!r} has no recording "
                                     f"{sup.recording_id!r}")
            continue
        if sup.duration <= 0:
            bad("zero_length", f"utterance {sup.id!r} has zero-length audio")
            continue
        text = clean_transcript(sup.text or "", lang)
        if not text:
            bad("empty_transcript", f"utterance {sup.id!r} has an empty transcript")
            continue
        if lang is not None:
            foreign = out_of_script(text, lang.script)
            if foreign:
                counts["out_of_script"] = counts.get("out_of_script", 0) + 1
                msg = (f"utterance {sup.id!r}: characters outside the {lang.script.title()} "
                       f"script: {''.join(sorted(set(foreign)))!r}")
                if policy == "refuse":
                    raise UserError(f"{where}: {msg} (data.out_of_script=warn|drop)")
                if policy == "drop":
                    continue
                log.warning("%s: %s", where, msg)
        kept.append(fastcopy(sup, text=text, language=label,
                             custom={**(sup.custom or {}), "raw_text": sup.text}))
    if not kept:
        raise UserError(f"{where}: no usable utterances left")
    return CutSet.from_manifests(recordings=recs, supervisions=SupervisionSet.from_segments(
        kept)).trim_to_supervisions(keep_overlapping=False).to_eager()


def clean_transcript(text: str, lang: Language | None = None) -> str:
    """Normalises a transcript for grapheme CTC: NFC, lower case, punctuation removed
    (apostrophes and hyphens inside words kept), whitespace collapsed."""
    text = unicodedata.normalize("NFC", text)
    text = "".join(" " if unicodedata.category(c)[0] == "P" and c not in _KEEP_IN_WORDS else c
                   for c in text)
    out = normalize(text, turkic=bool(lang and lang.turkic_casing))
    return " ".join(w.strip("'-\u2019") for w in out.split() if w.strip("'-\u2019"))


def _split_by_speaker(cuts: CutSet, fraction: float, seed: int, name: str) -> tuple[CutSet,
                                                                                   CutSet]:
    speakers = sorted({c.supervisions[0].speaker or c.id for c in cuts})
    rng = random.Random(f"{name}-{seed}")
    rng.shuffle(speakers)
    if len(speakers) >= 3:
        held = set(speakers[:max(1, round(fraction * len(speakers)))])
        pick = [c for c in cuts if (c.supervisions[0].speaker or c.id) in held]
    else:
        log.warning("only %d speaker(s): %s split by utterance, not by speaker", len(speakers),
                    name)
        ids = sorted(cuts.ids)
        rng.shuffle(ids)
        held = set(ids[:max(1, round(fraction * len(ids)))])
        pick = [c for c in cuts if c.id in held]
    picked = {c.id for c in pick}
    return CutSet.from_cuts(c for c in cuts if c.id not in picked), CutSet.from_cuts(pick)


def _assign_splits(cleaned: dict[str, CutSet], seed: int, dev_fraction: float,
                   test_fraction: float, hold_out: bool = True, text_disjoint: bool = False,
                   counts: dict[str, int] | None = None) -> dict[str, CutSet]:
    """train/dev/test from whatever splits the corpus had; missing ones are carved out of
    the training data by speaker (held-out speakers, as for the embedded corpus), unless
    ``hold_out`` is false (the corpus's own splits; an unsplit corpus is all ``train``).
    With ``text_disjoint`` a carved-out split also shares no transcript with the splits
    left: utterances of training (then of dev) reading a held-out sentence are dropped and
    counted in ``counts[<split>]`` (a read corpus: one prompt list, many speakers)."""
    splits = dict(cleaned)
    if "all" in splits:
        splits.setdefault("train", splits.pop("all"))
    if not hold_out:
        return splits
    if "train" not in splits:
        raise UserError(f"corpus has no training split (has {sorted(splits)})")
    for name, frac in (("test", test_fraction), ("dev", dev_fraction)):
        if name not in splits:
            if len(splits["train"]) < 2:
                raise UserError(f"too few utterances ({len(splits['train'])}) to hold out {name}")
            splits["train"], splits[name] = _split_by_speaker(splits["train"], frac, seed, name)
            if text_disjoint:
                held = {c.supervisions[0].text for c in splits[name]}
                for other in ("train", "dev") if name == "test" else ("train",):
                    if other not in splits:
                        continue
                    kept = CutSet.from_cuts(c for c in splits[other]
                                            if c.supervisions[0].text not in held)
                    if counts is not None and len(kept) < len(splits[other]):
                        counts[other] = counts.get(other, 0) + len(splits[other]) - len(kept)
                    if not kept:
                        raise UserError(
                            f"every {other} utterance reads a sentence of the held-out {name} "
                            f"split (a recorded corpus keeps held-out sentences out of "
                            f"training): it needs sentences that not every speaker reads, or "
                            f"its own {name} split")
                    splits[other] = kept
    return splits


def _limit_hours(cuts: CutSet, hours: float, seed: int) -> CutSet:
    """The shortest prefix of a seeded shuffle of ``cuts`` holding ``hours`` of audio."""
    ids = sorted(cuts.ids)
    random.Random(f"hours-{seed}").shuffle(ids)
    by_id = {c.id: c for c in cuts}
    out, total = [], 0.0
    for i in ids:
        if total >= hours * 3600:
            break
        out.append(by_id[i])
        total += by_id[i].duration
    return CutSet.from_cuts(out)


def describe_corpus(corpus_dir: Path) -> dict[str, Any]:
    """What a report says of a cached corpus: its ``source`` and ``path`` (None for the
    embedded corpus), ``hours``, ``utterances`` and ``speakers`` per split, and the
    ``sample_rates`` of its audio as stored (before the models' 16 kHz).

    Raises:
        MissingInput / UserError: no ``summary.json``, or a corrupt one.
    """
    s = read_json(Path(corpus_dir) / "summary.json", "corpus summary")
    rates: set[int] = set()
    for f in sorted(Path(corpus_dir).glob("*_recordings.jsonl.gz")):
        rates |= {int(r.sampling_rate) for r in RecordingSet.from_jsonl_lazy(f)}
    return {"source": s.get("source", "embedded"), "path": s.get("path"),
            "splits": {k: {m: v.get(m) for m in ("hours", "utterances", "speakers")}
                       for k, v in (s.get("splits") or {}).items()},
            "sample_rates": sorted(rates)}


def format_summary(corpus: Corpus) -> str:
    """A human-readable table of the corpus summary."""
    s = corpus.summary
    lines = [f"{corpus.language} ({corpus.source}) in {corpus.dir}",
             f"{'split':6} {'utts':>6} {'hours':>8} {'speakers':>8} {'words':>6} {'oov':>6}"]
    for split, st in s.get("splits", {}).items():
        lines.append(f"{split:6} {st['utterances']:6d} {st['hours']:8.3f} {st['speakers']:8d} "
                     f"{st['distinct_words']:6d} {st['oov_rate']:6.1%}")
    if "cldr_words" in s:
        lines.append(f"CLDR words usable: {s['cldr_words']} (spelled out, dropped: "
                     f"{s['spelled_out_dropped']}; test-only: {s['test_only_words']})")
    if s.get("synthesis", {}).get("audio_s"):
        syn = s["synthesis"]
        lines.append(f"synthesis: {syn['audio_s']:.0f} s of audio in {syn['wall_s']:.1f} s "
                     f"({syn['audio_s_per_wall_s']:.0f}x real time, {syn['workers']} workers)")
    if "dropped_utterances" in s:
        dropped, noted = s["dropped_utterances"], s.get("noted_utterances", {})
    else:  # a corpus cached before the two were apart
        dropped, noted = split_counts(s.get("bad_utterances") or {},
                                      (s.get("params") or {}).get("out_of_script"))
    if dropped:
        lines.append(f"bad utterances dropped: {dropped}")
    if s.get("dropped_for_held_out_sentences"):
        lines.append(f"dropped for reading a held-out sentence: "
                     f"{s['dropped_for_held_out_sentences']}")
    if noted:
        lines.append(f"utterances kept, noted: {noted} (out_of_script: characters outside "
                     f"the script; data.out_of_script=drop drops them)")
    return "\n".join(lines)


def is_manifest_path(target: str) -> bool:
    """A target given as a manifest's path rather than a language name."""
    return "/" in target or target.endswith((".jsonl.gz", ".jsonl", ".json"))


def audio_cuts(path: str | Path) -> CutSet:
    """Cuts of any lhotse manifest of audio (a CutSet, or a RecordingSet: one cut per
    recording), transcripts not needed: what LID scores. Rates other than 16 kHz are
    resampled on loading (:func:`asrtl.data.audio.load_audio`).

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a lhotse manifest of audio, or one with no audio in it.
    """
    from lhotse import load_manifest

    p = Path(path).expanduser()
    if not p.is_file():
        raise MissingInput(f"audio manifest not found: {p}")
    try:
        manifest = load_manifest(p)
    except Exception as e:  # lhotse raises ValueError, JSONDecodeError, gzip errors...
        raise UserError(f"not a readable lhotse manifest: {p} ({type(e).__name__})") from e
    if isinstance(manifest, RecordingSet):
        manifest = CutSet.from_manifests(recordings=manifest)
    if not isinstance(manifest, CutSet):
        raise UserError(f"{p} is a {type(manifest).__name__}, not cuts or recordings")
    cuts = CutSet.from_cuts(c for c in manifest if c.has_recording and c.duration > 0)
    if len(cuts) == 0:
        raise UserError(f"{p} has no audio (no cut with a recording and a duration)")
    return cuts
