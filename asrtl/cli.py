"""Command-line plumbing shared by the recipes: one-line errors and override checks."""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from asrtl.errors import UserError

# the run-dir names of the configs' resolvers: computed by asrtl.layout (RunLayout)
from asrtl.layout import basename, lid_name, plus, source_name, units_name

CONF_DIR = Path(__file__).resolve().parent / "conf"  # package data (`conf/` in a checkout)
# errors of the user's making: one line. Anything else is a bug and keeps its traceback.
USER_ERRORS = (UserError,)

log = logging.getLogger(__name__)


def _register_resolvers() -> None:
    """The resolvers of conf/*.yaml's run dirs: ``lid_name``, ``plus``, ``basename``,
    ``source_name``, ``units_name`` (the names :class:`asrtl.layout.RunLayout` gives)."""
    from omegaconf import OmegaConf

    OmegaConf.register_new_resolver("lid_name", lid_name, replace=True)
    OmegaConf.register_new_resolver("plus", plus, replace=True)
    OmegaConf.register_new_resolver("basename", basename, replace=True)
    OmegaConf.register_new_resolver("source_name", source_name, replace=True)
    OmegaConf.register_new_resolver("units_name", units_name, replace=True)


_register_resolvers()


class LogFileHandler(logging.FileHandler):
    """A file handler that creates its directory: recipes log to ``<run>/log/<recipe>.log``
    (Hydra opens log files before it creates any subdirectory of the run)."""

    def __init__(self, filename: str, mode: str = "a", encoding: str | None = None,
                 delay: bool = False) -> None:
        Path(filename).parent.mkdir(parents=True, exist_ok=True)
        super().__init__(filename, mode, encoding, delay)


def fail(message: str, code: int = 2) -> None:
    """Prints ``error: <message>`` as one line on stderr and exits with ``code``."""
    print(f"error: {' '.join(str(message).split())}", file=sys.stderr)
    sys.exit(code)


def print_scores(label: str, scores: dict[str, dict], checkpoint: str) -> None:
    """One line per ``<split>[-<decode>]`` entry: ``<label> test beam: WER x% CER y% (ckpt)``."""
    for name, s in scores.items():
        split, _, decode = name.partition("-")
        rate = "PER" if s.get("units") == "phones" else "CER"  # phones: the phone error rate
        print(f"{label} {split} {decode or 'greedy'}: WER {s['wer_percent']:.1f}% "
              f"{rate} {s['cer_percent']:.1f}% ({checkpoint})")


def check_overrides(config_name: str, argv: list[str] | None = None) -> None:
    """Composes ``config_name`` with the command line's overrides; a bad one fails in one line.

    Hydra's own report of a bad override spans several lines; this names the override first.
    Multirun sweeps (``-m``) are left to Hydra.
    """
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    if argv is None:
        sys.argv[1:] = lang_overrides(sys.argv[1:])
        argv = sys.argv[1:]
    else:
        argv = lang_overrides(argv)
    if any(a in ("-m", "--multirun") for a in argv):
        return
    config_name, argv = _config_name(config_name, argv)
    overrides = [a for a in argv if not a.startswith("-") and not a.startswith("hydra")]
    try:
        with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
            cfg = compose(config_name, overrides=overrides)
    except Exception as e:  # hydra raises ConfigCompositionException, OverrideParseException...
        lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
        if e.__cause__ is not None:
            lines.append(str(e.__cause__).splitlines()[0])
        if "Available options" in str(e):  # an unknown config group option: list the options
            opts = str(e).split("Available options", 1)[1].split("Config search path")[0]
            lines.append("available:" + ",".join(opts.split(":", 1)[1].split()))
        lines = lines or [type(e).__name__]
        fail(f"bad override: {lines[0]} {lines[-1] if len(lines) > 1 else ''}")
    _check_added_keys(config_name, overrides)
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        fail(f"missing required setting(s): {', '.join(f'{k}=...' for k in missing)}")
    for key in ("exp_dir", "data.cache_dir"):  # before Hydra opens its log file there
        value = OmegaConf.select(cfg, key, default=None, throw_on_resolution_failure=False)
        problem = unwritable(Path(str(value)).expanduser()) if value else None
        if problem:
            fail(f"{key}={value}: {problem}")


def _config_name(default: str, argv: list[str]) -> tuple[str, list[str]]:
    """The config Hydra will compose (``--config-name X``, ``--config-name=X``, ``-cn X``;
    else ``default``) and ``argv`` without that option."""
    name, rest, skip = default, [], False
    for i, arg in enumerate(argv):
        if skip:
            skip = False
            continue
        if arg in ("--config-name", "-cn") and i + 1 < len(argv):
            name, skip = argv[i + 1], True
        elif arg.startswith("--config-name="):
            name = arg.split("=", 1)[1]
        else:
            rest.append(arg)
    return name, rest


# what ``lang.<L>.<key>`` may set: the corpus kind, its path, and the data keys a real corpus
# reads (``../shared/INTERFACE.md``: one language from another corpus than ``data``)
LANG_KEYS = ("data", "path", "hours", "dev_fraction", "test_fraction", "out_of_script",
             "skip_bad")


