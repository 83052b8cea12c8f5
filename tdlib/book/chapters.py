"""The book's chapters and their profiles: one table per chapter, in one place.

A chapter is a file ``book/<name>.ipynb`` (executed by papermill, see
:mod:`tdlib.book.runner`) or ``book/<name>.md`` (text, or a placeholder for work to come).
Each notebook chapter has a ``profile`` parameter and its own knobs; a knob left at
``None`` takes the value of the profile's table below, so that a chapter gives the same
result whether it is run by ``python -m tdlib run``, by plain ``papermill`` or opened
in Jupyter.

Profiles:

- ``smoke``: seconds per chapter on tiny subsets, for CI;
- ``cpu``: an honest reduced scale: a 2-core machine recomputes any one chapter in at
  most 90 minutes and the whole book in a few hours;
- ``paper``: the paper's settings, for a GPU.
"""

from __future__ import annotations

import ast
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..io import PACKAGE_PARENT
from ..nets import params

if TYPE_CHECKING:
    import pandas as pd

PROFILES: tuple[str, ...] = ("smoke", "cpu", "paper")
BOOK_DIR = PACKAGE_PARENT / "book"

Plan = list[tuple[str, dict[str, Any]]]
"""The (experiment, configuration) pairs a chapter needs under some settings."""


@dataclass(frozen=True)
class Chapter:
    """One chapter of the book.

    Attributes:
        name: File stem in ``book/`` and the runner's chapter name.
        title: Its H1 title.
        notebook: Executed by papermill (``.ipynb``) or plain text (``.md``).
        default_profile: The profile its committed outputs come from (notebooks only).
        profiles: Knob values per profile (notebooks only).
        planner: ``"module:function"`` mapping resolved settings to the chapter's
            (experiment, config) pairs, so ``python -m tdlib results`` can say what a
            profile still lacks; ``None`` when the chapter caches nothing.
        cell_runner: ``"module:function"`` computing one planned cell into the cache unless
            it is cached, ``function(experiment, config, profile, device) -> None``, so that
            :func:`tdlib.book.executor.run_cells` can fill a grid cell by cell, locally or on
            Dask; ``None`` when the chapter's cells are not computed apart from its notebook.
        requires: ``"module:function"`` naming the cells that a cell needs cached first,
            ``function(experiment, config, profile) -> [(chapter, experiment, config, profile), ...]``
            (the trained networks that attacks and Grad-CAM load, the parts of a sharded attack
            cell); called for prerequisites too; ``None``: the cells need nothing.
        filled_by: For a placeholder: the work that will fill it.
    """

    name: str
    title: str
    notebook: bool = False
    default_profile: str | None = None
    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)
    planner: str | None = None
    filled_by: str | None = None
    cell_runner: str | None = None
    requires: str | None = None

    @property
    def path(self) -> Path:
        """The chapter's file in ``book/``."""
        return BOOK_DIR / f"{self.name}.{'ipynb' if self.notebook else 'md'}"

    def knobs(self) -> list[str]:
        """Names of the chapter's own knobs (beyond ``profile`` and ``recompute``)."""
        return sorted({k for table in self.profiles.values() for k in table})

    def plan(self, settings: dict[str, Any]) -> Plan:
        """The experiments and configurations this chapter needs under ``settings``."""
        if self.planner is None:
            return []
        module, func = self.planner.split(":")
        planner: Callable[[dict[str, Any]], Plan] = getattr(importlib.import_module(module), func)
        return planner(settings)

    def runner(self) -> Callable[[str, dict[str, Any], str, str | None], None]:
        """The chapter's cell runner (see :attr:`cell_runner`); a ValueError when it has none."""
        if self.cell_runner is None:
            raise ValueError(f"chapter {self.name!r} has no cell runner; chapters with one: "
                             f"{', '.join(c.name for c in CHAPTERS if c.cell_runner)}")
        return _resolve(self.cell_runner)

    def prerequisites(self, experiment: str, config: dict[str, Any],
                      profile: str) -> list[tuple[str, str, dict[str, Any], str]]:
        """The cells that one cell of this chapter needs cached first (see :attr:`requires`)."""
        return _resolve(self.requires)(experiment, config, profile) if self.requires else []


