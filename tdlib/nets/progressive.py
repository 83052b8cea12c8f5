"""Progressive growing of a TD network (thesis §3.2.4; ``shared/reference/experiments.md`` §9).

The thesis trained its TD networks Karras-style: the coarsest scale first, then the next
finer one added, every layer trainable after each expansion, then fine-tuning; this
changed the final accuracy little. A "transfer learning" variant that froze the earlier
layers at each expansion was clearly worse. The authors' code for it is absent; this is
our design, on the network :func:`~tdlib.nets.to_topdown` builds (no second TD
implementation).

**Stages.** A TD network with ``levels`` pyramid levels grows in ``levels`` stages. Stage 1
sees only the coarsest input (level ``levels - 1``, through the stem if there is one);
stage ``s`` adds level ``levels - s``; stage ``levels`` sees every input. TD step ``k``
belongs to stage ``levels - step.level`` (:func:`step_stages`): the step whose merge takes
pyramid level ``l`` is grown at stage ``levels - l``; the first step of a plain net (no
merge, the coarsest resolution) and the stem belong to stage 1.

**All layers exist from the start.** What grows are the *inputs*: the entry branch of a
step (its entry convolution on its pyramid level) is multiplied by that step's ``alpha``
before the merge, ``merge(transition(h), alpha * entry(level))``:

- steps of earlier stages: ``alpha = 1`` (the plain network's computation);
- the step of the current stage: the stage's fade-in ``alpha`` in ``(0, 1]``;
- steps of later stages ("dormant"): the entry's output is replaced by zeros, so the
  output does not depend on their pyramid levels at all. Their entry parameters have
  ``requires_grad = False`` (no gradient, no weight decay, no momentum: they stay exactly
  as initialised until their stage), while their BatchNorm keeps tracking running
  statistics of its level (the entry runs anyway; its statistics are then calibrated when
  the entry fades in).

The coarse stream still runs through every transition, merge and unit to the one head,
so the output is defined at every stage (with only the coarsest input, the finer steps
see ``merge(transition(h), 0)``). Why an entry hook: it keeps the network's modules,
parameter names and ``state_dict`` unchanged (checkpoints, :func:`tdlib.train.load_weights`
and BatchNorm folding work as for the plain network), needs no change to
:class:`~tdlib.nets.topdown.TDStep`, and with ``alpha = 1`` the hook returns nothing, so a
fully grown network is bit-identical to the plain one (``tests/nets/test_progressive.py``).

**Frozen regime** (:func:`freeze_grown`): when stage ``s`` begins, the layers of the
earlier stages ``1 .. s-1`` are frozen: the stem and every step whose stage is below
``s``, with its transition, entry convolution(s), merge and units. Their parameters get
``requires_grad = False`` (no gradient, so SGD skips them: no update, no weight decay, no
momentum drift) and their BatchNorms run in eval mode (running statistics unchanged), even
after ``model.train()``. The head, the current stage's step and all finer steps stay
trainable. Dropout inside frozen steps stays as in training (it has neither parameters
nor statistics).

**Training** (:func:`tdlib.train.train` with ``TrainConfig.grow``): the ``levels`` stages
share the epochs equally, later stages taking the remainder, and the last stage (every
input on) doubles as the fine-tuning; the new input fades in per batch over the first
``grow_fade`` share of its stage (:class:`GrowthSchedule`). The learning-rate schedule is
the run's usual one over all epochs (not restarted per stage). The stage and alpha follow
from the epoch and batch alone, so checkpoints resume across stage boundaries. After the
last epoch the hooks and the freeze are removed: the result is the plain network.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.utils.hooks import RemovableHandle

from .topdown import TopDownNet

#: Values of ``TrainConfig.grow``: no growth, growth with every layer trainable, growth with
#: the earlier stages frozen at each expansion.
GROW_REGIMES: tuple[str, ...] = ("none", "trainable", "frozen")


def _check_td(model: nn.Module) -> TopDownNet:
    if not isinstance(model, TopDownNet):
        raise ValueError(f"progressive growing needs a TopDownNet (a TD variant), got {type(model).__name__}")
    return model


def _check_stage(model: TopDownNet, stage: int) -> int:
    if isinstance(stage, bool) or not isinstance(stage, int) or not 1 <= stage <= model.levels:
        raise ValueError(f"stage must be an integer in 1..{model.levels} (1: the coarsest input only, "
                         f"{model.levels}: all inputs), got {stage!r}")
    return stage


def _check_alpha(alpha: float) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be a number in [0, 1], got {alpha!r}")
    return float(alpha)


def step_stages(model: TopDownNet) -> list[int]:
    """The stage at which each TD step is grown: ``levels - step.level``, coarsest step first.

    E.g. ``[1, 2, 3]`` for LeNetFC TD (3 levels, the first step has no merge) and
    ``[2, 3, 4, 5]`` for ResNet18-light TD (5 levels; stage 1 is its stem alone).
    """
    model = _check_td(model)
    return [model.levels - step.level for step in model.steps]


@dataclass
class Frozen:
    """What :func:`freeze_grown` froze; :meth:`release` undoes it.

    Attributes:
        stage: The stage the freeze was made for.
        modules: Names of the frozen modules (``"stem"``, ``"steps.0"``, ...).
    """

    stage: int
    modules: list[str]
    _model: nn.Module | None = field(default=None, repr=False)
    _params: list[nn.Parameter] = field(default_factory=list, repr=False)
    _bns: list[nn.Module] = field(default_factory=list, repr=False)
    _handles: list[RemovableHandle] = field(default_factory=list, repr=False)

    def release(self) -> None:
        """Make the frozen parameters trainable again and put their BatchNorms back in the model's mode."""
        for p in self._params:
            p.requires_grad_(True)
        for h in self._handles:
            h.remove()
        for m in self._bns:
            m.train(self._model.training if self._model is not None else True)
        self._params, self._bns, self._handles = [], [], []


