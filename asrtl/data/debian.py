"""Recorded speech from Debian packages -> lhotse manifests (``../shared/realspeech/DEBIAN.md``
describes the packages):

- ``data=asterisk``: Asterisk's core telephony prompts (``asterisk-core-sounds-<l>-wav``, 8 kHz
  WAV, one voice per language; en, es, fr, it, ru) with the transcripts of the matching
  meta package ``asterisk-core-sounds-<l>`` (``core-sounds-<l>.txt.gz``, ``<id>: <text>``).
- ``data=fillets``: Fish Fillets NG game dialogue (``fillets-ng-data-<l>``, Ogg; cs, nl),
  transcripts in ``fillets-ng-data``'s ``script/**/dialogs_<l>.lua``.

``data.path`` is a directory the packages were unpacked into (``dpkg-deb -x PKG DIR``, both
packages into one DIR); without it the packages are fetched with ``apt-get download`` into
the cache (:func:`fetch_packages`). Normalisation, per corpus: bracketed or parenthesised
stage directions (``[ascending tones]``, ``(5 seconds of silence)``) are removed and an entry
left with no words is skipped; numbers written in digits are spelled with the package's own
``digits/<n>`` prompts (Asterisk) and an utterance with a number it cannot spell is skipped;
case, punctuation and NFC are the common normalisation's (``clean_transcript``). Audio files
without a transcript, transcripts without audio and skipped entries are counted in the log.
"""

from __future__ import annotations

import gzip
import logging
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from lhotse import RecordingSet, SupervisionSegment, SupervisionSet

from asrtl.data.corpora import Bad, Manifests, recording_from_file, strict
from asrtl.data.languages import get_language
from asrtl.errors import MissingInput, UserError

log = logging.getLogger(__name__)

ASTERISK = ("en", "es", "fr", "it", "ru")  # languages with core sounds and transcripts
FILLETS = ("cs", "nl")  # languages with dubbed dialogue
_STAGE = re.compile(r"\[[^\]]*\]|\([^)]*\)")
_NUMBER = re.compile(r"\d+")
_LUA_STR = r'"((?:[^"\\]|\\.)*)"'
_DIALOG = re.compile(rf"dialogId\(\s*{_LUA_STR}\s*,\s*{_LUA_STR}\s*,\s*{_LUA_STR}\s*\)"
                     rf"\s*dialogStr\(\s*{_LUA_STR}\s*\)")


def packages(source: str, iso: str) -> list[str]:
    """The Debian packages that hold ``source``'s audio and transcripts of language ``iso``."""
    if source == "asterisk":
        return [f"asterisk-core-sounds-{iso}-wav", f"asterisk-core-sounds-{iso}"]
    return [f"fillets-ng-data-{iso}", "fillets-ng-data"]


def iso_of(source: str, language: str) -> str:
    """The ISO code of ``language`` when ``source`` has it, else a one-line error."""
    iso = get_language(language).iso
    have = ASTERISK if source == "asterisk" else FILLETS
    if iso not in have:
        raise UserError(f"data={source} has no {language} (it has {', '.join(have)})")
    return iso


def fetch_packages(names: list[str], into: Path) -> Path:
    """Downloads the Debian packages ``names`` (``apt-get download``, no root needed) and
    unpacks them (``dpkg-deb -x``) into ``into``, once: a complete unpack is kept (marked by
    ``into/.complete``), a partial one is redone.

    Raises:
        UserError: apt-get or dpkg-deb missing, or a download that fails (naming the
            package and the manual steps).
    """
    if (into / ".complete").is_file():
        return into
    manual = (f"on a Debian or Ubuntu machine run `apt-get download {' '.join(names)}` and "
              f"`dpkg-deb -x <file.deb> <dir>` for each, then give data.path=<dir>")
    missing = [tool for tool in ("apt-get", "dpkg-deb") if shutil.which(tool) is None]
    if missing:
        raise UserError(f"fetching {', '.join(names)} needs {' and '.join(missing)}, not found "
                        f"here: {manual}")
    into.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=into.parent, prefix=".fetch-") as tmp:
        debs, root = Path(tmp) / "debs", Path(tmp) / "root"
        debs.mkdir()
        for name in names:
            log.info("fetching Debian package %s", name)
            res = subprocess.run(["apt-get", "download", name], cwd=debs, capture_output=True,
                                 text=True)
            if res.returncode != 0:
                why = (res.stderr.strip().splitlines() or ["no output"])[-1]
                raise UserError(f"apt-get download {name} failed ({why}): {manual}")
        for deb in sorted(debs.glob("*.deb")):
            res = subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], capture_output=True,
                                 text=True)
            if res.returncode != 0:
                why = (res.stderr.strip().splitlines() or ["no output"])[-1]
                raise UserError(f"dpkg-deb -x {deb.name} failed ({why}): {manual}")
        (root / ".complete").write_text("\n".join(names) + "\n", encoding="utf-8")
        shutil.rmtree(into, ignore_errors=True)
        root.rename(into)
    return into