def _resolve(target: str) -> Any:
    """The object named ``"module:attribute"``."""
    module, attr = target.split(":")
    return getattr(importlib.import_module(module), attr)


TABLE1_MODELS = list(params.TABLE1_MODELS)
#: The ten attacks of Experiment 2 (tdlib.robustness.list_attacks(), written out to keep this table import-light).
ATTACKS = ["single_pixel", "salt_and_pepper", "pointwise", "additive_gaussian", "additive_uniform", "blended_uniform",
           "gaussian_blur", "contrast_reduction", "spatial", "shifts"]
#: L2 budgets of the robust-accuracy columns: MNIST-like images have 784 pixels, CIFAR-10 3,072 values.
ATTACK_BUDGETS = {"mnist": [0.5, 1.0, 2.0], "fashion_mnist": [0.5, 1.0, 2.0], "cifar10": [0.25, 0.5, 1.0],
                  "cifar10_aug": [0.25, 0.5, 1.0]}
VARIANTS = params.TABLE1_VARIANTS
#: The networks of Experiment 3 in the paper's order (tdlib.experiments.segmentation.MODELS, written out to keep
#: this table import-light).
SEG_MODELS = ("unet", "fcn", "td_seg")

CHAPTERS: tuple[Chapter, ...] = (
    Chapter("intro", "Top-Down Networks: the reproducible companion"),
    Chapter(
        "architectures", "Architectures and parameter counts", notebook=True, default_profile="cpu",
        profiles={
            "smoke": {"models": ["lenetfc"], "dataset": "mnist", "color_dataset": "cifar10", "image_index": 0},
            "cpu": {"models": TABLE1_MODELS, "dataset": "mnist", "color_dataset": "cifar10", "image_index": 0},
            "paper": {"models": TABLE1_MODELS, "dataset": "mnist", "color_dataset": "cifar10", "image_index": 0},
        },
    ),
    Chapter(
        "downscale", "Downscale study: blurred training and testing", notebook=True, default_profile="cpu",
        planner="tdlib.experiments.downscale:plan",
        cell_runner="tdlib.experiments.downscale:compute",
        profiles={
            # seconds: LeNetFC BU/TD on MNIST and on the toy cosines, 3 levels, tiny subsets
            "smoke": {"datasets": ["mnist", "toy_cosines"],
                      "models": {"mnist": ["lenetfc"], "toy_cosines": ["lenetfc"]},
                      "variants": ["bu", "td"], "levels": 3, "sigma0": 0.6, "repeats": 1, "epochs": 1,
                      "train_subset": 256, "test_subset": 128, "recalibrate_bn": True, "device": None},
            # about 60 min on 2 cores. Basis (bu-vs-td cpu runs, 1 thread, seconds per 1,000 training images and
            # epoch): LeNetFC BU 0.24 / TD 0.9, NIN-light BU 0.95 / TD 5.3, ResNet32 BU 5 / TD 8.5. Per train sigma
            # and repeat: LeNetFC 18,000 x 2 epochs ~ 41 s, NIN-light 10,800 x 3 ~ 200 s, ResNet32 4,500 x 4 ~ 243 s,
            # toy LeNetFC 3,600 x 10 ~ 41 s; x 4 sigmas: ~3,000 s of training plus the tests at 4 sigmas. Measured
            # on 2 cores shared with other work, a NIN-light TD cell took ~600 s, so NIN-light runs on MNIST only.
            "cpu": {"datasets": ["mnist", "fashion_mnist", "cifar10", "toy_cosines"],
                    "models": {"mnist": ["lenetfc", "nin_light"], "fashion_mnist": ["lenetfc"],
                               "cifar10": ["resnet32"], "toy_cosines": ["lenetfc"]},
                    "variants": ["bu", "td"], "levels": 4, "sigma0": 0.6,
                    "repeats": {"lenetfc": 2, "nin_light": 1, "resnet32": 1},
                    "epochs": {"toy_cosines": 10, "lenetfc": 2, "nin_light": 3, "resnet32": 4},
                    "train_subset": {"toy_cosines": None, "lenetfc": 20_000, "nin_light": 12_000, "resnet32": 5_000},
                    "test_subset": {"resnet32": 1_000}, "recalibrate_bn": True, "device": None},
            # the Exp. 1 settings on every level: all images, the original epochs, 4 repeats; the sigmas of the
            # thesis's Figure 3.3 (0, 0.6, 1.2, 2.4); NIN-light also on the toy set, NINext and ResNet32 on CIFAR-10
            "paper": {"datasets": ["mnist", "fashion_mnist", "cifar10", "toy_cosines"],
                      "models": {"mnist": ["lenetfc", "nin_light"], "fashion_mnist": ["lenetfc", "nin_light"],
                                 "cifar10": ["nin", "resnet32"], "toy_cosines": ["lenetfc", "nin_light"]},
                      "variants": ["bu", "td"], "levels": 4, "sigma0": 0.6, "repeats": 4, "epochs": None,
                      "train_subset": None, "test_subset": None, "recalibrate_bn": False, "device": None},
        },
    ),
    Chapter(
        "fourier", "Fourier filtering and progressive growing", notebook=True, default_profile="cpu",
        planner="tdlib.experiments.fourier:plan",
        cell_runner="tdlib.experiments.fourier:compute",
        profiles={
            # seconds: LeNetFC BU/TD on MNIST, one cut-off, the thesis's rings, both growth regimes (3 epochs:
            # growing needs an epoch per TD step)
            "smoke": {"datasets": ["mnist"], "models": {"mnist": ["lenetfc"]}, "variants": ["bu", "td"],
                      "radii": [8], "ring_radii": [[5, 10]], "grow": ["trainable", "frozen"], "repeats": 1,
                      "epochs": 3, "grow_epochs": None, "train_subset": 256, "test_subset": 128, "recalibrate_bn": True,
                      "device": None},
            # 94 runs. Measured for the first 90 (3-epoch growth): 97.5 min of one thread in all (LeNetFC BU 9 /
            # TD 44 min, ResNet32 BU 15 / TD 30 min), about 49 min on 2 cores at two runs at a time. LeNetFC
            # grows over 6 epochs (2 per TD step, against a 6-epoch TD from scratch): about 15 min of one thread
            # more; ResNet32 grows over its 4
            "cpu": {"datasets": ["mnist", "fashion_mnist", "cifar10"],
                    "models": {"mnist": ["lenetfc"], "fashion_mnist": ["lenetfc"], "cifar10": ["resnet32"]},
                    "variants": ["bu", "td"], "radii": [4, 8, 12],
                    "ring_radii": {"cifar10": [[5, 10], [4, 8]], "mnist": [[5, 10], [3, 7]],
                                   "fashion_mnist": [[5, 10], [3, 7]]},
                    "grow": ["trainable", "frozen"], "repeats": {"lenetfc": 2, "resnet32": 1},
                    "epochs": {"lenetfc": 3, "resnet32": 4}, "grow_epochs": {"lenetfc": 6},
                    "train_subset": {"lenetfc": 20_000, "resnet32": 5_000},
                    "test_subset": {"resnet32": 1_000}, "recalibrate_bn": True, "device": None},
            # the Exp. 1 settings: all images, the original epochs, 4 repeats; both small networks on the grey
            # sets, NINext and ResNet32 on CIFAR-10
            "paper": {"datasets": ["mnist", "fashion_mnist", "cifar10"],
                      "models": {"mnist": ["lenetfc", "nin_light"], "fashion_mnist": ["lenetfc", "nin_light"],
                                 "cifar10": ["nin", "resnet32"]},
                      "variants": ["bu", "td"], "radii": [4, 8, 12],
                      "ring_radii": {"cifar10": [[5, 10], [4, 8]], "mnist": [[5, 10], [3, 7]],
                                     "fashion_mnist": [[5, 10], [3, 7]]},
                      "grow": ["trainable", "frozen"], "repeats": 4, "epochs": None, "grow_epochs": None,
                      "train_subset": None,
                      "test_subset": None, "recalibrate_bn": False, "device": None},
        },
    ),
    Chapter(
        "bu-vs-td", "Experiment 1: bottom-up versus top-down", notebook=True, default_profile="cpu",
        planner="tdlib.experiments.bu_vs_td:plan",
        cell_runner="tdlib.experiments.bu_vs_td:compute",
        profiles={
            # seconds: every code path (TD variants, augmentation, the widened ResNet TD) on tiny subsets
            "smoke": {"datasets": ["mnist", "cifar10_aug"],
                      "models": {"mnist": ["lenetfc"], "cifar10_aug": ["resnet32"]},
                      "variants": list(VARIANTS), "repeats": 1, "epochs": 1,
                      "train_subset": {"lenetfc": 256, "resnet32": 64}, "test_subset": 64,
                      "wide_td": True, "recalibrate_bn": True,
                      "device": None},
            # about an hour on 2 cores: full MNIST/Fashion-MNIST for LeNetFC (1 epoch), subsets elsewhere
            "cpu": {"datasets": ["mnist", "fashion_mnist", "cifar10", "cifar10_aug"],
                    "models": {"mnist": ["lenetfc", "nin_light"], "fashion_mnist": ["lenetfc", "nin_light"],
                               "cifar10": ["resnet32"], "cifar10_aug": ["resnet32"]},
                    "variants": list(VARIANTS), "repeats": {"lenetfc": 2, "nin_light": 1, "resnet32": 1},
                    "epochs": {"lenetfc": 1, "nin_light": 3, "resnet32": 3},
                    "train_subset": {"nin_light": 12_000, "resnet32": 2_000},
                    "test_subset": {"resnet32": 1_000}, "wide_td": True, "recalibrate_bn": True, "device": None},
            # the original command lines: every cell, 4 repeats, the original epochs, all images
            "paper": {"datasets": ["mnist", "fashion_mnist", "cifar10", "cifar10_aug"],
                      "models": {"mnist": ["lenetfc", "nin_light"], "fashion_mnist": ["lenetfc", "nin_light"],
                                 "cifar10": ["nin", "resnet32"], "cifar10_aug": ["nin", "resnet32"]},
                      "variants": list(VARIANTS), "repeats": 4, "epochs": None, "train_subset": None,
                      "test_subset": None, "wide_td": True, "recalibrate_bn": False, "device": None},
        },
    ),
    Chapter(
        "attacks", "Experiment 2: adversarial robustness", notebook=True, default_profile="cpu",
        planner="tdlib.experiments.attacks:plan",
        cell_runner="tdlib.experiments.attacks:compute",
        requires="tdlib.experiments.attacks:requires",
        profiles={
            # seconds: three attacks (one per code path: foolbox-equal search, random search, scipy grid)
            "smoke": {"trained_on": "smoke", "datasets": ["mnist"], "models": {"mnist": ["lenetfc"]},
                      "variants": {"lenetfc": ["bu", "td"]},
                      "attacks": ["contrast_reduction", "additive_uniform", "shifts"], "images": 16, "shard": None,
                      "repeats": 2,
                      "ablation": [["mnist", "lenetfc", "td"]], "extra_training": {},
                      "budgets": {"mnist": [0.5, 1.0, 2.0]}, "device": None},
            # the models of the cpu bu-vs-td grid; test images sized so
            # that the grid fits about 90 min on 2 cores: measured on 1 loaded thread, all ten attacks cost about
            # 3 s per LeNetFC image (BU + TD) and 40 s per NIN-light image; the cpu CIFAR-10 networks are about
            # 30 % accurate, so only ~6 of their 20 images are attacked (a smoke-sized look, not a measurement).
            # NINext (CIFAR-10-aug in the paper's Figures 5, 6 and 12) is left to the paper profile: the cpu
            # bu-vs-td grid lacks it, and training it plus its TD's attacks did not fit the 90 minutes
            "cpu": {"trained_on": "cpu", "datasets": ["mnist", "fashion_mnist", "cifar10", "cifar10_aug"],
                    "models": {"mnist": ["lenetfc", "nin_light"], "fashion_mnist": ["lenetfc", "nin_light"],
                               "cifar10": ["resnet32"], "cifar10_aug": ["resnet32"]},
                    "variants": {"lenetfc": ["bu", "td"], "nin_light": ["bu", "td"], "nin": ["bu", "td"],
                                 "resnet32": ["bu", "td", "uni", "rev"]},
                    "attacks": ATTACKS, "images": {"lenetfc": 500, "nin_light": 50, "resnet32": 20, "nin": 20},
                    "shard": None, "repeats": 3,
                    "ablation": [["mnist", "nin_light", "td"], ["fashion_mnist", "nin_light", "td"]],
                    "extra_training": {}, "budgets": ATTACK_BUDGETS, "device": None},
            # the original: every Exp. 1 model of the paper profile, all 10,000 test images, 3 repeats; each cell
            # in parts of 500 images (shard), cached one by one: on one CPU thread a LeNetFC TD part of the
            # slowest attack (pointwise) takes about 30 min, all ten attacks on 10,000 images about 18 h
            "paper": {"trained_on": "paper", "datasets": ["mnist", "fashion_mnist", "cifar10", "cifar10_aug"],
                      "models": {"mnist": ["lenetfc", "nin_light"], "fashion_mnist": ["lenetfc", "nin_light"],
                                 "cifar10": ["resnet32", "nin"], "cifar10_aug": ["resnet32", "nin"]},
                      "variants": {"lenetfc": ["bu", "td"], "nin_light": ["bu", "td"], "nin": ["bu", "td"],
                                   "resnet32": ["bu", "td", "uni", "rev"]},
                      "attacks": ATTACKS, "images": 10_000, "shard": 500, "repeats": 3,
                      "ablation": [["mnist", "nin_light", "td"], ["fashion_mnist", "nin_light", "td"],
                                   ["cifar10_aug", "nin", "td"]],
                      "extra_training": {}, "budgets": ATTACK_BUDGETS, "device": None},
        },
    ),
    Chapter(
        "segmentation", "Experiment 3: segmentation", notebook=True, default_profile="cpu",
        planner="tdlib.experiments.segmentation:plan",
        cell_runner="tdlib.experiments.segmentation:compute",
        profiles={
            # seconds: the three networks, one epoch on 200 meshes (180 training), 100 test meshes
            "smoke": {"models": list(SEG_MODELS), "repeats": 1, "epochs": 1, "train_subset": 200,
                      "test_subset": 100, "recalibrate_bn": True, "examples": 3, "device": None},
            # about 70 min on 2 busy cores. Basis (measured at smoke size, 3 training steps of batch 128 per
            # network, 1 thread while another job kept both cores busy): FCN 4.2 s, U-net 10.0 s and TD 9.0 s per
            # step, i.e. 0.18 s per training mesh for the three; inference 0.053 s per mesh for the three. So
            # per repeat 3 epochs x 3,150 training meshes ~ 1,740 s, validation 3 x 350 meshes ~ 60 s, the
            # BatchNorm re-estimation ~ 190 s and the 2,500 test meshes ~ 130 s: ~2,120 s; 2 repeats ~ 71 min
            # (about half that on 2 free cores). 75 steps per network instead of the paper's 2,120.
            "cpu": {"models": list(SEG_MODELS), "repeats": 2, "epochs": 3, "train_subset": 3_500,
                    "test_subset": None, "recalibrate_bn": True, "examples": 4, "device": None},
            # the original command lines: 13,500 / 1,500 / 2,500 meshes, 20 epochs, 4 repeats
            "paper": {"models": list(SEG_MODELS), "repeats": 4, "epochs": None, "train_subset": None,
                      "test_subset": None, "recalibrate_bn": False, "examples": 4, "device": None},
        },
    ),
    Chapter(
        "gradcam", "Explainability: Grad-CAM and localisation", notebook=True, default_profile="cpu",
        planner="tdlib.experiments.gradcam:plan",
        cell_runner="tdlib.experiments.gradcam:compute",
        requires="tdlib.experiments.gradcam:requires",
        profiles={
            # seconds: LeNetFC BU/TD of the smoke bu-vs-td grid (256 training images) on 64 MNIST test images
            "smoke": {"trained_on": "smoke", "prefer_paper": False, "datasets": ["mnist"],
                      "models": {"mnist": ["lenetfc"]}, "repeats": 1, "images": 64, "style": "original", "meshes": 8,
                      "mesh_examples": 2, "layer_figures": [["mnist", "lenetfc", 2]], "layer_search": 64,
                      "imagenette": None, "device": None},
            # about 6 min on 2 busy cores, all 10,000 test images. Basis (1 thread while another job kept both
            # cores busy, the prepare_inference copies): on 512 MNIST images Grad-CAM of every layer at once runs
            # at 5,900 (LeNetFC BU), 1,700 (LeNetFC TD), 880 (NIN BU) and 220 (NIN TD) images/s, the last layer
            # alone at 15,000 / 4,700 / 2,300 / 460; the whole grid below then took 336 s: the 8 IoU cells 237 s
            # (NIN TD 60-70 s each), the 4 x 1,000 meshes 95 s, the 3 figure cells 4 s. LeNetFC comes from the
            # paper-profile bu-vs-td runs where both BU and TD are saved (prefer_paper), every saved paper repeat
            # up to 4 (seconds each), NIN-light and ResNet32 from the cpu grid (its repeat 0: only that is saved).
            "cpu": {"trained_on": "cpu", "prefer_paper": True, "datasets": ["mnist", "fashion_mnist"],
                    "models": {"mnist": ["lenetfc", "nin_light"], "fashion_mnist": ["lenetfc", "nin_light"]},
                    "repeats": 4, "images": 10_000, "style": "original", "meshes": 1_000, "mesh_examples": 3,
                    "layer_figures": [["mnist", "nin_light", 2], ["fashion_mnist", "nin_light", 2],
                                      ["cifar10", "resnet32", 1]], "layer_search": 256,
                    "imagenette": None, "device": None},
            # the original: the paper-profile Exp. 1 networks (every repeat), all 10,000 test images, and Imagenette
            "paper": {"trained_on": "paper", "prefer_paper": False, "datasets": ["mnist", "fashion_mnist"],
                      "models": {"mnist": ["lenetfc", "nin_light"], "fashion_mnist": ["lenetfc", "nin_light"]},
                      "repeats": 4, "images": 10_000, "style": "original", "meshes": 2_500, "mesh_examples": 3,
                      "layer_figures": [["mnist", "nin_light", 3], ["fashion_mnist", "nin_light", 3],
                                        ["cifar10", "resnet32", 2]], "layer_search": 256,
                      "imagenette": {"model": "resnet18_light", "images": 4, "search": 64, "download": True},
                      "device": None},
        },
    ),
    Chapter(
        # reads every chapter's claims.csv (tdlib.book.claims.ledger); computes nothing
        "claims", "Claims ledger", notebook=True, default_profile="cpu",
        profiles={"smoke": {}, "cpu": {}, "paper": {}},
    ),
    Chapter(
        "reproducing", "Reproducing this book", notebook=True, default_profile="cpu",
        profiles={"smoke": {}, "cpu": {}, "paper": {}},
    ),
)


