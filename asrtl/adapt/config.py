"""The settings of one speaker-adaptation method (``conf/method/*.yaml``), typed and checked.

The defaults are the default method's (``lhuc``, chosen in ``conf/speaker_adapt.yaml``) and,
for the settings only one method reads, that method's YAML value (``layers`` of
``finetune_lower``, ``kl_weight`` of ``kl``, ``eval_every`` of ``finetune_all``);
``tests/test_adapt_config.py`` checks that they agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from asrtl.adapt.methods import METHODS
from asrtl.errors import UserError
from asrtl.settings import checked_fields


@dataclass(frozen=True)
class AdaptConfig:
    """How one method adapts a model to a speaker.

    Attributes:
        name: the method, one of :data:`asrtl.adapt.methods.METHODS`.
        steps: AdamW steps (with ``early_stop``: the most that may be taken).
        lr: AdamW learning rate.
        layers: ``finetune_lower``: how many units from the bottom train (``frontend``,
            ``encoder.layers.0``, ...).
        kl_weight: ``kl``: the loss is ``(1 - kl_weight) CTC + kl_weight KL``, in ``[0, 1]``.
        spec_augment: SpecAugment on the adaptation utterances.
        early_stop: with two or more utterances, choose the step count on the last one held
            out first.
        eval_every: with ``early_stop``: steps between two checks of the held-out loss.
    """

    name: str = "lhuc"
    steps: int = 40
    lr: float = 0.02
    layers: int = 2
    kl_weight: float = 0.5
    spec_augment: bool = False
    early_stop: bool = False
    eval_every: int = 5

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], name: str | None = None) -> AdaptConfig:
        """The config a ``method`` node (a dict or DictConfig) describes; unset keys keep
        their defaults.

        Args:
            d: the node's settings.
            name: the method, when ``d`` does not name it (or to check that it agrees).

        Raises:
            ValueError: one line naming the key: an unknown key, a value of the wrong type
                or out of range, an unknown method.
        """
        d = dict(d)
        if name is not None:
            if d.get("name", name) != name:
                raise UserError(f"method.name={d['name']!r} but the method is {name!r}")
            d["name"] = name
        cfg = cls(**checked_fields(cls, d, "method"))
        if cfg.name not in METHODS:
            raise UserError(f"unknown adaptation method {cfg.name!r}; known: "
                            f"{', '.join(METHODS)}")
        for key, ok, want in (("steps", cfg.steps >= 0, ">= 0"), ("lr", cfg.lr > 0, "> 0"),
                              ("layers", cfg.layers >= 1, ">= 1"),
                              ("kl_weight", 0 <= cfg.kl_weight <= 1, "in [0, 1]"),
                              ("eval_every", cfg.eval_every >= 1, ">= 1")):
            if not ok:
                raise UserError(f"method.{key} must be {want}, got {getattr(cfg, key)!r}")
        return cfg

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
