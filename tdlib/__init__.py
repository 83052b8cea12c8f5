"""tdlib: Top-Down Networks (coarse-to-fine CNNs, Lelekas et al. 2020) in PyTorch.

Main entry points::

    from tdlib import get_model, list_models, to_topdown
    bu = get_model("nin_light")            # a bottom-up baseline of the paper
    td = to_topdown(bu, arrangement="td")  # its top-down twin (also: "uni", "rev")

Layout (imports run downwards only; ``tests/test_imports.py`` fails on any import circle)::

    tdlib/
      io.py           atomic writes, the source checkout's location
      provenance.py   git revision, device name, library versions of a result
      nets/           spec -> layers -> build -> bottomup -> topdown (blur-pyramid or Fourier-ring
                      inputs) -> progressive (growing a TD network); registry <- zoo; factory
                      (get_model) on top; params (Table 1). Segmentation networks go here.
      data/           sources (registry, mirrors, downloads), splits, augment, batching.
                      The segmentation mesh set and the toy cosine set go here.
      pyramid.py      blur and blur levels, downscale, input pyramids, upsampling, Fourier filters
                      and rings (radii in cycles per image)
      speed.py        speed levers (allocator, channels-last, BatchNorm folding)
      segmentation.py Experiment 3: the class-weighted pixel loss, pooled per-class IoU, mean IoU
      train.py        the training engine (original recipe, seeded, checkpointed; also segmentation)
      bench.py        images/s, FLOP/s and TD/BU cost ratios; attack and Grad-CAM speed
      robustness/     Experiment 2: the ten attacks, minimal L2 over repeats, curves, per-scale ablation
      explain/        Grad-CAM of any layer (the authors' procedure, paper Eq. 3.3), the layers and
                      the authors' act_k, localisation IoU, energy shares, multi-object meshes
      book/           chapters (profiles), runner (papermill), results (cache), layout (HTML, display
                      names), claims (one claim schema; each chapter's claims.csv), viz, executor
                      (a grid's missing cells here or on Dask, and its cost plan)
      experiments/    one module per chapter: grids, experiment functions, verdicts
      cli.py          python -m tdlib ...

Results: every experiment cell is one cached JSON entry with its provenance (profile, git
revision, device, load, wall time); a cell too long for one sitting (a 10,000-image attack) is
cached in parts and merged. A chapter shows its default profile's grid, with each comparison
group (BU and TD of one network; the three segmentation networks of one repeat) replaced by
its ``paper``-profile entries where the whole group is cached (``results.prefer_complete``),
a ``profile`` column in the tables and the paper-scale panels marked in the figures. Times
per epoch always come from the chapter's own grid (background paper runs share their cores).
The executor runs each missing cell right after its missing prerequisites (depth first).
A training run too long for one sitting resumes from its checkpoint (every epoch, and every
10 minutes within one) beside its
future entry (``<key>.ckpt``; ``results.in_progress`` lists them), also on another machine;
``python -m tdlib stop`` (``results.request_stop``) makes the running trainings save it at
their next batch and end, and the next ``run`` resumes them.
``run --executor ... --grid-only`` fills grids without the notebook stack (a bare GPU
machine; ``scripts/gpu-paper.sh`` stages, runs and restores such a run).

``nets``, ``data``, ``pyramid``, ``io`` and ``provenance`` import nothing from ``train``,
``book`` or ``experiments``; ``explain`` imports only ``nets``, ``data``, ``pyramid`` and
``speed``; the book machinery imports no experiment (it finds a chapter's planner by
name); experiments use everything else.
"""

from .nets import (
    BottomUpNet,
    BUSpec,
    Stage,
    Stem,
    TopDownNet,
    Unit,
    build_bottomup,
    count_parameters,
    describe,
    get_model,
    list_models,
    to_topdown,
)

__version__ = "0.1.0"

__all__ = [
    "BUSpec",
    "BottomUpNet",
    "Stage",
    "Stem",
    "TopDownNet",
    "Unit",
    "build_bottomup",
    "count_parameters",
    "describe",
    "get_model",
    "list_models",
    "to_topdown",
]