def chapter_names() -> list[str]:
    """All chapter names in book order."""
    return [c.name for c in CHAPTERS]


def get_chapter(name: str) -> Chapter:
    """The chapter called ``name``; a ValueError lists the valid names."""
    for c in CHAPTERS:
        if c.name == name:
            return c
    raise ValueError(f"unknown chapter {name!r}; expected one of {', '.join(chapter_names())}")


def notebook_chapters() -> list[Chapter]:
    """The chapters that papermill executes."""
    return [c for c in CHAPTERS if c.notebook]


def check_profile(profile: str) -> str:
    """Return ``profile`` if valid; a ValueError lists the valid profiles."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; expected one of {', '.join(PROFILES)}")
    return profile


def settings(chapter: str, profile: str, **overrides: Any) -> dict[str, Any]:
    """A chapter's knob values: the profile's table, with every non-``None`` override applied.

    Args:
        chapter: Chapter name.
        profile: ``smoke``, ``cpu`` or ``paper``.
        **overrides: Knob values; ``None`` means "the profile's value".

    Returns:
        The settings, including ``profile``.
    """
    ch = get_chapter(chapter)
    check_profile(profile)
    if not ch.notebook:
        raise ValueError(f"chapter {chapter!r} is not a notebook and has no settings")
    table = dict(ch.profiles.get(profile, {}))
    unknown = sorted(set(overrides) - set(ch.knobs()))
    if unknown:
        raise ValueError(f"unknown parameter(s) {', '.join(unknown)} for chapter {chapter!r}; "
                         f"expected {', '.join(['profile', 'recompute', *ch.knobs()])}")
    table.update({k: _coerce(k, v, table.get(k)) for k, v in overrides.items() if v is not None})
    return {"profile": profile, **table}


def pick(value: Any, *keys: str, default: Any = None) -> Any:
    """A setting given once, or per key as a dict: the value of the first of ``keys`` it has.

    E.g. ``pick({"lenetfc": 2, "nin_light": 3}, "mnist/lenetfc", "mnist", "lenetfc")`` is 2; a
    dict with none of the keys, or ``None``, gives ``default``.
    """
    if isinstance(value, Mapping):
        return next((value[k] for k in keys if k in value), default)
    return value if value is not None else default


def _coerce(name: str, value: Any, like: Any) -> Any:
    """A knob given as text where the profile has a list, dict or number (plain ``papermill -p``
    passes strings) is read as a Python literal."""
    if not isinstance(value, str) or like is None or isinstance(like, str):
        return value
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError):
        raise ValueError(f"parameter {name}={value!r} is not a Python literal like the profile's {like!r}") from None


def profiles_table() -> pd.DataFrame:
    """Every chapter with its kind and, per profile, its knob values (the book's Reproducing table)."""
    import pandas as pd

    rows = []
    for ch in CHAPTERS:
        if not ch.notebook:
            rows.append({"chapter": ch.name, "kind": "placeholder" if ch.filled_by else "text", "profile": "-",
                         "settings": "-"})
            continue
        for p in PROFILES:
            knobs = "; ".join(f"{k}={v}" for k, v in ch.profiles.get(p, {}).items()) or "(no knobs)"
            kind = "notebook" + (" (committed)" if p == ch.default_profile else "")
            rows.append({"chapter": ch.name, "kind": kind, "profile": p, "settings": knobs})
    return pd.DataFrame(rows)
