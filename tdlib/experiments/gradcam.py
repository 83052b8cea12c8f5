"""Explainability (paper §5, Figures 8-10): Grad-CAM of BU and TD networks and how well it localises objects.

Three cached experiments, all on the trained Exp. 1 networks of the bu-vs-td results cache
(repeat 0 of the grid of the bu-vs-td profile named by the ``trained_on`` knob, as the
attacks chapter; with ``prefer_paper``, a (dataset, model) whose BU *and* TD weights of the
bu-vs-td ``paper`` profile are saved uses those instead, so BU and TD always come from one
profile):

- ``iou`` (Figure 10), one cell per (dataset, model, variant): Grad-CAM (:mod:`tdlib.explain`,
  the authors' ``"original"`` procedure by default: the predicted class's softmax probability,
  mean subtraction and L2 normalisation before the ReLU) of every layer of
  :func:`tdlib.explain.layers` on the first ``images`` test images of a fixed seeded subset
  (all 10,000 at 10,000, in order), kept only where the network *and its BU/TD partner* classify
  the image correctly (the paper's "samples correctly classified from both TD and BU"; the
  partner's forward pass runs in the same cell, so a cell needs no other cell). Stored: the
  localisation IoU (``heat > thr`` against ``image > 0.2``) of the last convolutional layer
  (the authors' last ``act_k``, the paper's "ultimate convolutional layer") at the thresholds
  0.0..0.4 in both readings of the paper's averaging (``mean_per_image`` and ``pooled``), its
  threshold-free energy share (share of the heatmap's mass on the object) per image (2 bytes
  each, base64), and per layer the mean-per-image IoU and the mean energy share. No heatmaps.
- ``meshes`` (the "several objects" claim of Figure 9 as a number), one cell per (dataset,
  model) with BU and TD: 2x2 meshes of four test images that both networks classify
  correctly, two of one class and two of other classes, in random quadrants; Grad-CAM of the
  last layer explains the shared class; :func:`tdlib.explain.mesh_energy` gives the share of
  the heatmap's mass on the two objects of that class, on the two others and off the
  objects, how evenly it is split between the two (``balance``) and whether each gets at least
  half its fair share (``found``). Keeps the first few meshes and their heatmaps (uint8).
- ``layers`` (Figures 8 and 9 analogues), one cell per (dataset, model) with BU and TD: the
  heatmaps of every layer of :func:`tdlib.explain.layers` for the first few test images that
  both networks classify correctly (uint8, base64), for the chapter's per-layer figures.

Imagenette (ResNet18-light, the paper's own Figures 8 and 9) runs only at the ``paper``
profile (the ``imagenette`` knob) and needs the dataset and trained weights at
:func:`imagenette_weights_path`; :func:`imagenette_status` says why it is skipped otherwise.
"""

from __future__ import annotations

import base64
import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from ..book import results
from ..book.chapters import Plan, pick
from ..book.chapters import settings as chapter_settings
from ..book.claims import COLUMNS, FAILS, HOLDS, UNMEASURED, Claim, add_paper_scale, ratio_verdict, row
from ..nets.params import VARIANT_NAMES
from ..train import TrainConfig, base_dataset, load_weights
from . import bu_vs_td

CHAPTER = "gradcam"
IOU, MESHES, LAYERS = "iou", "meshes", "layers"
#: Heatmap thresholds of Figure 10 (tdlib.explain.THRESHOLDS, written out to keep imports light).
THRESHOLDS = (0.0, 0.1, 0.2, 0.3, 0.4)
#: Object mask threshold on [0, 1] images (paper §5).
OBJECT_THRESHOLD = 0.2
#: The two readings of the paper's averaging (experiments.md §7: not recoverable).
REDUCES = ("mean_per_image", "pooled")
#: The variants compared (the paper's Figure 10: BU and TD only).
VARIANTS = ("bu", "td")
#: Images per Grad-CAM call: bounds the memory of the per-layer heatmaps (13 layers x 1,000 x 28 x 28 floats).
CHUNK = 1_000

#: The paper's numbers (§5 "Object localization"), quoted from its text: TD minus BU IoU in points, and the
#: relative increase over BU's IoU in % ("roughly"). The text does not say at which threshold (or whether
#: averaged over the thresholds); Figure 10 itself has no printed numbers.
PAPER_GAPS: dict[tuple[str, str], tuple[float, float]] = {
    ("mnist", "nin_light"): (2.6, 10.0),
    ("fashion_mnist", "nin_light"): (3.9, 12.0),
    ("mnist", "lenetfc"): (0.38, 2.0),
    ("fashion_mnist", "lenetfc"): (0.64, 2.0),
}
#: Mean balances (on the meshes) closer than this count as equal in the verdicts.
SAME_BALANCE = 0.02
#: The paper's model names.
MODEL_NAMES = {"lenetfc": "LeNetFC", "nin_light": "NIN", "resnet32": "ResNet32", "resnet18_light": "ResNet18"}


# ---------------------------------------------------------------------------------------------------------------
# Which trained networks
# ---------------------------------------------------------------------------------------------------------------


def _grid_pair(dataset: str, model: str, profile: str, seed: int = 0) -> dict[str, TrainConfig]:
    """The BU and TD runs of one repeat of a (dataset, model) in the bu-vs-td grid of ``profile`` (may be empty)."""
    out = {}
    for c in bu_vs_td.cell_configs(chapter_settings("bu-vs-td", profile)):
        if (c.dataset, c.model, c.seed, c.widths) == (dataset, model, seed, None) and c.variant in VARIANTS:
            out[c.variant] = c
    return out


def _saved(pair: Mapping[str, TrainConfig]) -> bool:
    return len(pair) == 2 and all(bu_vs_td.weights_path(c).is_file() for c in pair.values())


def trained_pair(dataset: str, model: str, s: Mapping[str, Any]) -> tuple[str, dict[str, TrainConfig]]:
    """The bu-vs-td profile and the BU and TD training runs of repeat 0 that a (dataset, model) explains.

    With ``prefer_paper``, the ``paper`` profile's runs when both their weights are saved
    (checked in the results root now, so the plan follows what is cached); else the runs of
    the ``trained_on`` profile.

    Raises:
        ValueError: The (dataset, model) is not in that bu-vs-td grid.
    """
    if s.get("prefer_paper") and s["trained_on"] != "paper":
        paper = _grid_pair(dataset, model, "paper")
        if _saved(paper):
            return "paper", paper
    pair = _grid_pair(dataset, model, s["trained_on"])
    if len(pair) != 2:
        raise ValueError(f"{dataset}/{model} BU and TD of repeat 0 are not in the bu-vs-td grid of profile "
                         f"{s['trained_on']!r}")
    return s["trained_on"], pair


