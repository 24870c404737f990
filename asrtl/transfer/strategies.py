"""Adaptation mechanics shared by the transfer strategies: freezing layers, per-layer
learning-rate groups, stage plans and adapters/LoRA (:mod:`asrtl.models.peft`). Layers are the
model's named units, input to output: ``frontend``, ``encoder.layers.0`` ...
``encoder.layers.N-1``, ``head`` (wav2vec 2.0: ``encoder.feature_extractor`` ... ``head``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from torch import nn

from asrtl.errors import UserError
from asrtl.models.ctc import CTCModel
from asrtl.models.layers import resolve_layers, set_trainable
from asrtl.models.peft import add_peft, has_peft, peft_parameter_names
from asrtl.settings import checked_fields
from asrtl.train.schedule import SCHEDULES

STAGE_PLANS = ("chain_thaw", "gradual_unfreeze", "head_first")
TRAINABLE = ("new", "all", "peft")
TOWARD = ("input", "output")


@dataclass(frozen=True)
class PeftConfig:
    """``strategy.peft``: adapters and/or LoRA added before training
    (:func:`asrtl.models.peft.add_peft`, which checks the sizes).

    Attributes:
        adapter_dim: bottleneck adapter width in every encoder layer (0: none).
        lora_rank: LoRA rank on the attention projections (0: none).
        lora_alpha: LoRA scale numerator (the update is ``alpha / rank * B A``).
    """

    adapter_dim: int = 0
    lora_rank: int = 0
    lora_alpha: float = 16.0

    @classmethod
    def from_dict(cls, d: Any, section: str = "strategy.peft") -> PeftConfig:
        """Raises: ValueError: an unknown key or a bad type, naming ``strategy.peft.<key>``."""
        return d if isinstance(d, cls) else cls(**checked_fields(cls, d, section))


@dataclass(frozen=True)
class DiscriminativeConfig:
    """``strategy.discriminative``: per-layer learning rates (:func:`discriminative_groups`).

    Attributes:
        decay: the rate's factor per layer, in (0, 1].
        toward: ``input`` (ULMFiT: the head at the full rate) or ``output``.
    """

    decay: float = 0.5
    toward: str = "input"

    @classmethod
    def from_dict(cls, d: Any, section: str = "strategy.discriminative"
                  ) -> DiscriminativeConfig:
        """Raises: ValueError: an unknown key, a bad type or value, naming
        ``strategy.discriminative.<key>``."""
        if isinstance(d, cls):
            return d
        cfg = cls(**checked_fields(cls, d, section))
        if not 0 < cfg.decay <= 1:
            raise UserError(f"{section}.decay must be in (0, 1], got {cfg.decay}")
        if cfg.toward not in TOWARD:
            raise UserError(f"{section}.toward must be {' or '.join(TOWARD)}, got "
                            f"{cfg.toward!r}")
        return cfg


@dataclass(frozen=True)
class FeaturesConfig:
    """``strategy.features``: a frozen encoder's features read by new layers
    (:mod:`asrtl.models.featurizer`).

    Attributes:
        layers: ``last``, ``all`` (a learned weighted sum of every layer) or ``fne`` (the
            full-network embedding: every layer standardised on the target's training
            split, concatenated, projected).
        downstream: ``conformer`` or ``lstm``: the trainable layers on the features.
        downstream_layers: how many (0: the head reads the features).
        discretize: ``fne``'s values to {-1, 0, 1}.
    """

    layers: str = "all"
    downstream: str = "conformer"
    downstream_layers: int = 2
    discretize: bool = False

    @classmethod
    def from_dict(cls, d: Any, section: str = "strategy.features") -> FeaturesConfig:
        """Raises: UserError: an unknown key, a bad type or value, naming
        ``strategy.features.<key>``."""
        if isinstance(d, cls):
            return d
        cfg = cls(**checked_fields(cls, d, section))
        if cfg.layers not in ("last", "all", "fne"):
            raise UserError(f"{section}.layers must be last, all or fne, got {cfg.layers!r}")
        if cfg.downstream not in ("conformer", "lstm"):
            raise UserError(f"{section}.downstream must be conformer or lstm, got "
                            f"{cfg.downstream!r}")
        if cfg.downstream_layers < 0:
            raise UserError(f"{section}.downstream_layers must be >= 0, got "
                            f"{cfg.downstream_layers}")
        return cfg

    def model_fields(self) -> dict[str, Any]:
        """The ``ModelConfig`` settings of the target model."""
        return {"featurizer": self.layers, "downstream": self.downstream,
                "downstream_layers": self.downstream_layers, "fne_discretize": self.discretize}


@dataclass(frozen=True)
class StrategyConfig:
    """An adaptation plan (``conf/strategy/*.yaml``; the defaults are ``finetune.yaml``'s).

    Attributes:
        name: the plan's name (the run directory's last part).
        trainable: ``new`` (the layers not copied, and the head), ``all``, ``peft`` (the
            adapter/LoRA parameters and the new layers, no stages) or a list of layer names.
        peft: adapters/LoRA to add first, or None.
        freeze: layers that train in no stage (checked against the model by
            :func:`apply_strategy`).
        discriminative: per-layer learning rates, or None (one rate).
        schedule: the learning-rate schedule (``train.schedule``'s values), or None: the
            ``train.schedule`` in force.
        stages: ``chain_thaw``, ``gradual_unfreeze``, ``head_first`` or None (one stage).
        stage_epochs: epochs per stage (the last stage runs to the end).
        features: a frozen encoder read by new layers (``strategy=features``), or None.
        progressive: the sources as frozen columns read through laterals
            (``strategy=progressive``, ``sources=[...]``).
    """

    name: str = "finetune"
    trainable: str | tuple[str, ...] = "all"
    peft: PeftConfig | None = None
    freeze: tuple[str, ...] = ()
    discriminative: DiscriminativeConfig | None = None
    schedule: str | None = None
    stages: str | None = None
    stage_epochs: int = 1
    features: FeaturesConfig | None = None
    progressive: bool = False

    @classmethod
    def from_dict(cls, d: Any, section: str = "strategy") -> StrategyConfig:
        """Builds from a ``strategy:`` mapping (a :class:`StrategyConfig` is returned as is).

        ``freeze: null`` is no layer; ``peft: {}`` is no adapters.

        Raises:
            ValueError: an unknown key, a bad type or value, or stages with
                ``trainable: peft``, as one line naming ``strategy.<key>``.
        """
        if isinstance(d, cls):
            return d
        if isinstance(d, Mapping):
            d = {**d}
            if "freeze" in d and d["freeze"] is None:
                d["freeze"] = []
            if isinstance(d.get("peft"), Mapping) and not d["peft"]:
                d["peft"] = None
            if isinstance(d.get("features"), Mapping) and not d["features"]:
                d["features"] = None
        cfg = cls(**checked_fields(cls, d, section))
        if isinstance(cfg.trainable, str) and cfg.trainable not in TRAINABLE:
            raise UserError(f"{section}.trainable must be {', '.join(TRAINABLE)} or a list of "
                            f"layers, got {cfg.trainable!r}")
        if cfg.stages not in (None, *STAGE_PLANS):
            raise UserError(f"{section}.stages must be {', '.join(STAGE_PLANS)} or null, got "
                            f"{cfg.stages!r}")
        if cfg.trainable == "peft" and cfg.stages is not None:
            raise UserError(f"{section}.trainable=peft trains the adapters/LoRA and the head "
                            f"throughout: set {section}.stages=null (got {cfg.stages!r})")
        if cfg.schedule is not None and cfg.schedule not in SCHEDULES:
            raise UserError(f"{section}.schedule must be {', '.join(SCHEDULES)} or null, got "
                            f"{cfg.schedule!r}")
        if cfg.stage_epochs < 1:
            raise UserError(f"{section}.stage_epochs must be >= 1, got {cfg.stage_epochs}")
        return cfg


def with_feature_layers(strategy: StrategyConfig, layers: str | None) -> StrategyConfig:
    """``strategy`` with ``features.layers`` (the recipe's top-level key) in place of its own.

    Raises:
        UserError: ``features.layers`` for a strategy without features, or a bad value.
    """
    if layers is None:
        return strategy
    if strategy.features is None:
        raise UserError(f"features.layers={layers} needs strategy=features (strategy "
                        f"{strategy.name} reads no frozen features)")
    features = FeaturesConfig.from_dict({**asdict(strategy.features), "layers": str(layers)},
                                        "features")
    return replace(strategy, features=features)


def layer_parameters(model: CTCModel, layer: str) -> list[nn.Parameter]:
    """The parameters of one named layer."""
    return list(model.get_submodule(layer).parameters())


def discriminative_groups(model: CTCModel, decay: float, toward: str = "input"
                          ) -> list[dict]:
    """Optimizer groups whose learning-rate scale decays by ``decay`` per layer.

    ``toward="input"`` (ULMFiT): the head trains at the full rate, each layer below at
    ``decay`` times the one above. ``toward="output"``: the reverse, the frontend at the full
    rate. Frozen parameters are left to :func:`asrtl.train.loop.fit` to drop.

    Raises:
        ValueError: ``decay`` outside (0, 1] or an unknown direction.
    """
    if not 0 < decay <= 1:
        raise UserError(f"discriminative decay must be in (0, 1], got {decay}")
    if toward not in ("input", "output"):
        raise UserError(f"discriminative direction must be input or output, got {toward!r}")
    names = model.layer_names()
    depth = len(names) - 1
    return [{"name": layer, "params": layer_parameters(model, layer),
             "lr_scale": decay ** ((depth - i) if toward == "input" else i)}
            for i, layer in enumerate(names)]


def chain_thaw_stages(model: CTCModel, new_layers: Iterable[str],
                      freeze: Iterable[str] = ()) -> list[list[str]]:
    """Chain-thaw (Felbo et al.): the new layers first, then each copied layer alone from
    first to last, then everything; the ``freeze`` layers in none (see :func:`drop_frozen`)."""
    new = resolve_layers(model, list(new_layers))
    copied = [n for n in model.layer_names() if n not in new]
    return drop_frozen([new, *([n] for n in copied), model.layer_names()], freeze)


def gradual_unfreeze_stages(model: CTCModel, freeze: Iterable[str] = ()) -> list[list[str]]:
    """ULMFiT's gradual unfreezing: the head, then one more layer from the top per stage;
    the ``freeze`` layers in none."""
    names = model.layer_names()
    return drop_frozen([names[len(names) - k:] for k in range(1, len(names) + 1)], freeze)


def head_first_stages(model: CTCModel, new_layers: Iterable[str],
                      freeze: Iterable[str] = ()) -> list[list[str]]:
    """The new layers alone, then every layer but the ``freeze`` ones: fairseq's
    ``freeze_finetune_updates`` as a two-stage chain-thaw."""
    return drop_frozen([resolve_layers(model, list(new_layers)), model.layer_names()], freeze)


def drop_frozen(stages: list[list[str]], freeze: Iterable[str]) -> list[list[str]]:
    """``stages`` without the ``freeze`` layers; a stage left empty, or the same as the one
    before it, is dropped."""
    freeze = set(freeze)
    out: list[list[str]] = []
    for stage in stages:
        kept = [n for n in stage if n not in freeze]
        if kept and (not out or kept != out[-1]):
            out.append(kept)
    return out


def frozen_layers(model: CTCModel, freeze: Iterable[str] | None) -> list[str]:
    """``strategy.freeze``: layers that train in no stage, validated.

    Raises:
        ValueError: a name that is not a layer of the model, listing the valid names.
    """
    names = [str(n) for n in (freeze or [])]
    valid = model.layer_names()
    unknown = [n for n in names if n not in valid]
    if unknown:
        raise UserError(f"unknown layer(s) {unknown} in strategy.freeze; valid: "
                        f"{', '.join(valid)}")
    return [n for n in valid if n in names]


def train_only(model: CTCModel, layers: list[str], extra: Iterable[str] = ()) -> None:
    """Trains the ``layers`` and the parameters named in ``extra``, freezes the rest.

    Raises:
        ValueError: nothing left to train, or an unknown layer name.
    """
    extra = list(extra)
    if layers or not extra:
        set_trainable(model, layers)  # raises when nothing trains
    else:
        for p in model.parameters():
            p.requires_grad_(False)
    params = dict(model.named_parameters())
    for name in extra:
        params[name].requires_grad_(True)


def apply_strategy(model: CTCModel, strategy: StrategyConfig | Mapping[str, Any],
                   copied: Iterable[str]) -> dict[str, Any]:
    """Freezes and groups ``model`` as ``strategy`` (a :class:`StrategyConfig`, or a
    ``conf/strategy/*.yaml`` mapping, converted here) says.

    The "new" layers are those not copied, plus the head (re-initialised or vocab-mapped).
    ``strategy.peft`` (``{adapter_dim: 64}`` or ``{lora_rank: 8, lora_alpha: 16}``) first
    adds adapters/LoRA (:func:`asrtl.models.peft.add_peft`). ``strategy.trainable`` is
    ``new``, ``all``, ``peft`` (the adapter/LoRA parameters and the new layers, no stages) or
    an explicit list of layer names. ``strategy.freeze`` lists layers that train in no stage.
    ``strategy.stages`` is ``chain_thaw``, ``gradual_unfreeze``, ``head_first`` (the new
    layers for ``stage_epochs`` epochs, then all) or null; the model leaves this function
    set to the first stage.

    Returns:
        Keyword arguments for :func:`asrtl.train.loop.fit` (``param_groups``, ``stages``,
        ``stage_epochs``) and ``frozen``, the names of the parameters frozen from the start.

    Raises:
        ValueError: a bad strategy (:meth:`StrategyConfig.from_dict`), a ``freeze`` or
            ``trainable`` name that is not a layer, ``trainable: peft`` without adapters, or
            nothing left to train.
    """
    strategy = StrategyConfig.from_dict(strategy)
    copied = set(copied)
    names = model.layer_names()
    new = [n for n in names if n not in copied or n == "head"]
    freeze = frozen_layers(model, strategy.freeze)
    trainable, plan, peft = strategy.trainable, strategy.stages, strategy.peft
    if trainable == "peft" and peft is None and not has_peft(model):
        raise UserError("strategy.trainable=peft needs strategy.peft (adapter_dim and/or "
                        "lora_rank)")
    layers = (new if trainable in ("new", "peft") else names if trainable == "all"
              else resolve_layers(model, list(trainable)))
    if peft is not None:
        add_peft(model, **asdict(peft))
    stages = (chain_thaw_stages(model, new, freeze) if plan == "chain_thaw" else
              gradual_unfreeze_stages(model, freeze) if plan == "gradual_unfreeze" else
              head_first_stages(model, new, freeze) if plan == "head_first" else None)
    if stages == []:
        raise UserError("nothing to train: strategy.freeze leaves every stage empty")
    extra = ([n for n in peft_parameter_names(model)
              if not any(n.startswith(f"{f}.") for f in freeze)]
             if trainable == "peft" else [])
    train_only(model, stages[0] if stages else [n for n in layers if n not in freeze], extra)
    disc = strategy.discriminative
    groups = discriminative_groups(model, disc.decay, disc.toward) if disc else None
    frozen = [n for n, p in model.named_parameters() if not p.requires_grad]
    return {"param_groups": groups, "stages": stages,
            "stage_epochs": strategy.stage_epochs, "frozen": frozen}