def _stay_eval(module: nn.Module, args: Any) -> None:
    """Forward pre-hook of a frozen BatchNorm: run in eval mode whatever ``model.train()`` set."""
    module.training = False


def freeze_grown(model: TopDownNet, stage: int) -> Frozen:
    """Freeze the layers grown before ``stage`` (the "transfer learning" regime of thesis §3.2.4).

    Frozen: the stem and every TD step of a stage below ``stage`` (:func:`step_stages`),
    i.e. the steps of the coarser levels with their transitions, entry convolutions, merges
    and units. Not frozen: the step of ``stage``, the finer steps, and the head. Frozen
    parameters get ``requires_grad = False``; frozen BatchNorms are put in eval mode and stay
    there (a forward pre-hook), so ``model.train()`` does not change their running
    statistics. Nothing is frozen at stage 1.

    Release the freeze (:meth:`Frozen.release`) before :func:`tdlib.train.recalibrate_batchnorm`,
    which re-estimates every BatchNorm in train mode.

    Args:
        model: The TD network.
        stage: The stage about to be trained, ``1 .. model.levels``.

    Returns:
        The :class:`Frozen` record.
    """
    model = _check_td(model)
    _check_stage(model, stage)
    names = ["stem"] if model.stem is not None and stage > 1 else []
    names += [f"steps.{k}" for k, s in enumerate(step_stages(model)) if s < stage]
    frozen = Frozen(stage, names, model)
    for name in names:
        module = model.get_submodule(name)
        for p in module.parameters():
            if p.requires_grad:
                p.requires_grad_(False)
                frozen._params.append(p)
        for m in module.modules():
            if isinstance(m, _BatchNorm):
                m.eval()
                frozen._bns.append(m)
                frozen._handles.append(m.register_forward_pre_hook(_stay_eval))
    return frozen


class _Fade:
    """Forward hook of a step's entry: its output ``(B, C, H_l, W_l)`` times ``alpha`` (zeros at 0, unchanged at 1)."""

    def __init__(self) -> None:
        self.alpha = 1.0

    def __call__(self, module: nn.Module, args: Any, output: Tensor) -> Tensor | None:
        if self.alpha == 1.0:
            return None
        if self.alpha == 0.0:
            return torch.zeros_like(output)  # no graph to the entry: no gradient reaches it
        return output * self.alpha