def repeat_pairs(dataset: str, model: str, s: Mapping[str, Any]) -> list[tuple[str, dict[str, TrainConfig]]]:
    """The (profile, BU/TD runs) of every repeat that the IoU grid explains, repeat 0 first.

    Repeat 0 is :func:`trained_pair`'s. The further repeats (up to the ``repeats`` knob) come from
    the same profile and are taken only where both their weights are saved: the reduced grids
    save repeat 0 alone, the ``paper`` profile every repeat (:func:`tdlib.experiments.bu_vs_td.run_cell`);
    at ``trained_on="paper"`` they are trained when missing, as repeat 0 is.
    """
    source, first = trained_pair(dataset, model, s)
    out = [(source, first)]
    for seed in range(1, int(s.get("repeats") or 1)):
        pair = _grid_pair(dataset, model, source, seed)
        if len(pair) == 2 and (_saved(pair) or s["trained_on"] == "paper"):
            out.append((source, pair))
    return out


def load_model(trained: Mapping[str, Any], profile: str, device: str = "cpu") -> nn.Module:
    """The trained network of a cached configuration; trained through bu-vs-td first when it was never run.

    Raises:
        FileNotFoundError: The bu-vs-td run is cached but its weights were not saved.
    """
    cfg = TrainConfig(**{**trained, "widths": tuple(trained["widths"]) if trained["widths"] else None})
    path = bu_vs_td.weights_path(cfg)
    if not path.is_file():
        if results.lookup(bu_vs_td.CHAPTER, bu_vs_td.EXPERIMENT, cfg.as_dict()) is not None:
            raise FileNotFoundError(f"the bu-vs-td run {cfg.dataset}/{cfg.model}/{cfg.variant} is cached without "
                                    f"its weights ({path}); recompute it with python -m tdlib run bu-vs-td")
        bu_vs_td.run_cell(cfg, profile, device=device, save=True, progress=False)
    return load_weights(cfg, path, device)


def last_layer(model: nn.Module) -> str:
    """The last convolutional layer: the authors' last ``act_k`` (``head.unit`` for LeNetFC and NIN-light)."""
    from ..explain import layers, paper_layers

    acts = paper_layers(model)
    if acts:
        return acts[max(acts, key=lambda k: int(k.split("_")[1]))]
    return layers(model)[-1].name


# ---------------------------------------------------------------------------------------------------------------
# Cells
# ---------------------------------------------------------------------------------------------------------------