def lang_overrides(argv: list[str]) -> list[str]:
    """``lang.<L>.<key>=value`` given as ``+lang.<L>.<key>=value`` (the recipes' configs have
    no ``lang`` entries for Hydra to override: each is added); a language asrtl does not
    know, or a key of :data:`LANG_KEYS`' others, fails in one line."""
    from asrtl.data.languages import get_language

    out = []
    for arg in argv:
        key = arg.lstrip("+").split("=", 1)[0]
        if key.split(".")[0] != "lang" or "=" not in arg:
            out.append(arg)
            continue
        parts = key.split(".")
        if len(parts) != 3 or parts[2] not in LANG_KEYS:
            fail(f"bad override {arg}: expected lang.<language>.<key>=..., the key one of "
                 f"{', '.join(LANG_KEYS)}")
        try:
            get_language(parts[1])
        except ValueError as e:
            fail(f"bad override {arg}: {e}")
        out.append(arg if arg.startswith("+") else f"++{arg}")  # added, or replacing a
        # config's own lang entry (conf/demo_real.yaml)
    return out


def _check_added_keys(config_name: str, overrides: list[str]) -> None:
    """``+key=value`` (and ``++key=value``) adds a key Hydra would otherwise refuse: a
    misspelt setting then trains silently with its default. Only keys the recipe's config
    already has, or config groups (``+method=kl``), may be given so."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    added = [a for a in overrides if a.startswith("+")]
    if not added:
        return
    plain = [a for a in overrides if not a.startswith("+")]
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        base = compose(config_name, overrides=plain)
    for arg in added:
        key = arg.lstrip("+").split("=", 1)[0]
        if ((CONF_DIR / key.split("@")[0]).is_dir()
                or key.split(".")[0] in ("hydra", "lang")):
            continue  # a config group, Hydra's own settings, lang.<L>.* (lang_overrides)
        parent, _, leaf = key.rpartition(".")
        node = OmegaConf.select(base, parent, default=_ABSENT) if parent else base
        if not OmegaConf.is_dict(node) or leaf not in node.keys():  # with ???: there
            fail(f"unknown setting {key} (given as {arg}): {config_name} has no such key; "
                 f"see conf/{config_name}.yaml")


_ABSENT = object()


def unwritable(path: Path) -> str | None:
    """Why ``path`` cannot be created or written (its first existing ancestor is a file, or
    read-only), or None."""
    p = path.absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    if not p.is_dir():
        return f"not a directory: {p}"
    if not os.access(p, os.W_OK | os.X_OK):
        return f"not writable: {p}"
    return None


def _plain_start_method() -> None:
    """Forgets a start method that Python's own worker processes cannot use.

    A recipe launched by Hydra's joblib launcher runs in a loky worker whose start method is
    ``loky``; the processes it spawns itself (synthesis, data loading) would inherit that
    name and fail to start.
    """
    import multiprocessing as mp

    if mp.get_start_method(allow_none=True) not in (None, *mp.get_all_start_methods()):
        mp.set_start_method(None, force=True)


def lang_args(cfg: DictConfig) -> list[str]:
    """``cfg``'s ``lang.<L>.<key>`` settings as the overrides that give them to another recipe
    (the jobs of a study or the demo)."""
    lang = cfg.get("lang") or {}
    return [f"lang.{name}.{key}={value}" for name, spec in lang.items()
            for key, value in (spec or {}).items() if value is not None]


def _fold_lang(cfg: DictConfig) -> None:
    """``lang.<L>.*`` copied into ``data.lang``, where :func:`asrtl.data.manifest.prepare_corpus`
    reads it, however deep the recipe passes its ``data``."""
    from omegaconf import open_dict

    lang = cfg.get("lang")
    if lang and isinstance(cfg.get("data"), DictConfig):
        with open_dict(cfg):
            cfg.data.lang = lang


def recipe(fn: Callable[..., Any] | None = None, *, distributed: bool = False) -> Any:
    """Decorates a recipe body: user errors become ``error: ...`` and exit code 2. A recipe
    that does not train with DDP (``distributed=False``) refuses to run under torchrun."""
    if fn is None:
        return functools.partial(recipe, distributed=distributed)

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        from asrtl.train import distributed as dist

        _plain_start_method()
        if not distributed and dist.world().size > 1:
            fail(f"{Path(sys.argv[0]).name} runs as one process (WORLD_SIZE="
                 f"{dist.world().size}): torchrun is for pretrain.py, transfer.py and "
                 f"multilingual.py")
        from asrtl.train.signals import Interrupted, signals_as_errors

        if args and isinstance(args[0], DictConfig):
            _fold_lang(args[0])
        try:
            with signals_as_errors():
                return fn(*args, **kwargs)
        except USER_ERRORS as e:
            log.debug("user error", exc_info=True)
            fail(e)
        except Interrupted as e:
            fail(e, e.code)
        except KeyboardInterrupt:
            fail("interrupted by SIGINT (Ctrl-C); run the same command again to resume", 130)
        except OSError as e:  # the filesystem: read-only, not a directory, disk full...
            if e.errno is None:  # raised by code, not by the system: a bug
                raise
            log.debug("filesystem error", exc_info=True)
            fail(f"{e.strerror or type(e).__name__}: {e.filename or e}"
                 + (f" -> {e.filename2}" if e.filename2 else ""))
        finally:
            dist.finish()

    return run