def _count(counts: dict[str, int], kind: str) -> None:
    counts[kind] = counts.get(kind, 0) + 1


def _counting(bad: Bad, counts: dict[str, int]) -> Bad:
    """``bad``, but zero-length audio (an empty prompt file, as packaged) is counted and
    skipped rather than an error."""
    def handle(kind: str, message: str) -> None:
        if kind == "zero_length":
            _count(counts, "zero_length_files")
        else:
            bad(kind, message)
    return handle


def _log_counts(where: str, counts: dict[str, int]) -> None:
    if counts:
        log.info("%s: skipped %s", where,
                 ", ".join(f"{n} {kind.replace('_', ' ')}" for kind, n in sorted(counts.items())))


def speech_text(text: str) -> str:
    """``text`` without stage directions (``[...]``, ``(...)``), whitespace collapsed."""
    return " ".join(_STAGE.sub(" ", text).split())


def spell_numbers(text: str, numbers: dict[str, str]) -> str | None:
    """``text`` with each number written in digits replaced by its word(s) in ``numbers``
    (``{"1": "uno", ...}``); None when one has no entry there."""
    out = []
    for token in re.split(r"(\d+)", text):
        if _NUMBER.fullmatch(token):
            if token not in numbers and token.lstrip("0") not in numbers:
                return None
            out.append(numbers.get(token) or numbers[token.lstrip("0")])
        else:
            out.append(token)
    return "".join(out)


# --- Asterisk core sounds ---------------------------------------------------------------

def _asterisk_tree(path: Path, iso: str) -> tuple[Path, Path]:
    """``(voice directory, transcript file)`` of the unpacked packages under ``path``."""
    sounds = sorted(d for d in path.glob("**/asterisk/sounds/*") if d.is_dir()
                    and d.name.lower().startswith(f"{iso}_"))
    if not sounds:
        raise MissingInput(f"no Asterisk voice directory usr/share/asterisk/sounds/{iso}_* "
                           f"under {path} (unpack asterisk-core-sounds-{iso}-wav there)")
    texts = sorted(path.glob(f"**/core-sounds-{iso}.txt*"))
    if not texts:
        raise MissingInput(f"no transcripts core-sounds-{iso}.txt.gz under {path} (unpack the "
                           f"meta package asterisk-core-sounds-{iso} there too)")
    return sounds[0], texts[0]


def asterisk_transcripts(f: Path) -> dict[str, str]:
    """``{prompt id: text}`` of a ``core-sounds-<l>.txt[.gz]`` file (``;`` comments)."""
    raw = gzip.decompress(f.read_bytes()) if f.suffix == ".gz" else f.read_bytes()
    out = {}
    for line in raw.decode("utf-8-sig").splitlines():
        line = line.strip()
        if not line or line.startswith(";") or ":" not in line:
            continue
        key, _, text = line.partition(":")
        out[key.strip()] = text.strip()
    return out


def asterisk_audio(path: Path, language: str) -> list[Path]:
    """The prompt WAVs of ``language`` under ``path`` and their transcript file (for the
    cache key: the package tree is deeper than its fingerprint looks); none when the tree is
    not there (the import says why)."""
    try:
        voice, text_file = _asterisk_tree(path, iso_of("asterisk", language))
    except UserError:
        return []
    return [*sorted(voice.rglob("*.wav")), text_file]