class Growth:
    """Runs a :class:`~tdlib.nets.TopDownNet` with only its coarsest ``stage`` inputs grown.

    Registers a forward hook on the entry of every merging step (no new modules or
    parameters; see the module docstring for the design). After construction the network
    is fully grown (``stage = levels``, ``alpha = 1``) and computes exactly what it computed
    before; :meth:`set` picks a stage.

    Growth owns ``requires_grad`` of the network's parameters: :meth:`set` makes every
    parameter trainable except the dormant entries and, in the frozen regime, the earlier
    stages (:func:`freeze_grown`). It need not be called again after ``model.train()``
    (frozen BatchNorms stay in eval mode by themselves); call it when the stage changes,
    and :meth:`set_alpha` during a fade-in.

    Args:
        model: The TD network.
        regime: ``"trainable"`` (every layer trainable after each expansion) or
            ``"frozen"`` (the earlier stages frozen at each expansion).
        schedule: The :class:`GrowthSchedule` that :meth:`follow` reads (optional).

    Attributes:
        model: The network.
        regime: The regime.
        schedule: The schedule, or None.
        stages: Number of stages, ``model.levels``.
        stage: The current stage, 1 (coarsest input only) .. ``stages`` (all inputs).
        alpha: Fade-in factor of the current stage's input (1 at stage 1: nothing fades).
    """

    def __init__(self, model: TopDownNet, regime: str = "trainable", schedule: GrowthSchedule | None = None) -> None:
        self.model = _check_td(model)
        if regime not in GROW_REGIMES[1:]:
            raise ValueError(f"unknown growth regime {regime!r}; expected one of {', '.join(GROW_REGIMES[1:])}")
        self.regime = regime
        self.stages = model.levels
        if schedule is not None and schedule.stages != self.stages:
            raise ValueError(f"the schedule has {schedule.stages} stages, the network {self.stages} levels")
        self.schedule = schedule
        self._stage_of = step_stages(model)
        self._fades: dict[int, _Fade] = {}
        self._handles: list[RemovableHandle] = []
        for k, step in enumerate(model.steps):
            if step.entry is not None:
                fade = _Fade()
                self._fades[k] = fade
                self._handles.append(step.entry.register_forward_hook(fade))
        self._frozen: Frozen | None = None
        self._applied: int | None = None  # the stage of the last set()
        self.stage, self.alpha = self.stages, 1.0

    def set(self, stage: int, alpha: float = 1.0) -> None:
        """Grow the network to ``stage`` with fade-in ``alpha`` for that stage's input.

        Args:
            stage: ``1`` (coarsest input only) .. ``stages`` (all inputs).
            alpha: Factor of the newest input's entry branch, in ``[0, 1]``; ignored at stage 1.
        """
        _check_stage(self.model, stage)
        alpha = 1.0 if stage == 1 else _check_alpha(alpha)
        if self._frozen is not None:
            self._frozen.release()
            self._frozen = None
        for p in self.model.parameters():
            p.requires_grad_(True)
        for k, fade in self._fades.items():
            s = self._stage_of[k]
            fade.alpha = 1.0 if s < stage else alpha if s == stage else 0.0
            if s > stage:  # dormant: unchanged until its stage
                for p in self.model.steps[k].entry.parameters():  # type: ignore[union-attr]
                    p.requires_grad_(False)
        if self.regime == "frozen":
            self._frozen = freeze_grown(self.model, stage)
        self.stage, self.alpha, self._applied = stage, alpha, stage

    def follow(self, epoch: int, batch: int) -> None:
        """Take the stage and alpha that :attr:`schedule` gives for 0-based ``batch`` of 0-based ``epoch``.

        Calls :meth:`set` when the stage changes (or on the first call), else :meth:`set_alpha`;
        so a resumed run gets the state of its epoch from the schedule alone.
        """
        if self.schedule is None:
            raise ValueError("Growth.follow needs a schedule (Growth(model, regime, schedule))")
        stage, alpha = self.schedule.stage(epoch), self.schedule.alpha(epoch, batch)
        if stage != self._applied:
            self.set(stage, alpha)
        else:
            self.set_alpha(alpha)

    def set_alpha(self, alpha: float) -> None:
        """Change only the fade-in of the current stage's input (cheap; per batch)."""
        if self.stage == 1:
            return
        alpha = _check_alpha(alpha)
        for k, fade in self._fades.items():
            if self._stage_of[k] == self.stage:
                fade.alpha = alpha
        self.alpha = alpha

    @property
    def frozen(self) -> list[str]:
        """Names of the frozen modules (empty in the trainable regime and at stage 1)."""
        return list(self._frozen.modules) if self._frozen is not None else []

    def remove(self) -> None:
        """Remove the hooks and the freeze: the plain network again, every parameter trainable."""
        if self._frozen is not None:
            self._frozen.release()
            self._frozen = None
        for h in self._handles:
            h.remove()
        self._handles, self._fades = [], {}
        for p in self.model.parameters():
            p.requires_grad_(True)
        self.stage, self.alpha, self._applied = self.stages, 1.0, None


