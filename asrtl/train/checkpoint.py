"""Checkpoints: one directory each, written to ``<name>.tmp/`` and renamed into place.

``checkpoints/step-000400/``:
- ``model.safetensors``: the weights;
- ``meta.json``: format version, architecture, vocabulary (blank first), language, features,
  step, epoch, metrics, parent checkpoint, git commit, resolved config;
- ``trainer.pt``: optimizer state, plain types and tensors only (``weights_only=True`` loads it).

``latest.json`` and ``best.json`` beside them point at a checkpoint; they too are replaced
atomically. Loading rebuilds the model from ``meta.json`` and loads strictly.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from asrtl.data.vocab import Vocabulary
from asrtl.errors import MissingInput, UserError
from asrtl.io import read_json
from asrtl.models.ctc import CTCModel, ModelConfig
from asrtl.models.factory import build_model

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
DAMAGED = ".damaged"  # suffix of a checkpoint directory set aside as damaged (kept, not read)


class FormatMismatch(UserError):
    """A checkpoint written in another format version (a newer or older asrtl): whole, but
    not for this asrtl to read."""


@dataclass(frozen=True)
class CheckpointMeta:
    """A checkpoint's ``meta.json``, the one typed record of it (:func:`read_meta` reads it;
    :func:`save_checkpoint` writes it). Keys this version does not name (a kind's own: a LID
    model's, an adapter's) are kept in ``extra``.

    Attributes:
        format_version: :data:`FORMAT_VERSION` (another one is refused, naming it).
        architecture: the model's config (``ModelConfig``, ``LIDConfig``) as a dict.
        kind: ``ctc``, ``multilingual``, ``lid`` or ``ssl`` (weights without a head).
        vocab: the output tokens, blank first (``ctc``); vocabs: per language (multilingual).
        units: what a token is, ``chars`` or ``phones`` (IPA phones, ``units=phones``).
        language, languages: what it was trained on (``languages``: multilingual and LID).
        corpus: the corpus record (``dir`` and its summary; per language for multilingual).
        features: fbank settings; config: the resolved config of the run that wrote it.
        step, epoch, metrics: where in training, and the dev metrics there.
        parent: the checkpoint it started from (a transfer's source); git_commit: the code.
    """

    format_version: int
    architecture: dict[str, Any]
    kind: str = "ctc"
    vocab: list[str] | None = None
    vocabs: dict[str, list[str]] | None = None
    units: str = "chars"
    language: str | None = None
    languages: list[str] | None = None
    corpus: dict[str, Any] | None = None
    features: dict[str, Any] | None = None
    config: dict[str, Any] | None = None
    step: int | None = None
    epoch: int | None = None
    metrics: dict[str, Any] | None = None
    parent: str | None = None
    git_commit: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: Path | str) -> CheckpointMeta:
        """The record of mapping ``d`` (read from ``where``).

        Raises:
            FormatMismatch: another format version, naming it.
            UserError: no architecture, or a field of the wrong kind, naming the file.
        """
        if d.get("format_version") != FORMAT_VERSION:
            raise FormatMismatch(f"{where}: checkpoint format {d.get('format_version')!r}, "
                                 f"this asrtl reads format {FORMAT_VERSION}")
        known = {f.name for f in fields(cls)} - {"extra"}
        shapes = {"architecture": dict, "kind": str, "vocab": list, "vocabs": dict, "units": str,
                  "language": str, "languages": list, "corpus": dict, "features": dict,
                  "config": dict, "metrics": dict, "parent": str}
        for key, kind in shapes.items():
            if d.get(key) is not None and not isinstance(d[key], kind):
                raise UserError(f"corrupt checkpoint metadata {where}: {key} is not a "
                                f"{kind.__name__}")
        if d.get("units", "chars") not in ("chars", "phones"):
            raise UserError(f"corrupt checkpoint metadata {where}: units {d['units']!r} (not "
                            f"chars or phones)")
        if not isinstance(d.get("architecture"), dict):
            raise UserError(f"corrupt checkpoint metadata {where}: no architecture")
        return cls(**{k: v for k, v in d.items() if k in known and v is not None},
                   extra={k: v for k, v in d.items() if k not in known})

    def to_dict(self) -> dict[str, Any]:
        """The ``meta.json`` mapping (``None`` fields left out, ``extra`` merged)."""
        out = {k: v for k, v in asdict(self).items() if k != "extra" and v is not None}
        return {**out, **self.extra}

    @classmethod
    def of(cls, model: nn.Module, vocab: Vocabulary | None = None) -> CheckpointMeta:
        """The record of a model built in memory: its architecture and vocabulary only."""
        return cls(FORMAT_VERSION, model.cfg.to_dict(),
                   vocab=None if vocab is None else list(vocab.tokens),
                   units="chars" if vocab is None else vocab.units)

    @property
    def data(self) -> dict[str, Any]:
        """The ``data`` section of the run's config (empty when none was recorded)."""
        return dict((self.config or {}).get("data") or {})

    def training_corpus(self, language: str | None = None,
                        cache_dir: str | None = None) -> dict[str, Any]:
        """The record of the corpus it was trained on (``{"dir", ...}``; a multilingual
        checkpoint's for ``language``), its dir moved from the cache it was built in
        (``config.data.cache_dir``) to ``cache_dir`` when given (a cache moved or copied;
        a dir outside the old cache stays)."""
        corpus = dict(self.corpus or {})
        if self.kind == "multilingual":
            corpus = dict(corpus.get(language or "") or {})
        built = self.data.get("cache_dir")
        if cache_dir and built and corpus.get("dir"):
            old = Path(str(built)).expanduser().resolve()
            d = Path(str(corpus["dir"])).expanduser().resolve()
            if d.is_relative_to(old):
                corpus["dir"] = str(Path(cache_dir).expanduser().resolve() / d.relative_to(old))
        return corpus


@dataclass
class Checkpoint:
    """A loaded checkpoint: the model (on CPU), its vocabulary and metadata."""

    path: Path
    model: CTCModel
    vocab: Vocabulary | None  # None: a pretrained encoder without a head (SSL weights)
    meta: CheckpointMeta | None = None  # None: the model's architecture and vocabulary only

    def __post_init__(self) -> None:
        if self.meta is None:
            self.meta = CheckpointMeta.of(self.model, self.vocab)

    @property
    def language(self) -> str:
        return self.meta.language or ""


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             cwd=Path(__file__).parent, timeout=5)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def save_checkpoint(ckpt_dir: Path, name: str, model: nn.Module, meta: dict[str, Any],
                    trainer_state: dict[str, Any] | None = None) -> Path:
    """Writes ``ckpt_dir/name/`` atomically and returns it.

    Args:
        ckpt_dir: the run's ``checkpoints/`` directory.
        name: e.g. ``step-000400``.
        model: weights to save (taken to CPU); its ``cfg.to_dict()`` is the architecture.
        meta: metadata; architecture and format version are added.
        trainer_state: optimizer state etc. (tensors and plain types only).
    """
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    final = ckpt_dir / name
    tmp = ckpt_dir / f"{name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(tmp / "model.safetensors"))
    meta = {"format_version": FORMAT_VERSION, "architecture": model.cfg.to_dict(),
            "git_commit": git_commit(), **meta}
    (tmp / "meta.json").write_text(json.dumps(meta, ensure_ascii=False, indent=1, default=str),
                                   encoding="utf-8")
    # safetensors writes its file 0600, which a shared results directory cannot read: the
    # weights get the mode meta.json was given (0666 less the umask)
    os.chmod(tmp / "model.safetensors", (tmp / "meta.json").stat().st_mode & 0o777)
    if trainer_state is not None:
        torch.save(trainer_state, tmp / "trainer.pt")
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    return final


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint directory from a checkpoint dir, a run dir (its ``best.json``, else
    ``latest.json``) or a ``checkpoints/`` dir.

    Raises:
        FileNotFoundError: naming the path when nothing loadable is there.
    """
    p = Path(path).expanduser()
    if (p / "model.safetensors").is_file() or (p / "meta.json").is_file():
        return p
    for ckpts in (p / "checkpoints", p):
        for pointer in ("best.json", "latest.json"):
            f = ckpts / pointer
            if f.is_file():
                return ckpts / pointer_name(f)
    raise MissingInput(f"no asrtl checkpoint at {p} (expected model.safetensors + "
                       f"meta.json, or a run dir with checkpoints/latest.json)")


def pointer_name(f: Path) -> str:
    """The checkpoint name in pointer ``f`` (``best.json``, ``latest.json``).

    Raises:
        UserError: ``f`` is missing, not JSON or names no checkpoint.
    """
    data = read_json(f, "checkpoint pointer")
    name = data.get("name") if isinstance(data, dict) else None
    if not isinstance(name, str) or not name:
        raise UserError(f"checkpoint pointer {f} names no checkpoint (expected {{\"name\": ...}})")
    return name


def read_meta(ckpt: Path) -> CheckpointMeta:
    """``meta.json`` of a checkpoint directory; a clear error when missing or corrupt."""
    f = ckpt / "meta.json"
    try:
        meta = json.loads(f.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MissingInput(f"checkpoint {ckpt} has no meta.json") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"corrupt checkpoint metadata {f}: {e}") from None
    if not isinstance(meta, dict):
        raise UserError(f"corrupt checkpoint metadata {f}: not a JSON object")
    return CheckpointMeta.from_dict(meta, f)


def damage(ckpt: Path) -> str | None:
    """Why the checkpoint directory ``ckpt`` cannot be resumed from, or None when it is whole:
    a missing or corrupt ``meta.json``, weights missing, truncated (shorter than their own
    header says) or unreadable, no ``trainer.pt``. Reads the headers only.

    Raises:
        FormatMismatch: the checkpoint is whole but of another format version (not damage:
            skipping it would resume from an older one, or start over, without need).
    """
    if not ckpt.is_dir():
        return f"{ckpt} does not exist"
    try:
        read_meta(ckpt)
    except FormatMismatch:
        raise
    except (FileNotFoundError, ValueError) as e:
        return str(e)
    weights = ckpt / "model.safetensors"
    try:
        with weights.open("rb") as f:
            size = int.from_bytes(f.read(8), "little")
            if not 0 < size < 2**27:
                raise ValueError
            header = json.loads(f.read(size))
        end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"),
                  default=0)
    except FileNotFoundError:
        return f"checkpoint {ckpt} has no model.safetensors"
    except (ValueError, KeyError, TypeError, AttributeError, IndexError, OSError):
        return f"corrupt checkpoint weights {weights}"
    if weights.stat().st_size < 8 + size + end:
        return f"truncated checkpoint weights {weights}"
    if not (ckpt / "trainer.pt").is_file():
        return f"checkpoint {ckpt} has no trainer.pt"
    return None


def load_checkpoint(path: str | Path, expect: ModelConfig | None = None) -> Checkpoint:
    """Loads a checkpoint (weights strictly, on CPU) and rebuilds its model from meta.json.

    Args:
        path: a checkpoint dir or a run dir (see :func:`resolve_checkpoint`).
        expect: when given, the architecture the caller needs; a different one is an error
            naming both.

    Raises:
        FileNotFoundError: nothing loadable at ``path``.
        ValueError: corrupt files, or an architecture other than ``expect``.
    """
    ckpt = resolve_checkpoint(path)
    meta = read_meta(ckpt)
    if meta.kind != "ctc":
        raise UserError(f"checkpoint {ckpt} is a {meta.kind} model, not a CTC acoustic "
                        f"model")
    cfg = ModelConfig.from_dict(meta.architecture)
    if expect is not None and expect != cfg:
        raise UserError(f"checkpoint {ckpt} has another architecture: "
                         + ", ".join(cfg.differences(expect)))
    if meta.vocab is None:
        raise UserError(f"corrupt checkpoint metadata {ckpt / 'meta.json'}: no vocab")
    vocab = Vocabulary(list(meta.vocab), meta.units)
    if len(vocab) != cfg.vocab_size:
        raise UserError(f"{ckpt}: vocabulary of {len(vocab)} tokens but a head of "
                        f"{cfg.vocab_size}")
    model = build_model(cfg)
    load_weights(model, ckpt)
    return Checkpoint(path=ckpt, model=model, vocab=vocab, meta=meta)


def load_weights(model: nn.Module, ckpt: Path) -> None:
    """Loads ``ckpt/model.safetensors`` into ``model`` strictly.

    Raises:
        FileNotFoundError: no weights file.
        ValueError: a corrupt file, or weights that do not fit ``model``.
    """
    weights = ckpt / "model.safetensors"
    try:
        state = load_file(str(weights))
    except FileNotFoundError:
        raise MissingInput(f"checkpoint {ckpt} has no model.safetensors") from None
    except (SafetensorError, OSError, ValueError) as e:
        raise UserError(f"corrupt checkpoint weights {weights}: {e}") from None
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        first = str(e).splitlines()[1].strip() if len(str(e).splitlines()) > 1 else str(e)
        raise UserError(f"weights in {weights} do not fit the architecture in its meta.json: "
                        f"{first}") from None


def load_trainer_state(ckpt: Path) -> dict[str, Any]:
    """``trainer.pt`` loaded with ``weights_only=True`` (never unpickles arbitrary objects)."""
    f = ckpt / "trainer.pt"
    try:
        return torch.load(f, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise MissingInput(f"checkpoint {ckpt} has no trainer.pt (cannot resume)") from None
    except Exception as e:  # torch raises UnpicklingError, RuntimeError, EOFError...
        raise UserError(f"corrupt trainer state {f}: {type(e).__name__}") from None


def weights_sha256(model: nn.Module) -> str:
    """A fingerprint of ``model``'s weights (names, shapes and values)."""
    h = hashlib.sha256()
    for name, t in model.state_dict().items():
        h.update(f"{name}{tuple(t.shape)}{t.dtype}".encode())
        h.update(t.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()
