"""Transcribe audio files with a trained checkpoint; no transcripts needed.

    python recipes/transcribe.py checkpoint=exp/pretrain/turkish audio=[a.wav,b.flac]
    python recipes/transcribe.py checkpoint=exp/pretrain/turkish audio=/data/clips decode=beam
    python recipes/transcribe.py checkpoint=exp/pretrain/turkish audio=/data/kaldi/wav.scp

Prints ``<id or path> <text>``, one line per file (ids from a ``wav.scp``, paths otherwise),
and writes the text and word timestamps of every file to
``<exp_dir>/transcribe/<name>/transcripts.json``. Decoding is :mod:`asrtl.api`'s, the same as
``recipes/decode.py``'s.

Nothing is cached: the only corpus read is the checkpoint's training manifest, for the words
of ``decode=beam lexicon=train``, where the checkpoint recorded it, or, given
``data.cache_dir=C`` (a cache moved or copied), at the same place under ``C``.
"""

import logging
from pathlib import Path

import hydra
from omegaconf import DictConfig, ListConfig

from asrtl.api import load_model
from asrtl.cli import check_overrides, recipe
from asrtl.errors import MissingInput, UserError
from asrtl.eval.config import check_search
from asrtl.eval.decode import lexicon_words
from asrtl.io import write_json_atomic
from asrtl.layout import RunLayout

log = logging.getLogger("transcribe")

AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".opus", ".mp3", ".sph", ".m4a", ".aiff", ".aif"}


def audio_files(audio: str | list[str]) -> list[tuple[str, Path]]:
    """``(id, path)`` per file of ``audio=``: a list of files, one file, a directory (its audio
    files by suffix, recursively, sorted) or a ``*.scp`` file (``<id> <path>`` lines).

    Raises:
        FileNotFoundError: a path that does not exist, named.
        ValueError: an empty directory or list, a malformed ``wav.scp`` line.
    """
    if isinstance(audio, (list, tuple, ListConfig)):
        files = [(str(a), Path(str(a)).expanduser()) for a in audio]
        if not files:
            raise UserError("audio=[] is empty: give audio files, a directory or a wav.scp")
        return files
    path = Path(str(audio)).expanduser()
    if path.is_dir():
        found = sorted(p for p in path.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES
                       and p.is_file())
        if not found:
            raise UserError(f"no audio files ({', '.join(sorted(AUDIO_SUFFIXES))}) in {path}")
        return [(str(p), p) for p in found]
    if not path.exists():
        raise MissingInput(f"audio not found: {path}")
    if path.suffix != ".scp":
        return [(str(audio), path)]
    files = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        key, _, src = line.strip().partition(" ")
        src = src.strip()
        if not src:
            raise UserError(f"{path}:{n}: expected '<id> <audio path>', got {line.strip()!r}")
        if src.endswith("|"):
            raise UserError(f"{path}:{n}: {key!r} is a piped command; give audio files")
        files.append((key, Path(src).expanduser()))
    if not files:
        raise UserError(f"{path} lists no audio")
    return files


@hydra.main(config_path="../conf", config_name="transcribe", version_base="1.3")
@recipe
def main(cfg: DictConfig) -> None:
    search = check_search(cfg.decode)
    files = audio_files(cfg.audio)
    model = load_model(cfg.checkpoint, device=cfg.device, language=cfg.language)
    lexicon = None if cfg.lexicon in (None, "none") else cfg.lexicon
    if search == "beam" and lexicon == "train" and cfg.data.cache_dir:  # words from there
        lexicon = lexicon_words("train", model.meta.training_corpus(model.language,
                                                                    cfg.data.cache_dir))
    results = model.transcribe(
        [path for _, path in files], decode=search, lexicon=lexicon, kenlm=cfg.kenlm,
        beam_size=cfg.beam_size, batch_duration_s=cfg.batch_duration_s)
    runs = RunLayout(cfg.exp_dir)
    out = (runs.exp_dir / "transcribe" / cfg.name if cfg.name else
           runs.model_output("transcribe", cfg.checkpoint, cfg.language))
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / "transcripts.json", {
        "checkpoint": str(model.path), "language": model.language, "decode": search,
        "files": [{"id": key, "path": str(path), **r.to_dict()}
                  for (key, path), r in zip(files, results, strict=True)]})
    for (key, _), r in zip(files, results, strict=True):
        print(f"{key} {r.text}", flush=True)
    log.info("%d files: text and word timestamps in %s", len(files), out / "transcripts.json")


if __name__ == "__main__":
    check_overrides("transcribe")
    main()