@dataclass(frozen=True)
class GrowthSchedule:
    """How a run of ``epochs`` epochs grows a network of ``stages`` stages.

    - **Epochs.** Each stage gets an equal share: stage ``s`` (1-based) starts at 0-based
      epoch ``floor((s - 1) * epochs / stages)``, so when ``epochs`` does not divide
      evenly the later stages get the extra epochs (10 epochs, 3 stages: 3, 3, 4; 50: 16,
      17, 17). The last stage, with every input on, doubles as the fine-tuning. Needs
      ``epochs >= stages``.
    - **Fade-in.** In stages 2 .. ``stages`` the new input's ``alpha`` rises linearly over
      the first ``fade`` share of the stage's batches, updated per batch: the ``i``-th batch
      of the stage (1-based) uses ``alpha = min(1, i / (fade * stage_epochs * batches_per_epoch))``,
      so it is above 0 from the stage's first batch and 1 from the end of the fade on.
      ``fade = 0``: the input is switched on at once. Stage 1 has ``alpha = 1``.

    Attributes:
        epochs: Epochs of the run.
        stages: Stages (the TD network's ``levels``).
        fade: Share of each stage's batches spent fading in, in ``[0, 1]``.
        batches_per_epoch: Training batches per epoch.
    """

    epochs: int
    stages: int
    fade: float = 0.5
    batches_per_epoch: int = 1

    def __post_init__(self) -> None:
        if self.stages < 1 or self.batches_per_epoch < 1:
            raise ValueError(f"need stages >= 1 and batches_per_epoch >= 1, got {self}")
        if self.epochs < self.stages:
            raise ValueError(f"progressive growing in {self.stages} stages needs at least {self.stages} epochs "
                             f"(one per stage), got {self.epochs}")
        if not (isinstance(self.fade, int | float) and 0.0 <= self.fade <= 1.0):
            raise ValueError(f"fade must be a number in [0, 1], got {self.fade!r}")

    @property
    def starts(self) -> list[int]:
        """0-based first epoch of each stage."""
        return [(s * self.epochs) // self.stages for s in range(self.stages)]

    @property
    def stage_epochs(self) -> list[int]:
        """Epochs of each stage (they sum to ``epochs``)."""
        bounds = self.starts + [self.epochs]
        return [b - a for a, b in zip(bounds, bounds[1:], strict=False)]

    def stage(self, epoch: int) -> int:
        """The stage (1-based) of 0-based ``epoch``."""
        if not 0 <= epoch < self.epochs:
            raise ValueError(f"epoch must be in 0..{self.epochs - 1}, got {epoch}")
        return sum(start <= epoch for start in self.starts)

    def alpha(self, epoch: int, batch: int) -> float:
        """The fade-in of the current stage's input for 0-based ``batch`` of 0-based ``epoch``."""
        s = self.stage(epoch)
        if s == 1:
            return 1.0
        done = (epoch - self.starts[s - 1]) * self.batches_per_epoch + batch + 1
        length = self.fade * self.stage_epochs[s - 1] * self.batches_per_epoch
        return 1.0 if length <= 0 else min(1.0, done / length)


__all__ = ["GROW_REGIMES", "Frozen", "Growth", "GrowthSchedule", "freeze_grown", "step_stages"]