def pairs(s: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The (dataset, model) pairs of the IoU grid, in order."""
    return [(d, m) for d in s["datasets"] for m in pick(s["models"], d, default=[])]


def iou_configs(s: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every IoU cell: per (dataset, model) and repeat (:func:`repeat_pairs`), BU then TD."""
    out = []
    for dataset, model in pairs(s):
        for source, pair in repeat_pairs(dataset, model, s):
            for variant in VARIANTS:
                partner = "td" if variant == "bu" else "bu"
                out.append({"dataset": dataset, "model": model, "variant": variant, "trained_on": source,
                            "trained": pair[variant].as_dict(), "partner": pair[partner].as_dict(),
                            "images": int(pick(s["images"], model)), "seed": 0, "style": s.get("style", "original"),
                            "thresholds": list(THRESHOLDS), "object_threshold": OBJECT_THRESHOLD})
    return out


def mesh_configs(s: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every mesh cell: per (dataset, model) of the IoU grid, when the ``meshes`` knob is above 0."""
    count = int(s.get("meshes") or 0)
    if count <= 0:
        return []
    out = []
    for dataset, model in pairs(s):
        source, pair = trained_pair(dataset, model, s)
        out.append({"dataset": dataset, "model": model, "trained_on": source,
                    "trained": {v: pair[v].as_dict() for v in VARIANTS}, "meshes": count,
                    "pool": int(pick(s["images"], model)), "seed": 0, "style": s.get("style", "original"),
                    "examples": int(s.get("mesh_examples", 3)), "object_threshold": OBJECT_THRESHOLD})
    return out


def layer_configs(s: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every per-layer figure cell: the ``layer_figures`` knob's ``[dataset, model, images]`` triples.

    A (dataset, model) that the bu-vs-td grid of ``trained_on`` lacks (CIFAR-10 ResNet32 in the
    ``smoke`` grid) is left out; :func:`layer_figures_skipped` names it.
    """
    out = []
    for dataset, model, n in s.get("layer_figures") or []:
        try:
            source, pair = trained_pair(dataset, model, s)
        except ValueError:
            continue
        out.append({"dataset": dataset, "model": model, "trained_on": source,
                    "trained": {v: pair[v].as_dict() for v in VARIANTS}, "images": int(n),
                    "search": int(s.get("layer_search", 256)), "seed": 0, "style": s.get("style", "original")})
    return out


def layer_figures_skipped(s: Mapping[str, Any]) -> list[str]:
    """The ``layer_figures`` the bu-vs-td grid of ``trained_on`` has no networks for."""
    kept = {(c["dataset"], c["model"]) for c in layer_configs(s)}
    return [f"{d} {m}" for d, m, _ in s.get("layer_figures") or [] if (d, m) not in kept]


def plan(s: Mapping[str, Any]) -> Plan:
    """The (experiment, configuration) pairs, for ``python -m tdlib results``."""
    return ([(IOU, c) for c in iou_configs(s)] + [(MESHES, c) for c in mesh_configs(s)]
            + [(LAYERS, c) for c in layer_configs(s)])


# ---------------------------------------------------------------------------------------------------------------
# Data and compact storage
# ---------------------------------------------------------------------------------------------------------------


def test_images(dataset: str, n: int) -> tuple[Tensor, Tensor, Tensor | None]:
    """The first ``n`` images of a seeded test subset (all of them, in order, at the test set's size):
    raw in [0, 1], their labels and the training mean (CIFAR-10; None for MNIST-like sets)."""
    from ..data import dataset_info, load_splits

    name = base_dataset(dataset)
    total = dataset_info(name).num_test
    s = load_splits(name, seed=0, val_fraction=0.0, train_subset=1, test_subset=None if n >= total else n)
    raw = s.x_test + s.mean if s.mean is not None else s.x_test
    return raw.clamp_(0.0, 1.0), s.y_test, s.mean


def predicted(model: nn.Module, x: Tensor, mean: Tensor | None) -> Tensor:
    """Predicted classes of raw images (the mean subtracted first), an ordinary CPU tensor."""
    from ..speed import predict

    return predict(model, x - mean if mean is not None else x).argmax(1).cpu().clone()


def encode_u8(maps: Tensor | np.ndarray) -> str:
    """Values in [0, 1] as one byte each (rounded to 1/255), base64: a heatmap or an image in a JSON entry."""
    a = np.clip(np.round(np.asarray(maps, dtype=np.float64) * 255.0), 0, 255).astype(np.uint8)
    return base64.b64encode(a.tobytes()).decode("ascii")


def decode_u8(text: str, shape: Sequence[int]) -> np.ndarray:
    """Inverse of :func:`encode_u8`: float32 in [0, 1] of ``shape``."""
    return np.frombuffer(base64.b64decode(text), dtype=np.uint8).reshape(shape).astype(np.float32) / 255.0


#: Resolution of a stored share: 1e-4; :data:`NAN_CODE` stands for NaN (an all-zero heatmap).
SHARE_SCALE, NAN_CODE = 10_000, 65_535


def encode_shares(values: Tensor | np.ndarray) -> str:
    """Shares in [0, 1] (NaN allowed) as two bytes each (rounded to 1e-4), base64."""
    v = np.asarray(values, dtype=np.float64)
    codes = np.where(np.isnan(v), NAN_CODE, np.round(np.clip(np.nan_to_num(v), 0, 1) * SHARE_SCALE))
    return base64.b64encode(codes.astype("<u2").tobytes()).decode("ascii")


def decode_shares(text: str) -> np.ndarray:
    """Inverse of :func:`encode_shares`: float64, NaN where NaN was stored."""
    codes = np.frombuffer(base64.b64decode(text), dtype="<u2").astype(np.float64)
    return np.where(codes == NAN_CODE, np.nan, codes / SHARE_SCALE)


# ---------------------------------------------------------------------------------------------------------------
# Computing the cells
# ---------------------------------------------------------------------------------------------------------------


def _device(device: str | None) -> str:
    return device or ("cuda" if torch.cuda.is_available() else "cpu")


def _models(config: Mapping[str, Any], dev: str) -> dict[str, nn.Module]:
    return {v: load_model(config["trained"][v], config["trained_on"], dev) for v in VARIANTS}


def _both_correct(models: Mapping[str, nn.Module], x: Tensor, y: Tensor, mean: Tensor | None) -> Tensor:
    ok = torch.ones(len(y), dtype=torch.bool)
    for m in models.values():
        ok &= predicted(m, x, mean) == y
    return ok


def compute_iou(config: Mapping[str, Any], dev: str) -> dict[str, Any]:
    """The result of one IoU cell (see the module docstring)."""
    from ..explain import GradCAM, energy_share, layers, localisation_iou, object_mask
    from ..speed import prepare_inference

    own = load_model(config["trained"], config["trained_on"], dev)
    partner = load_model(config["partner"], config["trained_on"], dev)
    x, y, mean = test_images(config["dataset"], config["images"])
    x = x.to(dev)
    mean = mean.to(dev) if mean is not None else None
    own_ok = predicted(own, x, mean) == y
    both = own_ok & (predicted(partner, x, mean) == y)
    xs = x[both.to(x.device)]
    info = layers(own, tuple(x.shape[1:]))
    last = last_layer(own)
    names = [layer.name for layer in info]
    thr, obj_t = config["thresholds"], config["object_threshold"]
    cam = GradCAM(prepare_inference(own), names, style=config["style"], mean=mean, batch_size=256)
    per_image = {n: [] for n in names}  # (chunk, T) IoUs per layer
    energy = {n: [] for n in names}
    heat_last = []
    seconds = 0.0
    for i in range(0, len(xs), CHUNK):
        chunk = xs[i : i + CHUNK]
        t0 = time.perf_counter()
        maps = cam(chunk)
        seconds += time.perf_counter() - t0
        for n in names:
            per_image[n].append(localisation_iou(maps[n], chunk, thr, obj_t, reduce="none").cpu())
            energy[n].append(energy_share(maps[n], chunk, obj_t).cpu())
        heat_last.append(maps[last].cpu())
    out: dict[str, Any] = {"images": len(y), "correct": int(own_ok.sum()), "both_correct": int(both.sum()),
                           "accuracy": float(own_ok.float().mean()), "layer": last,
                           "layer_resolution": next([lay.height, lay.width] for lay in info if lay.name == last),
                           "seconds": seconds, "images_per_s": len(xs) / seconds if seconds > 0 else None}
    if len(xs) == 0:
        nan = [None] * len(thr)
        return {**out, "iou": {r: nan for r in REDUCES}, "energy": {"mean": None, "median": None, "shares": ""},
                "object_share": None, "per_layer": []}
    heat = torch.cat(heat_last)
    xs_cpu = xs.cpu()
    shares = torch.cat(energy[last]).double()
    out["iou"] = {r: localisation_iou(heat, xs_cpu, thr, obj_t, reduce=r).double().tolist() for r in REDUCES}
    out["energy"] = {"mean": float(shares.nanmean()), "median": float(shares.nanmedian()),
                     "shares": encode_shares(shares.numpy())}
    out["object_share"] = float(object_mask(xs_cpu, obj_t).double().mean())
    out["per_layer"] = [{"layer": lay.name, "paper": lay.paper, "height": lay.height, "width": lay.width,
                         "iou_mean_per_image": torch.cat(per_image[lay.name]).double().nanmean(0).tolist(),
                         "energy_mean": float(torch.cat(energy[lay.name]).double().nanmean())} for lay in info]
    return out


def build_meshes(images: Tensor, labels: Tensor, count: int, seed: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``count`` 2x2 meshes: two images of one class and two of other classes, in random quadrants.

    Args:
        images: ``(N, 1, H, W)`` in [0, 1] (the pool: images both networks classify correctly).
        labels: ``(N,)`` their classes.
        count: Meshes.
        seed: Seed of the draw.

    Returns:
        Meshes ``(M, 1, 2H, 2W)``, per-pixel labels ``(M, 2H, 2W)``, the shared class ``(M,)`` and the
        pool indices of each mesh's four images ``(M, 4)`` in quadrant order (:func:`tdlib.explain.make_meshes`).
    """
    from ..explain import make_meshes

    rng = np.random.default_rng(seed)
    y = labels.numpy()
    by_class = {int(c): np.flatnonzero(y == c) for c in np.unique(y)}
    shared = [c for c, idx in by_class.items() if len(idx) >= 2]
    if not shared or len(by_class) < 2:
        raise ValueError("the image pool needs two images of one class and images of another class")
    picks, targets = [], []
    for _ in range(count):
        c = int(rng.choice(shared))
        same = rng.choice(by_class[c], size=2, replace=False)
        others = rng.choice(np.flatnonzero(y != c), size=2, replace=False)
        picks.append(np.concatenate([same, others])[rng.permutation(4)])
        targets.append(c)
    idx = torch.from_numpy(np.stack(picks))
    meshes, mesh_labels, _ = make_meshes(images[idx.flatten()], labels[idx.flatten()])
    return meshes, mesh_labels, torch.tensor(targets), idx


def compute_meshes(config: Mapping[str, Any], dev: str) -> dict[str, Any]:
    """The result of one mesh cell (see the module docstring)."""
    from ..explain import GradCAM, mesh_energy
    from ..speed import prepare_inference

    models = _models(config, dev)
    x, y, _ = test_images(config["dataset"], config["pool"])
    both = _both_correct(models, x.to(dev), y, None)
    meshes, labels, target, idx = build_meshes(x[both], y[both], config["meshes"], config["seed"])
    obj = (labels >= 0) & (labels < 10)
    on_class = obj & (labels == target.view(-1, 1, 1))
    out: dict[str, Any] = {"pool": int(both.sum()), "meshes": len(meshes),
                           "uniform_on_target": float(on_class.double().flatten(1).mean(1).mean()),
                           "target_object_share": float((on_class.double().flatten(1).sum(1)
                                                         / obj.double().flatten(1).sum(1)).mean()),
                           "examples": {"meshes": [encode_u8(m[0]) for m in meshes[: config["examples"]]],
                                        "labels": [int(t) for t in target[: config["examples"]]],
                                        "heatmaps": {}},
                           "variants": {}}
    per: dict[str, Any] = {}
    for v, model in models.items():
        net = prepare_inference(model)
        t0 = time.perf_counter()
        heat = GradCAM(net, last_layer(model), style=config["style"], batch_size=128)(meshes.to(dev), target)
        seconds = time.perf_counter() - t0
        heat = heat.cpu()
        me = mesh_energy(heat, labels, target)
        pred = predicted(model, meshes.to(dev), None)
        per[v] = me
        out["variants"][v] = {
            "on_target": float(me.on_target.double().nanmean()), "on_other": float(me.on_other.double().nanmean()),
            "off_object": float(me.off_object.double().nanmean()), "balance": float(me.balance.double().nanmean()),
            "found": float(me.found.double().nanmean()), "both_found": float((me.found == 1).double().mean()),
            "predicts_target": float((pred == target).double().mean()), "seconds": seconds,
        }
        out["examples"]["heatmaps"][v] = [encode_u8(h) for h in heat[: config["examples"]]]
    bu, td = per["bu"], per["td"]
    out["td_more_on_target"] = float((td.on_target > bu.on_target).double().mean())
    ok = ~(td.balance.isnan() | bu.balance.isnan())
    out["td_more_balanced"] = float((td.balance[ok] > bu.balance[ok]).double().mean()) if ok.any() else None
    return out


def compute_layers(config: Mapping[str, Any], dev: str, data: tuple[Tensor, Tensor, Tensor | None] | None = None,
                   models: Mapping[str, nn.Module] | None = None) -> dict[str, Any]:
    """The result of one per-layer figure cell (see the module docstring).

    Args:
        config: The cell's configuration.
        dev: Device.
        data: Raw images, labels and mean to search (default: the first ``search`` test images).
        models: BU and TD networks (default: the trained ones of ``config``).
    """
    from ..explain import GradCAM, layers
    from ..speed import prepare_inference

    models = dict(models) if models is not None else _models(config, dev)
    x, y, mean = data if data is not None else test_images(config["dataset"], config["search"])
    x = x.to(dev)
    mean = mean.to(dev) if mean is not None else None
    both = _both_correct(models, x, y, mean)
    chosen = torch.nonzero(both).flatten()[: config["images"]]
    xs = x[chosen.to(x.device)]
    out: dict[str, Any] = {"indices": chosen.tolist(), "labels": y[chosen].tolist(), "shape": list(x.shape[1:]),
                           "images": [encode_u8(img.cpu()) for img in xs], "variants": {}}
    for v, model in models.items():
        info = layers(model, tuple(x.shape[1:]))
        maps = GradCAM(prepare_inference(model), [lay.name for lay in info], style=config["style"], mean=mean)(xs) \
            if len(xs) else {}
        out["variants"][v] = [{"layer": lay.name, "paper": lay.paper, "height": lay.height, "width": lay.width,
                               "maps": [encode_u8(m.cpu()) for m in maps.get(lay.name, [])]} for lay in info]
    return out


def run_cell(experiment: str, config: Mapping[str, Any], profile: str, *, recompute: bool = False,
             device: str | None = None) -> results.Entry:
    """One cell of an experiment (``iou``, ``meshes`` or ``layers``), computed unless cached."""
    compute = {IOU: compute_iou, MESHES: compute_meshes, LAYERS: compute_layers}[experiment]
    dev = _device(device)
    return results.cached(CHAPTER, experiment, dict(config), lambda: compute(config, dev), profile=profile,
                          recompute=recompute, device=dev)


def run_grid(s: Mapping[str, Any], profile: str, *, recompute: bool = False, device: str | None = None,
             progress: bool = True) -> dict[str, list[results.Entry]]:
    """Every cell of the chapter's settings, computing what the cache lacks; entries by experiment."""
    from tqdm import tqdm

    out: dict[str, list[results.Entry]] = {IOU: [], MESHES: [], LAYERS: []}
    for experiment, config in tqdm(plan(s), desc="gradcam", disable=not progress):
        out[experiment].append(run_cell(experiment, config, profile, recompute=recompute, device=device))
    return out


# ---------------------------------------------------------------------------------------------------------------
# Imagenette (paper profile only)
# ---------------------------------------------------------------------------------------------------------------


def imagenette_weights_path(model: str, variant: str, root: Path | None = None) -> Path:
    """Where the chapter looks for trained Imagenette weights (a state dict):
    ``<results>/gradcam/imagenette/<model>_<variant>.pt``."""
    return (root or results.results_root()) / CHAPTER / "imagenette" / f"{model}_{variant}.pt"


def imagenette_status(s: Mapping[str, Any]) -> str | None:
    """``None`` when the Imagenette figures can be computed; else why they are skipped (one sentence)."""
    knob = s.get("imagenette")
    if not knob:
        return (f"not at the `{s.get('profile', '?')}` profile: the Imagenette figures (ResNet18-light, the paper's "
                "Figures 8 and 9) run only at the `paper` profile, because they need a network trained on "
                "Imagenette (9,469 images of 156 px, GPU hours) and the 1.5 GB dataset")
    from ..data import DatasetNotFoundError, load_arrays

    missing = [str(imagenette_weights_path(knob["model"], v)) for v in VARIANTS
               if not imagenette_weights_path(knob["model"], v).is_file()]
    if missing:
        return ("no trained ResNet18-light BU and TD weights: tdlib.train has no Imagenette recipe yet (appendix "
                f"A.b), so this chapter expects their state dicts at {', '.join(missing)}")
    try:
        load_arrays("imagenette", train=False, download=bool(knob.get("download", True)))
    except DatasetNotFoundError as e:
        return f"Imagenette could not be loaded ({str(e).splitlines()[0]})"
    return None


def imagenette_layers(s: Mapping[str, Any], profile: str, *, recompute: bool = False,
                      device: str | None = None) -> results.Entry | None:
    """The per-layer heatmaps of ResNet18-light BU and TD on the first Imagenette validation images both
    classify correctly (cached as a ``layers`` cell), or None when :func:`imagenette_status` says skipped.

    The validation images have the validation set's own per-pixel mean subtracted, as the
    original's Grad-CAM script (experiments.md §1.2).
    """
    if imagenette_status(s) is not None:
        return None
    import hashlib

    from ..data import load_arrays
    from ..nets import get_model

    knob = s["imagenette"]
    dev = _device(device)
    paths = {v: imagenette_weights_path(knob["model"], v) for v in VARIANTS}
    config = {"dataset": "imagenette", "model": knob["model"], "trained_on": "weights",
              "trained": {v: hashlib.sha256(p.read_bytes()).hexdigest()[:16] for v, p in paths.items()},
              "images": int(knob.get("images", 4)), "search": int(knob.get("search", 64)), "seed": 0,
              "style": s.get("style", "original")}

    def compute() -> dict[str, Any]:
        models = {}
        for v, p in paths.items():
            net = get_model(knob["model"], v)
            state = torch.load(p, map_location="cpu", weights_only=True)
            net.load_state_dict({k: t.to(net.state_dict()[k].dtype) for k, t in state.items()})
            models[v] = net.to(dev).eval()
        xa, ya = load_arrays("imagenette", train=False, download=bool(knob.get("download", True)))
        x = torch.from_numpy(np.ascontiguousarray(xa.transpose(0, 3, 1, 2))).float() / 255.0
        mean = x.mean(0)
        n = config["search"]
        return compute_layers(config, dev, (x[:n], torch.from_numpy(ya[:n]), mean), models)

    return results.cached(CHAPTER, LAYERS, config, compute, profile=profile, recompute=recompute, device=dev)


# ---------------------------------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------------------------------


def _label(e: results.Entry) -> str:
    return VARIANT_NAMES[e.config["variant"]]


def _repeat(e: results.Entry) -> int:
    """The bu-vs-td repeat (training seed) of the networks an entry explains."""
    return int((e.config.get("trained") or {}).get("seed", 0))


def iou_long(found: Sequence[results.Entry]) -> pd.DataFrame:
    """Figure 10 in long form: one row per (dataset, model, variant, repeat, reduce, threshold), IoU in %."""
    rows = []
    for e in found:
        c, r = e.config, e.result
        for reduce in REDUCES:
            for t, v in zip(c["thresholds"], r["iou"][reduce], strict=True):
                rows.append({"dataset": c["dataset"], "model": c["model"], "label": _label(e), "repeat": _repeat(e),
                             "trained_on": c["trained_on"], "images": r["images"], "both_correct": r["both_correct"],
                             "reduce": reduce, "threshold": t, "iou": math.nan if v is None else 100 * v,
                             "profile": e.provenance.get("profile")})
    return pd.DataFrame(rows)


def gaps(long: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, model, reduce, threshold): BU and TD IoU (%) averaged over the repeats, TD - BU in points
    and relative to BU (%)."""
    if long.empty:
        return pd.DataFrame()
    wide = long.pivot_table(index=["dataset", "model", "reduce", "threshold"], columns="label", values="iou",
                            sort=False).reset_index()
    wide.columns.name = None
    wide["gap"] = wide.TD - wide.BU
    wide["relative"] = 100 * wide.gap / wide.BU
    return wide


def summary(long: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, model, reduce): the IoUs and gap averaged over the thresholds (and the repeats), at how
    many thresholds TD is above BU (on the repeats' mean), the number of repeats and the standard deviation
    of the threshold-averaged gap over them (NaN with one), and the paper's gap and relative increase (quoted
    from its text). ``both_correct`` is the repeats' mean."""
    g = gaps(long)
    if g.empty:
        return g
    reps = long.groupby(["dataset", "model", "repeat"], sort=False).both_correct.first()
    meta = long.groupby(["dataset", "model"], sort=False).agg(trained_on=("trained_on", "first"),
                                                             images=("images", "first"),
                                                             repeats=("repeat", "nunique"))
    meta["both_correct"] = reps.groupby(["dataset", "model"], sort=False).mean()
    per_repeat = long.pivot_table(index=["dataset", "model", "reduce", "repeat"], columns="label", values="iou",
                                  sort=False)
    gap_std = (per_repeat.TD - per_repeat.BU).groupby(["dataset", "model", "reduce"], sort=False).std()
    out = g.groupby(["dataset", "model", "reduce"], sort=False).agg(
        thresholds=("threshold", "size"), BU=("BU", "mean"), TD=("TD", "mean"), gap=("gap", "mean"),
        gap_min=("gap", "min"), gap_max=("gap", "max"),
        td_higher=("gap", lambda v: int((v > 0).sum()))).reset_index()
    out["relative"] = 100 * out.gap / out.BU
    out["gap_std"] = [gap_std.get((d, m, r), math.nan) for d, m, r in zip(out.dataset, out.model, out.reduce,
                                                                          strict=True)]
    out = out.join(meta, on=["dataset", "model"])
    out["paper_gap"] = [PAPER_GAPS.get((d, m), (math.nan, math.nan))[0] for d, m in zip(out.dataset, out.model,
                                                                                            strict=True)]
    out["paper_relative"] = [PAPER_GAPS.get((d, m), (math.nan, math.nan))[1] for d, m in zip(out.dataset, out.model,
                                                                                                 strict=True)]
    return out


def energy(found: Sequence[results.Entry]) -> pd.DataFrame:
    """The threshold-free score per (dataset, model): mean energy share of BU and TD (%), the share a uniform
    heatmap would get (the object's share of the image), and in how many of the images (the same
    both-correct images for both) TD's share is above BU's; each the mean over the repeats."""
    by = {(e.config["dataset"], e.config["model"], e.config["variant"], _repeat(e)): e for e in found}
    rows = []
    for (d, m, v, k), e in by.items():
        if v != "bu" or (d, m, "td", k) not in by:
            continue
        bu, td = e.result, by[(d, m, "td", k)].result
        sb, st = decode_shares(bu["energy"]["shares"]), decode_shares(td["energy"]["shares"])
        ok = ~(np.isnan(sb) | np.isnan(st)) if len(sb) == len(st) else np.zeros(0, bool)
        rows.append({"dataset": d, "model": m, "images": bu["both_correct"],
                     "BU": 100 * (bu["energy"]["mean"] if bu["energy"]["mean"] is not None else math.nan),
                     "TD": 100 * (td["energy"]["mean"] if td["energy"]["mean"] is not None else math.nan),
                     "uniform": 100 * (bu["object_share"] if bu["object_share"] is not None else math.nan),
                     "td_above": float(100 * (st[ok] > sb[ok]).mean()) if ok.any() else math.nan})
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    out = out.groupby(["dataset", "model"], sort=False).agg(
        repeats=("BU", "size"), images=("images", "mean"), BU=("BU", "mean"), TD=("TD", "mean"),
        uniform=("uniform", "mean"), td_above=("td_above", "mean")).reset_index()
    out["gap"] = out.TD - out.BU
    return out


def per_layer(found: Sequence[results.Entry], threshold: float = 0.2) -> pd.DataFrame:
    """Per (dataset, model, variant, layer) in forward order: resolution, the authors' ``act_k``, the
    mean-per-image IoU at ``threshold`` and the mean energy share (%), of repeat 0."""
    rows = []
    for e in found:
        c = e.config
        if _repeat(e) != 0:
            continue
        k = c["thresholds"].index(threshold)
        for i, lay in enumerate(e.result["per_layer"]):
            rows.append({"dataset": c["dataset"], "model": c["model"], "label": _label(e), "order": i,
                         "layer": lay["layer"], "paper": lay["paper"] or "",
                         "resolution": f"{lay['height']}x{lay['width']}", f"iou@{threshold}": 100 * lay[
                             "iou_mean_per_image"][k], "energy": 100 * lay["energy_mean"]})
    return pd.DataFrame(rows)


def mesh_table(found: Sequence[results.Entry]) -> pd.DataFrame:
    """Per (dataset, model, variant): where the heatmap of the shared class lies on the meshes (%)."""
    rows = []
    for e in found:
        c, r = e.config, e.result
        for v, m in r["variants"].items():
            rows.append({"dataset": c["dataset"], "model": c["model"], "label": VARIANT_NAMES[v], "meshes": r["meshes"],
                         "on_target": 100 * m["on_target"], "on_other": 100 * m["on_other"],
                         "off_object": 100 * m["off_object"], "balance": m["balance"], "found": 100 * m["found"],
                         "both_found": 100 * m["both_found"], "predicts_target": 100 * m["predicts_target"],
                         "uniform_on_target": 100 * r["uniform_on_target"],
                         "td_more_on_target": 100 * r["td_more_on_target"],
                         "td_more_balanced": (math.nan if r["td_more_balanced"] is None
                                              else 100 * r["td_more_balanced"])})
    return pd.DataFrame(rows)


def cells_table(found: Sequence[results.Entry]) -> pd.DataFrame:
    """Per IoU cell: where its network comes from, test images, accuracy, images kept, layer, speed."""
    rows = []
    for e in found:
        c, r = e.config, e.result
        t = c["trained"]
        rows.append({"dataset": c["dataset"], "model": c["model"], "label": _label(e), "repeat": _repeat(e),
                     "trained_on": c["trained_on"],
                     "epochs": t["epochs"], "train_subset": t["train_subset"], "images": r["images"],
                     "accuracy": 100 * r["accuracy"], "both_correct": r["both_correct"], "layer": r["layer"],
                     "resolution": "x".join(map(str, r["layer_resolution"])),
                     "images_per_s": r["images_per_s"], "profile": e.provenance.get("profile")})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------------------------
# Verdicts
# ---------------------------------------------------------------------------------------------------------------


def _name(dataset: str, model: str) -> str:
    return f"{MODEL_NAMES.get(model, model)} {dataset}"


_FIG10, _GAP, _ENERGY = ("Figure 10: IoU against the threshold", "The gap beside the paper's",
                          "Beyond the paper: a score without a threshold")
_MESHES, _IMAGENETTE = "Several objects: 2×2 meshes (Figure 9 as a number)", "Imagenette: the paper's own figures"
#: The paper's BU - TD accuracy gap on Imagenette (appendix A.b), in %.
PAPER_IMAGENETTE_GAP = 5.0
#: The paper's claims that this chapter tests (experiments.md §10, items 9 and 10).
CLAIMS: dict[str, Claim] = {c.id: c for c in (
    Claim("gradcam-iou-higher", CHAPTER, _FIG10, "paper §5, Fig. 10",
          "TD's Grad-CAM heatmaps overlap the object more than BU's: the localisation IoU is higher at every "
          "threshold.", "TD higher at every threshold"),
    Claim("gradcam-iou-gap", CHAPTER, _GAP, "paper §5 \"Object localization\"",
          "TD's IoU gain over BU is NIN +2.6 / +3.9 points (MNIST / F-MNIST), LeNetFC +0.38 / +0.64 points.",
          "NIN +2.6 / +3.9 points (~10 % / 12 %); LeNetFC +0.38 / +0.64 points (~2 %)"),
    Claim("gradcam-nin-larger", CHAPTER, _GAP, "paper §5 \"Object localization\"",
          "The IoU gain is larger for NIN than for LeNetFC.", "NIN ~10-12 %, LeNetFC ~2 %"),
    Claim("gradcam-energy", CHAPTER, _ENERGY, "paper §5 (our threshold-free score)",
          "TD's heatmap puts more of its mass on the object than BU's (threshold-free).",
          "no number: the IoU claim without its threshold"),
    Claim("gradcam-several-objects", CHAPTER, _MESHES, "paper §5, Fig. 9",
          "With several objects of the class in the image, TD localises them more consistently than BU.",
          "localises multiple objects more consistently (Imagenette, no number)"),
    Claim("gradcam-imagenette-acc", CHAPTER, _IMAGENETTE, "paper A.b",
          "On Imagenette, ResNet18-light BU is more accurate than its TD, by about 5 %.", "BU beats TD by 5 %"),
)}


def profile_note(long: pd.DataFrame, profile: str) -> str:
    """The line above the verdicts: the profile, the test images and where the networks come from (markdown)."""
    s = summary(long)
    if s.empty or (profile == "paper" and set(s.trained_on) == {"paper"}):
        return ""
    first = s[s.reduce == REDUCES[0]]  # one row per (dataset, model)
    sources = "; ".join(f"`{p}`: " + ", ".join(_name(d, m) for d, m in zip(g.dataset, g.model, strict=True))
                        for p, g in first.groupby("trained_on", sort=False))
    return (f"*Profile `{profile}`, {int(s.images.max()):,} test images at most. The networks come from the "
            f"bu-vs-td runs of these profiles: {sources}. The verdicts describe these networks, not the paper's.*")


def imagenette_note(s: Mapping[str, Any]) -> str:
    """Why ``gradcam-imagenette-acc`` is not measured: :func:`imagenette_status`, or that the Imagenette
    cell draws heatmaps without testing the networks' accuracy."""
    return imagenette_status(s) or ("the Imagenette cell draws the heatmaps of the given weights but does not "
                                    "test their accuracy")


def _iou_claims(s: pd.DataFrame) -> dict[str, tuple[str, str]]:
    """``gradcam-iou-higher``, ``gradcam-iou-gap`` and ``gradcam-nin-larger`` from :func:`summary`."""
    out = {}
    parts, hits = [], 0
    for reduce in REDUCES:
        sub = s[s.reduce == reduce]
        n = int((sub.td_higher == sub.thresholds).sum())
        hits += n
        parts.append(f"`{reduce}`: every threshold in {n} of {len(sub)} (" + "; ".join(
            f"{_name(r.dataset, r.model)} {r.td_higher} of {r.thresholds}" for r in sub.itertuples()) + ")")
    out["gradcam-iou-higher"] = (ratio_verdict(hits, len(s)), "TD above BU, per (dataset, model) and reading: "
                                 + "; ".join(parts))
    sub = s[s.reduce == "mean_per_image"]
    parts, same, known = [], 0, 0
    for r in sub.itertuples():
        if math.isnan(r.paper_gap):
            parts.append(f"{_name(r.dataset, r.model)} {r.gap:+.2f} points ({r.relative:+.1f} %), no paper number")
            continue
        known += 1
        agree = (r.gap > 0) == (r.paper_gap > 0)
        same += agree
        size = f"same direction, {r.gap / r.paper_gap:.1f}x its size" if agree else "opposite direction"
        spread = f", std {r.gap_std:.2f} over {r.repeats} repeats" if r.repeats > 1 else ""
        parts.append(f"{_name(r.dataset, r.model)} {r.gap:+.2f} points ({r.relative:+.1f} %{spread}) vs the "
                     f"paper's +{r.paper_gap:g} (~{r.paper_relative:g} %): {size}")
    if known:
        out["gradcam-iou-gap"] = (ratio_verdict(same, known), "ours averaged over the five thresholds, "
                                  "`mean_per_image`: " + "; ".join(parts)
                                  + f"; the paper's direction in {same} of {known}")
    nin, lenet = sub[sub.model == "nin_light"], sub[sub.model == "lenetfc"]
    if not nin.empty and not lenet.empty:
        bigger = nin.gap.mean() > lenet.gap.mean()
        out["gradcam-nin-larger"] = (HOLDS if bigger else FAILS, f"mean gap NIN {nin.gap.mean():+.2f}, LeNetFC "
                                     f"{lenet.gap.mean():+.2f} points (`mean_per_image`)")
    return out


def _energy_claim(energy_df: pd.DataFrame) -> tuple[str, str]:
    better = int((energy_df.gap > 0).sum())
    cells = "; ".join(f"{_name(r.dataset, r.model)} BU {r.BU:.1f} %, TD {r.TD:.1f} % (TD above BU on "
                      f"{r.td_above:.0f} % of the images; uniform map {r.uniform:.1f} %)"
                      for r in energy_df.itertuples())
    return ratio_verdict(better, len(energy_df)), (
        f"share of the heatmap's mass on pixels > 0.2, TD above BU in {better} of {len(energy_df)} cells: {cells}")


def _mesh_claim(meshes: pd.DataFrame) -> tuple[str, str]:
    piv = meshes.pivot_table(index=["dataset", "model"], columns="label",
                             values=["on_target", "balance", "both_found"], sort=False)
    n = len(piv)
    more = int((piv["on_target"]["TD"] > piv["on_target"]["BU"]).sum())
    d_bal = piv["balance"]["TD"] - piv["balance"]["BU"]
    even, same = int((d_bal > SAME_BALANCE).sum()), int((d_bal.abs() <= SAME_BALANCE).sum())
    cells = "; ".join(
        f"{_name(d, m)} on the two objects BU {piv.loc[(d, m), ('on_target', 'BU')]:.1f} %, TD "
        f"{piv.loc[(d, m), ('on_target', 'TD')]:.1f} %; balance BU {piv.loc[(d, m), ('balance', 'BU')]:.2f}, "
        f"TD {piv.loc[(d, m), ('balance', 'TD')]:.2f}; both found BU {piv.loc[(d, m), ('both_found', 'BU')]:.0f} %"
        f", TD {piv.loc[(d, m), ('both_found', 'TD')]:.0f} %" for d, m in piv.index)
    return ratio_verdict(more + even, 2 * n), (
        f"on 2x2 meshes with two objects of the explained class, TD puts more mass on them in {more} of {n} cells "
        f"and splits it more evenly between them (balance higher by more than {SAME_BALANCE}) in {even} of {n}, "
        f"about as evenly as BU in {same}: {cells}")


def claims(long: pd.DataFrame, energy_df: pd.DataFrame, meshes: pd.DataFrame, profile: str,
           imagenette: Mapping[str, float] | None = None, imagenette_note: str = "",
           paper_scale: bool = True) -> pd.DataFrame:
    """Every claim of :data:`CLAIMS` with a computed verdict and the numbers it rests on (``claims.csv`` rows).

    * ``gradcam-iou-higher``: TD's IoU above BU's at every threshold, per (dataset, model) and
      reading of the averaging (Figure 10).
    * ``gradcam-iou-gap``: our gap (mean over the thresholds, ``mean_per_image``) has the
      direction of the paper's, per (dataset, model) with a paper number; the numbers give the ratio.
    * ``gradcam-nin-larger``: the mean gap of NIN above that of LeNetFC; ``holds`` or ``does not hold``.
    * ``gradcam-energy``: TD's mean energy share above BU's, per (dataset, model).
    * ``gradcam-several-objects``: on the meshes, TD puts more mass on the two objects of the class,
      and splits it more evenly (balance higher by more than :data:`SAME_BALANCE`); both counted
      per (dataset, model).
    * ``gradcam-imagenette-acc``: BU's Imagenette test accuracy above TD's, from ``imagenette``
      (``{"BU": %, "TD": %}``); without it ``not measured at this profile``, with
      ``imagenette_note`` (why: :func:`imagenette_status`) as its numbers.

    ``ratio_verdict``: ``holds`` when every case agrees, ``does not hold`` when at most half do.
    ``paper_scale``: also the IoU verdicts on the networks trained at the paper profile alone
    (``trained_on``; :func:`tdlib.book.claims.add_paper_scale`).
    """
    found: dict[str, tuple[str, str]] = {}
    s = summary(long)
    if not s.empty:
        found.update(_iou_claims(s))
    if not energy_df.empty:
        found["gradcam-energy"] = _energy_claim(energy_df)
    if not meshes.empty:
        found["gradcam-several-objects"] = _mesh_claim(meshes)
    if imagenette and {"BU", "TD"} <= set(imagenette):
        gap = imagenette["BU"] - imagenette["TD"]
        found["gradcam-imagenette-acc"] = (HOLDS if gap > 0 else FAILS, (
            f"BU {imagenette['BU']:.2f} %, TD {imagenette['TD']:.2f} % (BU - TD {gap:+.2f} points, paper "
            f"{PAPER_IMAGENETTE_GAP:g})"))
    prof = "/".join(sorted(set(long.profile.dropna()))) if len(long) and "profile" in long else profile
    prof = prof or profile
    notes = {"gradcam-imagenette-acc": imagenette_note}
    out = pd.DataFrame([row(c, *found[c.id], prof) if c.id in found else row(c, UNMEASURED, notes.get(c.id, ""),
                                                                               profile)
                        for c in CLAIMS.values()], columns=list(COLUMNS))
    if not paper_scale:
        return out
    return add_paper_scale(out, long, lambda rows: claims(rows, energy_df.iloc[0:0], meshes.iloc[0:0], "paper",
                                                          paper_scale=False), column="trained_on")


def decode_layers(entry: results.Entry) -> dict[str, Any]:
    """A ``layers`` entry decoded for :func:`tdlib.book.viz.draw_layer_heatmaps`: the images ``(K, C, H, W)``,
    their labels and per variant label a list of ``(layer, act_k, (h, w), maps (K, H, W))``."""
    r = entry.result
    shape = r["shape"]
    images = np.stack([decode_u8(t, shape) for t in r["images"]]) if r["images"] else np.zeros((0, *shape))
    out: dict[str, Any] = {"images": images, "labels": r["labels"], "variants": {}}
    for v, lays in r["variants"].items():
        out["variants"][VARIANT_NAMES[v]] = [
            (lay["layer"], lay["paper"], (lay["height"], lay["width"]),
             np.stack([decode_u8(t, shape[1:]) for t in lay["maps"]]) if lay["maps"] else np.zeros((0, *shape[1:])))
            for lay in lays]
    return out


def decode_mesh_examples(entry: results.Entry) -> dict[str, Any]:
    """A ``meshes`` entry's examples: meshes ``(K, 2H, 2W)``, explained classes and heatmaps per variant label."""
    ex = entry.result["examples"]
    side = int(math.isqrt(len(base64.b64decode(ex["meshes"][0])))) if ex["meshes"] else 0
    shape = (side, side)
    return {"meshes": np.stack([decode_u8(t, shape) for t in ex["meshes"]]) if ex["meshes"] else np.zeros((0, *shape)),
            "labels": ex["labels"],
            "heatmaps": {VARIANT_NAMES[v]: np.stack([decode_u8(t, shape) for t in maps])
                         for v, maps in ex["heatmaps"].items() if maps}}


# ---------------------------------------------------------------------------------------------------------------
# One planned cell, for tdlib.book.executor
# ---------------------------------------------------------------------------------------------------------------


def compute(experiment: str, config: Mapping[str, Any], profile: str, device: str | None = None) -> None:
    """Compute one planned cell (an ``(experiment, config)`` pair of :func:`plan`) into the cache unless cached.

    The chapter's cell runner (``Chapter.cell_runner``), called by :func:`tdlib.book.executor.run_cells`
    after the cell's :func:`requires` (the explained networks' training runs).
    """
    if experiment not in (IOU, MESHES, LAYERS):
        raise ValueError(f"unknown gradcam experiment {experiment!r}; expected {IOU}, {MESHES} or {LAYERS}")
    run_cell(experiment, config, profile, device=device)


def requires(experiment: str, config: Mapping[str, Any], profile: str) -> list[tuple[str, str, dict[str, Any], str]]:
    """The cells a planned cell needs cached first: the bu-vs-td runs of the networks it explains.

    Returns:
        ``(chapter, experiment, config, profile)`` tuples, at the cell's ``trained_on`` profile
        (as :func:`load_model` records when it trains a network itself).
    """
    trained = [config["trained"], config["partner"]] if experiment == IOU else list(config["trained"].values())
    return [(bu_vs_td.CHAPTER, bu_vs_td.EXPERIMENT, dict(t), config["trained_on"]) for t in trained]
