"""Where every run lives under ``exp_dir``, and when a run is finished.

One place for the directory names that the recipes' Hydra configs, the study, the demo, the
transfer's source lookup and the ranking all use (``../shared/INTERFACE.md`` documents
them)::

    pretrain/<language>[-<hours>h]                      recipes/pretrain.py (hours: a source)
    transfer/<source>[-<hours>h]-to-<target>/<strategy> recipes/transfer.py
    multilingual/<a+b+c>                                recipes/multilingual.py
    lid/<a+b+c>[-to-<target>]                           recipes/lid.py
    rank/<target>                                       recipes/rank.py
    rank/lid/<a+b+c>                                    its own LID classifier
    adapt|decode|export|transcribe/<model>              made of a trained model (model_name)
    study/<name>                                        recipes/study.py (an exp_dir itself)

A run is finished when the files of :data:`FINISHED` exist, the last ones its recipe writes
(results, a summary); a rerun skips or resumes it. Pure path arithmetic: nothing here imports
torch or reads a checkpoint.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# the files a finished run holds, relative to it; the last one is the run's result
FINISHED: dict[str, tuple[str, ...]] = {
    "pretrain": ("results/test/scores.json",),   # greedy scores of the best checkpoint
    "transfer": ("summary.json",),
    "multilingual": ("checkpoints/best.json", "summary.json"),
    "lid": ("lid_matrix.json",),
    "rank": ("ranking.json",),
}
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".bin", ".safetensors", ".ckpt")


# run kinds whose directory names say the model by themselves (dropped from a model's name)
RUN_KINDS = ("pretrain", "transfer")


def model_name(checkpoint: Any, exp_dir: Any = None) -> str:
    """One name for a trained model wherever its outputs go (``adapt/<model>``,
    ``decode/<model>``, ``export/<model>``, ``transcribe/<model>``, a transfer from it:
    ``ckpt-<model>``): its run dir relative to ``exp_dir`` (outside it, or without one, from
    its last ``pretrain``, ``transfer`` or ``multilingual`` component on, else its own name),
    a leading ``pretrain/`` or ``transfer/`` dropped, a ``checkpoints/step-N`` kept as
    ``step-N``, a weights file without its suffix, slashes as ``-``.

    >>> model_name("exp/pretrain/turkish"), model_name("exp/transfer/a-to-b/finetune")
    ('turkish', 'a-to-b-finetune')
    >>> model_name("exp/pretrain/turkish/checkpoints/step-000400")
    'turkish-step-000400'
    >>> model_name("exp/multilingual/a+b"), model_name("/w/xlsr_300m.pt")
    ('multilingual-a+b', 'xlsr_300m')
    """
    path = Path(str(checkpoint)).expanduser().resolve()
    if path.suffix in CHECKPOINT_SUFFIXES:  # a weights file: in a checkpoint dir, that dir
        path = path.parent if path.parent.parent.name == "checkpoints" else path.with_suffix("")
    step = None
    if path.parent.name == "checkpoints":
        path, step = path.parent.parent, path.name
    elif path.name == "checkpoints":
        path = path.parent
    root = None if exp_dir is None else Path(str(exp_dir)).expanduser().resolve()
    if root is not None and path.is_relative_to(root) and path != root:
        parts = list(path.relative_to(root).parts)
    else:
        kinds = [i for i, p in enumerate(path.parts) if p in (*RUN_KINDS, "multilingual")]
        parts = list(path.parts[kinds[-1]:]) if kinds else [path.name]
    if len(parts) > 1 and parts[0] in RUN_KINDS:
        parts = parts[1:]
    return "-".join([p for p in parts if p] + ([step] if step else [])) or "run"


def source_name(source: Any, checkpoint: Any = None, sources: Any = None) -> str:
    """A transfer's source in its run dir's name: the language (``none``,
    ``multilingual:a+b+c``), or for ``source=from-checkpoint source_checkpoint=C``
    ``ckpt-<model>`` (:func:`model_name` of ``C``: two transfers from two checkpoints do not
    share one directory); with ``sources=[a, b]`` (progressive columns), ``a+b``.

    >>> source_name("assamese", None), source_name("from-checkpoint", "exp/pretrain/thai")
    ('assamese', 'ckpt-thai')
    >>> source_name("from-checkpoint", "exp/transfer/thai-to-lao/finetune")
    'ckpt-thai-to-lao-finetune'
    >>> source_name("from-checkpoint", "/w/xlsr.pt")
    'ckpt-xlsr'
    >>> source_name("from-checkpoint", None, ["assamese", "hindi"])
    'assamese+hindi'
    """
    if sources:
        return plus(sources)
    if str(source) != "from-checkpoint" or not checkpoint:
        return str(source)
    return f"ckpt-{model_name(checkpoint)}"


def units_name(name: Any, units: Any = "chars") -> str:
    """A run's name with its units: ``name`` for characters, ``name-phones`` for IPA phones
    (``units=phones``), so the two never share a run dir.

    >>> units_name("turkish"), units_name("turkish", "phones")
    ('turkish', 'turkish-phones')
    """
    return str(name) if str(units) == "chars" else f"{name}-{units}"


def plus(items: Iterable[Any]) -> str:
    """``a+b+c``: a run named after several languages (multilingual, LID)."""
    return "+".join(str(i) for i in items)


def lid_name(sources: Iterable[Any], target: Any = None) -> str:
    """A LID run's name: ``a+b+c``, or ``a+b+c-to-<target>`` (a manifest path as its file
    name without ``.jsonl.gz``).

    >>> lid_name(["assamese", "thai"], "data/bn.jsonl.gz")
    'assamese+thai-to-bn'
    """
    name = plus(sources)
    if target is None:
        return name
    t = Path(str(target)).name
    for ext in (".jsonl.gz", ".jsonl", ".json"):
        t = t.removesuffix(ext)
    return f"{name}-to-{t}"


def basename(path: Any) -> str:
    """A path's last component (``run`` for none): a target given as a manifest names its
    ranking run by its file name."""
    return Path(str(path)).name or "run"


def hours_name(name: str, hours: float | None) -> str:
    """``<name>-<hours>h`` (``0.6`` -> ``-0.6h``, ``60.0`` -> ``-60h``), or ``name`` alone."""
    return name if hours is None else f"{name}-{hours:g}h"


def is_finished(run_dir: str | Path, kind: str) -> bool:
    """Whether ``run_dir`` holds every file of a finished ``kind`` run (:data:`FINISHED`).

    Raises:
        ValueError: an unknown kind, naming the known ones.
    """
    return all((Path(run_dir) / f).is_file() for f in finished_files(kind))


def result_file(run_dir: str | Path, kind: str) -> Path:
    """The result file of a ``kind`` run: the last of its :data:`FINISHED` files
    (``results/test/scores.json``, ``summary.json``, ``ranking.json``...).

    Raises:
        ValueError: an unknown kind.
    """
    return Path(run_dir) / finished_files(kind)[-1]


def finished_files(kind: str) -> tuple[str, ...]:
    """The files, relative to the run, that mark a finished ``kind`` run; the last is its
    result file.

    Raises:
        ValueError: an unknown kind, naming the known ones.
    """
    if kind not in FINISHED:
        raise ValueError(f"unknown kind of run {kind!r}: one of {', '.join(FINISHED)}")
    return FINISHED[kind]


@dataclass(frozen=True)
class RunLayout:
    """The run directories under one ``exp_dir`` (a study's directory is one too).

    Every method returns ``exp_dir / <relative path>``; ``RunLayout(".")`` gives the
    relative paths themselves.

    Attributes:
        exp_dir: the root of all run outputs (the recipes' ``exp_dir``).
    """

    exp_dir: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "exp_dir", Path(self.exp_dir))

    def pretrain(self, language: str, hours: float | None = None, units: str = "chars") -> Path:
        """``pretrain/<language>`` (``recipes/pretrain.py``), or ``pretrain/<language>-<hours>h``:
        a source pretrained on ``hours`` by the transfer, the study or the demo; ``-phones``
        after it for phone targets (:func:`units_name`)."""
        return self.exp_dir / "pretrain" / units_name(hours_name(str(language), hours), units)

    def transfer(self, source: str, target: str, strategy: str = "finetune",
                 source_hours: float | None = None, source_checkpoint: Any = None,
                 units: str = "chars") -> Path:
        """``transfer/<source>[-<hours>h]-to-<target>/<strategy>[-phones]``.

        Args:
            source: a language, ``none``, ``multilingual:a+b+c``, or ``from-checkpoint``
                (named ``ckpt-<model>`` after ``source_checkpoint``: :func:`source_name`).
            source_hours: in the name only when given (the study's small-source runs; a
                plain ``recipes/transfer.py`` run has none).
        """
        src = hours_name(source_name(source, source_checkpoint), source_hours)
        return self.exp_dir / "transfer" / f"{src}-to-{target}" / units_name(strategy, units)

    def multilingual(self, languages: str | Sequence[str], units: str = "chars") -> Path:
        """``multilingual/<a+b+c>[-phones]``, from ``[a, b, c]`` or ``"a+b+c"``."""
        name = languages if isinstance(languages, str) else plus(languages)
        return self.exp_dir / "multilingual" / units_name(name, units)

    def lid(self, sources: Iterable[Any], target: Any = None) -> Path:
        """``lid/<a+b+c>[-to-<target>]`` (``recipes/lid.py``: :func:`lid_name`)."""
        return self.exp_dir / "lid" / lid_name(sources, target)

    def rank(self, target: Any) -> Path:
        """``rank/<target>`` (``recipes/rank.py``; a manifest: its file name)."""
        return self.exp_dir / "rank" / basename(target)

    def rank_lid(self, sources: Iterable[Any]) -> Path:
        """``rank/lid/<a+b+c>``: the LID classifier a ranking trains itself."""
        return self.exp_dir / "rank" / "lid" / lid_name(sources)

    def model_output(self, kind: str, checkpoint: Any, language: Any = None) -> Path:
        """``<kind>/<model>[/<language>]``: what ``recipes/decode.py exp_dir=...``
        (``decode``), ``export.py``, ``transcribe.py`` and ``speaker_adapt.py`` (``adapt``)
        write for a checkpoint (:func:`model_name`; ``language``: a multilingual model's)."""
        out = self.exp_dir / str(kind) / model_name(checkpoint, self.exp_dir)
        return out / str(language) if language else out

    def prepare(self, language: str) -> Path:
        """``prepare/<language>``: ``recipes/prepare.py``'s log."""
        return self.exp_dir / "prepare" / str(language)

    def study(self, name: str) -> Path:
        """``study/<name>``: a study, itself the ``exp_dir`` of its jobs."""
        return self.exp_dir / "study" / str(name)