def import_asterisk(path: str | Path, language: str, bad: Bad = strict,
                    audio_dir: Path | None = None) -> Manifests:
    """The core prompts of ``language`` with their transcript lines, one voice (the voice
    directory's name is the speaker), all in split ``all``."""
    iso = iso_of("asterisk", language)
    voice, text_file = _asterisk_tree(Path(path), iso)
    texts = asterisk_transcripts(text_file)
    lower = {k.lower(): k for k in texts}
    numbers = {k.split("/", 1)[1]: v for k, v in texts.items()
               if k.startswith("digits/") and re.fullmatch(r"\d+", k.split("/", 1)[1])
               and not _NUMBER.search(v)}
    counts: dict[str, int] = {}
    recs, sups, used = [], [], set()
    for wav in sorted(voice.rglob("*.wav")):
        pid = wav.relative_to(voice).with_suffix("").as_posix()
        key = pid if pid in texts else lower.get(pid.lower())
        if key is None:
            _count(counts, "files_without_text")
            continue
        used.add(key)
        text = speech_text(texts[key])
        if not text:
            _count(counts, "non_speech_entries")
            continue
        spelled = spell_numbers(text, numbers)
        if spelled is None:
            _count(counts, "numbers_not_spelled")
            continue
        rec = recording_from_file(wav, pid, str(text_file), _counting(bad, counts))
        if rec is None:
            continue
        recs.append(rec)
        sups.append(SupervisionSegment(id=pid, recording_id=pid, start=0.0,
                                       duration=rec.duration, channel=0, text=spelled,
                                       speaker=voice.name, language=language))
    counts["texts_without_audio"] = len(set(texts) - used)
    _log_counts(f"asterisk {iso} ({voice.name})", {k: v for k, v in counts.items() if v})
    if not sups:
        raise UserError(f"{voice}: no prompt with a transcript in {text_file}")
    return {"all": (RecordingSet.from_recordings(recs), SupervisionSet.from_segments(sups))}


# --- Fish Fillets NG --------------------------------------------------------------------

def _unlua(s: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": " ", "t": " "}.get(m.group(1), m.group(1)), s)


def fillets_dialogue(script: Path, iso: str) -> dict[str, tuple[str, str]]:
    """``{dialogue id: (character font, text)}`` of every ``dialogs_<iso>.lua`` under
    ``script`` (a level's ``dialogId(id, font, english)`` + ``dialogStr(text)``)."""
    out = {}
    for f in sorted(script.rglob(f"*dialogs_{iso}.lua")):
        for m in _DIALOG.finditer(f.read_text(encoding="utf-8", errors="replace")):
            out[_unlua(m.group(1))] = (_unlua(m.group(2)), _unlua(m.group(4)))
    return out


def _fillets_root(path: Path) -> Path:
    roots = sorted(p.parent for p in path.glob("**/fillets-ng/script"))
    if not roots:
        raise MissingInput(f"no Fish Fillets data (usr/share/games/fillets-ng/script) under "
                           f"{path} (unpack fillets-ng-data there)")
    return roots[0]


def fillets_audio(path: Path, language: str) -> list[Path]:
    """The dialogue Oggs of ``language`` under ``path`` and its ``dialogs_<l>.lua`` files (for
    the cache key)."""
    try:
        root = _fillets_root(path)
        iso = iso_of("fillets", language)
    except UserError:
        return []
    return [*sorted(root.glob(f"sound/*/{iso}/*.ogg")),
            *sorted((root / "script").rglob(f"*dialogs_{iso}.lua"))]


def import_fillets(path: str | Path, language: str, bad: Bad = strict,
                   audio_dir: Path | None = None) -> Manifests:
    """The dubbed dialogue of ``language``: one utterance per line with audio and text, the
    character (its font) as the speaker, all in split ``all``."""
    iso = iso_of("fillets", language)
    root = _fillets_root(Path(path))
    lines = fillets_dialogue(root / "script", iso)
    oggs = sorted(root.glob(f"sound/*/{iso}/*.ogg"))
    if not oggs:
        raise MissingInput(f"no {iso} dialogue audio (sound/<level>/{iso}/*.ogg) under {root} "
                           f"(unpack fillets-ng-data-{iso} there)")
    counts: dict[str, int] = {}
    recs, sups, used = [], [], set()
    for ogg in oggs:
        lid = ogg.stem
        if lid not in lines:
            _count(counts, "files_without_text")
            continue
        used.add(lid)
        font, raw = lines[lid]
        text = speech_text(raw)
        if not text:
            _count(counts, "non_speech_entries")
            continue
        if _NUMBER.search(text):
            _count(counts, "numbers_not_spelled")
            continue
        rec = recording_from_file(ogg, f"{ogg.parent.parent.name}/{lid}", str(ogg.parent),
                                  _counting(bad, counts))
        if rec is None:
            continue
        recs.append(rec)
        sups.append(SupervisionSegment(id=rec.id, recording_id=rec.id, start=0.0,
                                       duration=rec.duration, channel=0, text=text,
                                       speaker=font.removeprefix("font_"), language=language))
    counts["texts_without_audio"] = len(set(lines) - used)
    _log_counts(f"fillets {iso}", {k: v for k, v in counts.items() if v})
    if not sups:
        raise UserError(f"{root}: no {iso} dialogue line with both audio and text")
    return {"all": (RecordingSet.from_recordings(recs), SupervisionSet.from_segments(sups))}
