"""The book's figures, drawn from the library's own descriptions and results (no hand-drawn diagrams).

Every figure is drawn :data:`WIDTH` inches wide with the font sizes of :data:`STYLE`, so that
it fills the book's text column and its text stays readable there; a new figure gets both
by decorating its drawing function with :func:`styled`. Tables: :mod:`tdlib.book.layout`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import ParamSpec

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch
from torch import Tensor

from ..nets import BottomUpNet, BUSpec, TopDownNet, Unit, count_parameters

#: Width of a figure in inches: the book's text column (about 700 px at Jupyter's 100 dpi).
WIDTH = 7.0
#: Font sizes (points) that stay readable when a figure :data:`WIDTH` wide fills the column.
STYLE = {"font.size": 9.5, "axes.titlesize": 10, "axes.labelsize": 9.5, "xtick.labelsize": 9,
         "ytick.labelsize": 9, "legend.fontsize": 9, "legend.title_fontsize": 9, "figure.titlesize": 10.5}
#: Height of one row of a network diagram, in inches.
ROW = 0.36
#: Width and height of a diagram box, in columns (resolution levels) and rows.
BOX_W, BOX_H = 0.88, 0.78

P = ParamSpec("P")


def _legend_entries(axes) -> tuple[list, list[str]]:  # noqa: ANN001  (an array of Axes)
    """The distinct legend handles and labels of a grid of axes, in first-seen order (one figure legend)."""
    handles, names = [], []
    for ax in axes.ravel():
        for h, n in zip(*ax.get_legend_handles_labels(), strict=True):
            if n not in names:
                handles.append(h)
                names.append(n)
    return handles, names


#: The mark of a panel (or bar group) whose results come from the ``paper`` profile.
PAPER_MARK = "paper profile"


def _paper_mark(ax: Axes, data: pd.DataFrame) -> None:
    """Mark a panel whose rows (with a ``profile`` column) are paper-scale: a small label in its
    top-left corner, "paper profile" when all of them are, "partly paper profile" when some are."""
    if "profile" not in data or data.empty:
        return
    paper = data.profile == "paper"
    if paper.any():
        ax.text(0.02, 0.97, PAPER_MARK if paper.all() else f"partly {PAPER_MARK}", transform=ax.transAxes,
                ha="left", va="top", fontsize=7, fontweight="bold", color="#444444",
                bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "#888888", "lw": 0.6, "alpha": 0.9})


def styled(draw: Callable[P, Figure]) -> Callable[P, Figure]:
    """Draw the figure with the book's font sizes (:data:`STYLE`)."""

    @functools.wraps(draw)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> Figure:
        with plt.rc_context(STYLE):
            return draw(*args, **kwargs)

    return wrapper


def _legend_below(fig: Figure, axes: Sequence[Axes], title: str = "") -> None:
    """One legend for the whole figure, below its panels (from the first panel's handles)."""
    handles, labels = axes[0].get_legend_handles_labels()
    for ax in axes:
        if ax.get_legend() is not None:
            ax.get_legend().remove()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), title=title or None, frameon=False)
    fig.tight_layout(rect=(0, 0.1 if title else 0.07, 1, 1))


COLORS = {"input": "#e8e8e8", "conv": "#bcd7f0", "block": "#c4e6c0", "down": "#d9d9d9", "up": "#d9d9d9",
          "merge": "#f7c894", "entry": "#f3e6a0", "head": "#d8c4ea"}


@dataclass(frozen=True)
class Node:
    """One box of a network diagram: what it is, the resolution level it works at, a label."""

    kind: str
    level: int
    label: str
    entry: str | None = None  # merges: the entry conv on the pyramid input


def _unit_label(spec: BUSpec, u: Unit) -> str:
    return f"c{u.kernel}-{u.width}" if spec.unit == "conv" else f"block {u.width}"


def _unit_nodes(spec: BUSpec, units: Sequence[Unit], level: int) -> list[Node]:
    """Units as nodes; runs of identical residual blocks are shown once with a count."""
    nodes: list[Node] = []
    i = 0
    while i < len(units):
        j = i
        while spec.unit != "conv" and j + 1 < len(units) and units[j + 1] == units[i]:
            j += 1
        label = _unit_label(spec, units[i])
        kind = "conv" if spec.unit == "conv" else "block"
        nodes.append(Node(kind, level, f"{j - i + 1}x {label}" if j > i else label))
        i = j + 1
    return nodes


def _head_node(spec: BUSpec, level: int) -> Node:
    return Node("head", level, f"c1-{spec.num_classes}, GAP" if spec.head == "conv" else f"GAP, FC-{spec.num_classes}")


def bu_nodes(model: BottomUpNet) -> list[Node]:
    """The diagram of a BU network, read from its description."""
    spec = model.spec
    nodes = [Node("input", 0, "x")]
    level = 0
    if spec.stem is not None:
        nodes.append(Node("conv", 0, f"stem c{spec.stem.kernel}-{spec.stem.width}"))
        if spec.stem.stride == 2:
            level += 1
            nodes.append(Node("down", level, "stride 2"))
    for stage in spec.stages:
        units = list(stage.units)
        if stage.down is not None:
            level += 1
            if stage.down == "stride":
                nodes.append(Node("down", level, f"{_unit_label(spec, units.pop(0))} /2"))
            else:
                pool = "pool 2x2" if stage.down == "pool2" else "pool 3x3/2"
                nodes.append(Node("down", level, pool + (f"\ndrop {stage.dropout:g}" if stage.dropout else "")))
        nodes += _unit_nodes(spec, units, level)
    return [*nodes, _head_node(spec, level)]


def td_nodes(model: TopDownNet) -> list[Node]:
    """The diagram of a TD network, read from its description and build plan."""
    spec = model.spec
    top = spec.downsamplings
    merge_name = {"add": "+", "concat": "||", "add_concat": "+ ||"}[model.config["merge"]]
    nodes = [Node("input", top, f"x/{2**top}")]
    if model.stem is not None:
        nodes.append(Node("conv", top, f"stem c{spec.stem.kernel}-{model.stem.conv.out_channels}"))  # type: ignore[union-attr]
    for step in model.plan:
        units = list(step.units)
        if step.transition is not None:
            if step.transition == "up_block":
                nodes.append(Node("up", step.level + 1, f"up {_unit_label(spec, units.pop(0))}"))
            else:
                if step.projection:
                    nodes.append(Node("conv", step.level + 1, f"c1-{step.merge_width}"))
                nodes.append(Node("up", step.level + 1, "up x2"))
            kernel = spec.stem.kernel if spec.stem is not None else (step.units[0].kernel if step.units else 3)
            scale = "x" if step.level == 0 else f"x/{2**step.level}"
            drop = f"\ndrop {step.dropout:g}" if step.dropout else ""
            nodes.append(Node("merge", step.level, f"{merge_name} c3-{step.merge_width}{drop}",
                              entry=f"{scale}: c{kernel}-{step.merge_width}"))
        nodes += _unit_nodes(spec, units, step.level)
    return [*nodes, _head_node(spec, model.plan[-1].level)]


def diagram_rows(nodes: Sequence[Node]) -> int:
    """Rows of a diagram: one per node, and one more for the pyramid input of each merge."""
    return len(nodes) + sum(n.entry is not None for n in nodes)


def _box(ax: Axes, x: float, y: float, label: str, kind: str, fontsize: float) -> None:
    """A labelled box of a diagram, centred on ``(x, y)``."""
    ax.add_patch(FancyBboxPatch((x - BOX_W / 2, y - BOX_H / 2), BOX_W, BOX_H, fc=COLORS[kind], ec="#555555",
                                lw=0.8, boxstyle="round,pad=0.02,rounding_size=0.08"))
    ax.text(x, y, label, ha="center", va="center", fontsize=fontsize)


def _arrow(ax: Axes, start: tuple[float, float], end: tuple[float, float]) -> None:
    """An arrow of a diagram."""
    ax.annotate("", xy=end, xytext=start, arrowprops={"arrowstyle": "->", "color": "#444444", "lw": 0.8})


def draw_nodes(nodes: Sequence[Node], ax: Axes, title: str, levels: int) -> None:
    """Draw a node sequence from top to bottom; columns are resolution levels (full resolution left).

    The pyramid input of a merge (its entry convolution) sits just above the merge, in the
    merge's column; the coarser path enters the merge from the side.
    """
    half = BOX_H / 2
    fontsize = (STYLE["font.size"] - 1) * min(1.0, 3 / levels)  # narrower columns beyond 3 levels
    row, prev = 0, None
    for n in nodes:
        x = float(n.level)
        if n.entry is not None:
            _box(ax, x, -row, n.entry, "entry", fontsize)
            _arrow(ax, (x, -row - half), (x, -row - 1 + half))
            row += 1
        y = -float(row)
        _box(ax, x, y, n.label, n.kind, fontsize)
        if prev is not None:
            toward = BOX_W / 2 if prev[0] > x else -BOX_W / 2  # the side of a box facing the other column
            if prev[0] == x:
                _arrow(ax, (x, prev[1] - half), (x, y + half))
            elif n.entry is not None:  # into a merge: from the side, below its pyramid input
                _arrow(ax, (prev[0], prev[1] - half), (x + toward, y))
            else:
                _arrow(ax, (prev[0] - toward, prev[1]), (x, y + half))
        prev = (x, y)
        row += 1
    ax.set_xlim(-0.5, levels - 0.5)
    ax.set_xticks(range(levels), [("x" if k == 0 else f"1/{2**k}") for k in range(levels)])
    ax.xaxis.tick_top()
    ax.tick_params(axis="x", length=0)
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_title(title, loc="left")


@styled
def draw_bu_td(bu: BottomUpNet, td: TopDownNet) -> Figure:
    """A BU network beside its TD twin: stages, resolutions (columns), channels and merges."""
    bn, tn = bu_nodes(bu), td_nodes(td)
    levels = bu.spec.downsamplings + 1
    rows = max(diagram_rows(bn), diagram_rows(tn))
    fig, axes = plt.subplots(1, 2, figsize=(WIDTH, rows * ROW + 1.0), sharey=True)
    draw_nodes(bn, axes[0], f"BU {bu.spec.name}\n{count_parameters(bu):,} parameters", levels)
    draw_nodes(tn, axes[1], f"TD {bu.spec.name}: {count_parameters(td):,} parameters\n{td.config['arrangement']}, "
                            f"merge {td.config['merge']}, downscale {td.config['downscale']}", levels)
    axes[0].set_ylim(-rows + 0.5, 0.5)
    fig.tight_layout()
    return fig


def _show(ax: Axes, img: Tensor, full: int) -> None:
    a = img[0].detach().permute(1, 2, 0).cpu().numpy()
    a = np.clip(a, 0, 1)
    cmap = "gray" if a.shape[-1] == 1 else None
    ax.imshow(a[..., 0] if a.shape[-1] == 1 else a, cmap=cmap, vmin=0, vmax=1, extent=(0, full, full, 0),
              interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


@styled
def draw_pyramids(levels_by_method: Mapping[str, Sequence[Tensor]], title: str) -> Figure:
    """Rows: downscale methods; columns: pyramid levels, each shown at its own pixel size."""
    methods = list(levels_by_method)
    n = len(next(iter(levels_by_method.values())))
    full = next(iter(levels_by_method.values()))[0].shape[-1]
    size = min(1.9, (WIDTH - 0.6) / n)
    fig, axes = plt.subplots(len(methods), n, figsize=(size * n + 0.6, size * len(methods) + 0.4), squeeze=False)
    for r, m in enumerate(methods):
        for k, img in enumerate(levels_by_method[m]):
            ax = axes[r][k]
            _show(ax, img, full)
            if r == 0:
                ax.set_title(("x" if k == 0 else f"x/{2**k}") + f"  ({img.shape[-2]}x{img.shape[-1]})")
            if k == 0:
                ax.set_ylabel(m)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


@styled
def draw_costs(df: pd.DataFrame) -> Figure:
    """Parameters and FLOPs of each TD arrangement and merge, relative to the BU, per model."""
    import seaborn as sns

    td = df[df.variant != "BU"]
    models = list(dict.fromkeys(td.paper_name))
    fig, axes = plt.subplots(2, len(models), figsize=(WIDTH, 5.0), squeeze=False)
    for j, m in enumerate(models):
        sub = td[td.paper_name == m]
        for i, (col, label) in enumerate((("params_vs_bu", "parameters / BU"), ("flops_vs_bu", "FLOPs / BU"))):
            ax = axes[i][j]
            sns.barplot(sub, x="variant", y=col, hue="merge", ax=ax, palette="Set2")
            ax.axhline(1.0, color="#444444", lw=0.8, ls="--")
            ax.set_xlabel("")
            ax.set_ylabel(label if j == 0 else "")
            if i == 0:
                ax.set_title(m)
    _legend_below(fig, axes.ravel(), "merge")
    return fig


@styled
def draw_relative(paired: pd.DataFrame, datasets: Sequence[str], time: pd.DataFrame | None = None) -> Figure:
    """The paper's Figure 4: TD variants relative to BU per dataset (accuracy in points, time as a ratio).

    Args:
        paired: :func:`tdlib.experiments.bu_vs_td.paired` rows; bars are means over repeats,
            error bars one standard deviation (none for a single repeat); models whose rows have
            the ``paper`` profile are marked under their bars.
        datasets: Column order.
        time: Other ``paired`` rows for the bottom row (time ratios), marked the same way;
            default ``paired``.
    """
    import seaborn as sns

    time = paired if time is None else time
    datasets = [d for d in datasets if d in set(paired.dataset)]
    labels = list(dict.fromkeys(paired.label))
    fig, axes = plt.subplots(2, len(datasets), figsize=(WIDTH, 5.2), squeeze=False)
    for j, d in enumerate(datasets):
        for i, (rows, col, label, ref) in enumerate(((paired, "d_acc", "test accuracy - BU (points)", 0.0),
                                                     (time, "time_ratio", "time per epoch / BU", 1.0))):
            sub = rows[rows.dataset == d]
            ax = axes[i][j]
            sns.barplot(sub, x="model", y=col, hue="label", hue_order=labels, errorbar="sd", ax=ax,
                        palette="Set2", capsize=0.1, err_kws={"linewidth": 1})
            if "profile" in sub:  # a paper-scale (dataset, model) is marked under its bars
                at_paper = set(sub.model[sub.profile == "paper"])
                ax.set_xticks(ax.get_xticks(), [f"{t.get_text()}\n({PAPER_MARK})" if t.get_text() in at_paper
                                                else t.get_text() for t in ax.get_xticklabels()])
            ax.axhline(ref, color="#444444", lw=0.8, ls="--")
            ax.set_xlabel("")
            ax.set_ylabel(label if j == 0 else "")
            if i == 0:
                ax.set_title(d)
    _legend_below(fig, axes.ravel())
    return fig


@styled
def draw_curves(curves: Mapping[str, pd.DataFrame], title: str) -> Figure:
    """Training loss and accuracy within and across epochs, one line per variant."""
    fig, axes = plt.subplots(1, 2, figsize=(WIDTH, 3.0))
    for label, c in curves.items():
        axes[0].plot(c.epoch, c.train_loss, marker=".", label=label)
        axes[1].plot(c.epoch, c.train_acc, marker=".", label=label)
    axes[0].set_ylabel("training loss")
    axes[1].set_ylabel("training accuracy")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[1].legend()
    fig.suptitle(title)
    fig.tight_layout()
    return fig


#: Colours of the variants in the attack figures: BU red and TD green, as the paper's Figure 5.
VARIANT_COLORS = {"BU": "#d62728", "TD": "#2ca02c", "TDuni": "#1f77b4", "TDrev": "#9467bd"}


@styled
def draw_attack_curves(curves: pd.DataFrame, rows: Sequence[str], cols: Sequence[str], *, row_key: str = "dataset",
                       col_key: str = "attack", model: str | Mapping[str, str] | None = None,
                       labels: Sequence[str] = ("BU", "TD"), height: float = 1.6) -> Figure:
    """Accuracy lost against the L2 budget (the paper's Figures 5 and 11), one panel per (row, column).

    Args:
        curves: :func:`tdlib.experiments.attacks.curves` rows (``l2_bound``, ``accuracy_lost_points``,
            ``dataset``, ``model``, ``label``, ``attack``).
        rows: Values of ``row_key`` (panel rows).
        cols: Values of ``col_key`` (panel columns).
        row_key: Column of ``curves`` along the rows.
        col_key: Column of ``curves`` along the columns.
        model: Which model to draw (one name, or one per row value); None draws every model.
        labels: Variants to draw, in legend order.
        height: Height of one panel row in inches.

    A panel whose curves come from the ``paper`` profile (a ``profile`` column) is marked.
    """
    fig, axes = plt.subplots(len(rows), len(cols), figsize=(WIDTH, 0.6 + height * len(rows)), squeeze=False)
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            ax = axes[i][j]
            sub = curves[(curves[row_key] == r) & (curves[col_key] == c)]
            want = model.get(r) if isinstance(model, Mapping) else model
            if want is not None:
                sub = sub[sub.model == want]
            for label in labels:
                for m, g in sub[sub.label == label].groupby("model", sort=False):
                    style = "-" if want is not None or m == sub.model.iloc[0] else "--"
                    ax.step(g.l2_bound, g.accuracy_lost_points, where="post", color=VARIANT_COLORS.get(label),
                            ls=style, lw=1.2, label=label if want is not None else f"{label} {m}")
            ax.set_ylim(0, 105)
            ax.grid(alpha=0.3)
            _paper_mark(ax, sub)
            if i == 0:
                ax.set_title(c.replace("_", " "), fontsize=8.5)
            if j == 0:
                ax.set_ylabel(f"{r}\npoints lost", fontsize=8.5)
            if i == len(rows) - 1:
                ax.set_xlabel("L2 bound", fontsize=8.5)
            ax.tick_params(labelsize=7.5)
    handles, names = _legend_entries(axes)
    fig.legend(handles, names, loc="lower center", ncol=len(names), frameon=False)
    fig.tight_layout(rect=(0, 0.05 + 0.1 / len(rows), 1, 1))
    return fig


@styled
def draw_ablation(ablation: pd.DataFrame, feeds: Sequence[int], title: str = "") -> Figure:
    """The paper's Figures 6 and 12: accuracy per attack when only some pyramid inputs see the adversarial.

    Args:
        ablation: :func:`tdlib.experiments.attacks.ablation_table` rows (``dataset``, ``attack``, ``feed``,
            ``perturbed``, ``accuracy``).
        feeds: The feeds drawn as bars (e.g. 2-4 for one input, 5-7 for two); feed 0 (the
            single-input network on clean images) is the dashed line.
        title: Figure title.
    """
    import seaborn as sns

    datasets = list(dict.fromkeys(ablation.dataset))
    fig, axes = plt.subplots(len(datasets), 1, figsize=(WIDTH, 0.8 + 2.2 * len(datasets)), squeeze=False)
    for ax, d in zip(axes[:, 0], datasets, strict=True):
        sub = ablation[ablation.dataset == d]
        bars = sub[sub.feed.isin(feeds)]
        sns.barplot(bars, x="attack", y="accuracy", hue="perturbed", ax=ax, palette="Set2")
        clean = sub[sub.feed == 0].accuracy.mean()
        ax.axhline(clean, color="#444444", lw=1, ls="--", label="clean")
        ax.set_ylabel(f"{d}\naccuracy (%)")
        ax.set_xlabel("")
        ax.set_ylim(0, 105)
        ax.tick_params(axis="x", labelrotation=30, labelsize=7.5)
    if title:
        fig.suptitle(title)
    _legend_below(fig, list(axes[:, 0]), "perturbed input(s)")
    return fig


#: Colours of the 12 pixel classes of the segmentation meshes: the ten Fashion-MNIST classes
#: (tab10), background black and ignore white (the faint rim around each item).
SEG_COLORS = (*plt.get_cmap("tab10").colors, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
#: Height of the class legend below a segmentation figure, in inches.
_LEGEND_H = 0.62
#: Colours of the segmentation networks in Figure 7.
SEG_NETWORK_COLORS = {"U-net": "#1f77b4", "FCN": "#ff7f0e", "TD": "#2ca02c"}


def _label_map(ax: Axes, labels: np.ndarray) -> None:
    """A per-pixel label map (classes 0-11) in :data:`SEG_COLORS`."""
    from matplotlib.colors import ListedColormap

    ax.imshow(labels, cmap=ListedColormap(SEG_COLORS), vmin=-0.5, vmax=len(SEG_COLORS) - 0.5,
              interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def _gray(ax: Axes, image: np.ndarray) -> None:
    ax.imshow(image, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def _class_legend(fig: Figure, classes: Sequence[str], present: Sequence[int] | None = None) -> None:
    """A legend of the class colours below the figure (only the ``present`` classes, if given)."""
    from matplotlib.patches import Patch

    keep = range(len(classes)) if present is None else sorted(set(present))
    handles = [Patch(facecolor=SEG_COLORS[k], edgecolor="#555555", label=classes[k]) for k in keep]
    fig.legend(handles=handles, loc="lower center", ncol=min(6, len(handles)), frameon=False, fontsize=8)


@styled
def draw_meshes(images: np.ndarray | Tensor, labels: np.ndarray | Tensor, classes: Sequence[str]) -> Figure:
    """Example meshes (top row) above their per-pixel labels (bottom row).

    Args:
        images: ``(N, 1, H, W)`` or ``(N, H, W)`` in [0, 1].
        labels: ``(N, H, W)`` classes.
        classes: The class names, by index (the legend).
    """
    imgs, labs = np.asarray(images).reshape(len(images), *np.asarray(labels).shape[-2:]), np.asarray(labels)
    n = len(imgs)
    size = min(1.8, (WIDTH - 0.5) / n)
    height = 2 * (size + 0.1) + _LEGEND_H + 0.1
    fig, axes = plt.subplots(2, n, figsize=(WIDTH, height), squeeze=False)
    for j in range(n):
        _gray(axes[0][j], imgs[j])
        _label_map(axes[1][j], labs[j])
    axes[0][0].set_ylabel("mesh")
    axes[1][0].set_ylabel("labels")
    _class_legend(fig, classes)
    fig.subplots_adjust(left=0.05, right=0.99, top=1 - 0.05 / height, bottom=(_LEGEND_H + 0.05) / height,
                        wspace=0.08, hspace=0.08)
    return fig


@styled
def draw_predictions(images: np.ndarray | Tensor, labels: np.ndarray | Tensor, predictions: Mapping[str, np.ndarray],
                     classes: Sequence[str]) -> Figure:
    """Qualitative segmentations: per test mesh (rows) the input, the truth and each network's prediction.

    Args:
        images: ``(N, 1, H, W)`` or ``(N, H, W)`` in [0, 1].
        labels: ``(N, H, W)`` true classes.
        predictions: Network name -> ``(N, H, W)`` predicted classes (argmax over all 12).
        classes: The class names, by index (the legend).
    """
    labs = np.asarray(labels)
    imgs = np.asarray(images).reshape(labs.shape)
    cols = ["input", "truth", *predictions]
    n = len(imgs)
    size = min(1.3, (WIDTH - 0.4) / len(cols))
    height = n * (size + 0.06) + 0.3 + _LEGEND_H
    fig, axes = plt.subplots(n, len(cols), figsize=(WIDTH, height), squeeze=False)
    present: list[int] = list(np.unique(labs))
    for i in range(n):
        _gray(axes[i][0], imgs[i])
        _label_map(axes[i][1], labs[i])
        for j, name in enumerate(predictions, start=2):
            _label_map(axes[i][j], predictions[name][i])
            present += list(np.unique(predictions[name][i]))
    for j, name in enumerate(cols):
        axes[0][j].set_title(name)
    _class_legend(fig, classes, [int(k) for k in present])
    width = len(cols) * size * 1.06
    margin = (1 - width / WIDTH) / 2
    fig.subplots_adjust(left=margin, right=1 - margin, top=1 - 0.3 / height, bottom=(_LEGEND_H + 0.02) / height,
                        wspace=0.06, hspace=0.06)
    return fig


@styled
def draw_iou_bars(iou: pd.DataFrame, order: Sequence[str] | None = None) -> Figure:
    """The paper's Figure 7: IoU per class (%) of each segmentation network.

    Args:
        iou: :func:`tdlib.experiments.segmentation.iou_long` rows (``label``, ``class``, ``iou``);
            bars are means over repeats, error bars one standard deviation (none for one repeat);
            marked when its ``profile`` is ``paper``.
        order: The networks, in legend order (default: as they come).
    """
    import seaborn as sns

    order = list(order or dict.fromkeys(iou.label))
    fig, ax = plt.subplots(figsize=(WIDTH, 3.4))
    sns.barplot(iou, x="class", y="iou", hue="label", hue_order=order, errorbar="sd", ax=ax,
                palette=[SEG_NETWORK_COLORS.get(n, "#888888") for n in order], capsize=0.1,
                err_kws={"linewidth": 1})
    ax.set_xlabel("")
    ax.set_ylabel("IoU (%)")
    ax.set_ylim(0, 100)
    _paper_mark(ax, iou)
    ax.grid(axis="y", alpha=0.3)
    ax.tick_params(axis="x", labelrotation=35, labelsize=8)
    for t in ax.get_xticklabels():
        t.set_horizontalalignment("right")
    _legend_below(fig, [ax])
    return fig


@styled
def draw_iou_curves(iou: pd.DataFrame, datasets: Sequence[str], models: Sequence[str],
                    model_names: Mapping[str, str] | None = None) -> Figure:
    """The paper's Figure 10: localisation IoU (%) against the Grad-CAM threshold, BU vs TD.

    Args:
        iou: :func:`tdlib.experiments.gradcam.iou_long` rows (``dataset``, ``model``, ``label``, ``reduce``,
            ``threshold``, ``iou``): solid lines the ``mean_per_image`` reading, dashed the ``pooled`` one;
            repeats are averaged; a panel of ``paper``-profile rows is marked.
        datasets: Panel rows.
        models: Panel columns.
        model_names: Column titles (default: the registry names).
    """
    fig, axes = plt.subplots(len(datasets), len(models), figsize=(WIDTH, 0.7 + 2.3 * len(datasets)), squeeze=False,
                             sharex=True)
    styles = {"mean_per_image": "-", "pooled": "--"}
    for i, d in enumerate(datasets):
        for j, m in enumerate(models):
            ax = axes[i][j]
            sub = iou[(iou.dataset == d) & (iou.model == m)]
            for (label, reduce), g in sub.groupby(["label", "reduce"], sort=False):
                g = g.groupby("threshold", as_index=False).iou.mean()  # the mean over the repeats
                ax.plot(g.threshold, g.iou, ls=styles.get(reduce, ":"), marker="o", ms=3, lw=1.3,
                        color=VARIANT_COLORS.get(label), label=f"{label}, {reduce.replace('_', ' ')}")
            ax.grid(alpha=0.3)
            _paper_mark(ax, sub)
            ax.set_xticks(sorted(set(iou.threshold)))
            if i == 0:
                ax.set_title((model_names or {}).get(m, m))
            if j == 0:
                ax.set_ylabel(f"IoU (%)\n{d}")
            if i == len(datasets) - 1:
                ax.set_xlabel("Grad-CAM threshold")
            if sub.empty:
                ax.text(0.5, 0.5, "not run", ha="center", va="center", transform=ax.transAxes)
    handles, names = _legend_entries(axes)
    fig.legend(handles, names, loc="lower center", ncol=min(4, len(names)), frameon=False)
    fig.tight_layout(rect=(0, 0.1 if len(datasets) > 1 else 0.16, 1, 1))
    return fig


def _overlay(ax: Axes, image: np.ndarray, heat: np.ndarray | None) -> None:
    """An image (``(C, H, W)`` in [0, 1]) in grey or colour, with a heatmap in jet over it (the paper's look)."""
    img = image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0)
    ax.imshow(img, cmap="gray" if image.shape[0] == 1 else None, vmin=0, vmax=1, interpolation="nearest")
    if heat is not None:
        ax.imshow(heat, cmap="jet", vmin=0, vmax=1, alpha=0.5, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


@styled
def draw_layer_heatmaps(decoded: Mapping[str, object], classes: Sequence[str], *, max_cols: int = 13) -> Figure:
    """The paper's Figure 8 for our networks: Grad-CAM of every layer, BU and TD, for a few images.

    Per image: its input (first column), then one row per ``max_cols`` layers of each variant,
    in forward order (TD: coarse to fine). A panel's title is the layer's resolution, with the
    authors' ``act_k`` name where it has one.

    Args:
        decoded: :func:`tdlib.experiments.gradcam.decode_layers` of a ``layers`` entry.
        classes: Class names, by label.
        max_cols: Layers per row.
    """
    images = np.asarray(decoded["images"])
    variants: Mapping[str, Sequence[tuple]] = decoded["variants"]  # type: ignore[assignment]
    labels = list(decoded["labels"])  # type: ignore[call-overload]
    cols = min(max_cols, max(len(v) for v in variants.values())) if variants else 1
    rows_per = {v: -(-len(lays) // cols) for v, lays in variants.items()}
    block = sum(rows_per.values())
    n = len(images)
    size = WIDTH / (cols + 1.3)
    height = n * block * (size + 0.22) + 0.15 * n
    fig = plt.figure(figsize=(WIDTH, max(height, 1.0)))
    grid = fig.add_gridspec(n * block, cols + 1, wspace=0.06, hspace=0.45, width_ratios=[1.3] + [1.0] * cols)
    for k in range(n):
        row = k * block
        for v, lays in variants.items():
            ax = fig.add_subplot(grid[row, 0])
            _overlay(ax, images[k], None)
            ax.set_ylabel(v, fontsize=8)
            ax.set_title(classes[labels[k]], fontsize=7)
            for i, (_layer, paper, res, maps) in enumerate(lays):
                ax = fig.add_subplot(grid[row + i // cols, 1 + i % cols])
                _overlay(ax, images[k], maps[k])
                ax.set_title(f"{paper}\n{res[0]}x{res[1]}" if paper else f"\n{res[0]}x{res[1]}", fontsize=6.5)
            row += rows_per[v]
    fig.subplots_adjust(left=0.04, right=0.995, top=1 - 0.35 / max(height, 1.0), bottom=0.01)
    return fig


@styled
def draw_mesh_heatmaps(examples: Mapping[str, object], classes: Sequence[str]) -> Figure:
    """2x2 meshes (rows) and the Grad-CAM of the shared class by each network (columns).

    Args:
        examples: :func:`tdlib.experiments.gradcam.decode_mesh_examples` of a ``meshes`` entry.
        classes: Class names, by label.
    """
    meshes = np.asarray(examples["meshes"])
    heat: Mapping[str, np.ndarray] = examples["heatmaps"]  # type: ignore[assignment]
    labels = list(examples["labels"])  # type: ignore[call-overload]
    cols = 1 + len(heat)
    size = min(1.7, (WIDTH - 0.5) / cols)
    n = len(meshes)
    fig, axes = plt.subplots(n, cols, figsize=(cols * size + 0.6, n * (size + 0.1) + 0.35), squeeze=False)
    for i in range(n):
        _overlay(axes[i][0], meshes[i][None], None)
        axes[i][0].set_ylabel(f"class: {classes[labels[i]]}", fontsize=8)
        for j, (name, maps) in enumerate(heat.items(), start=1):
            _overlay(axes[i][j], meshes[i][None], maps[i])
            if i == 0:
                axes[i][j].set_title(name)
    axes[0][0].set_title("mesh")
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------
# Downscale study (thesis §3.2.1-3.2.2)
# --------------------------------------------------------------------------------------------


def _image(ax: Axes, img: Tensor | np.ndarray) -> None:
    """A ``(C, H, W)`` image in [0, 1] (grey or RGB), without ticks."""
    a = np.asarray(img, dtype=float).clip(0, 1)
    if a.shape[0] == 1:
        ax.imshow(a[0], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    else:
        ax.imshow(a.transpose(1, 2, 0), interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def log_spectrum(img: Tensor | np.ndarray) -> np.ndarray:
    """``log(1 + |F|)`` of an image ``(C, H, W)`` averaged over channels, zero frequency centred ``(H, W)``."""
    a = np.asarray(img, dtype=float)
    return np.log1p(np.abs(np.fft.fftshift(np.fft.fft2(a), axes=(-2, -1)))).mean(axis=0)


@styled
def draw_blur_levels(levels: Mapping[str, Sequence[Tensor]], sigmas: Sequence[float]) -> Figure:
    """The thesis's Figure 3.3: one image per data set at every blur level (row) above its spectrum (row).

    Args:
        levels: Data set name -> its image blurred at each sigma, each ``(C, H, W)`` in [0, 1].
        sigmas: The sigmas, in column order (0: the original).
    """
    rows = 2 * len(levels)
    size = min(1.25, (WIDTH - 1.0) / len(sigmas))
    fig, axes = plt.subplots(rows, len(sigmas), figsize=(WIDTH, rows * (size + 0.12) + 0.3), squeeze=False)
    for i, (name, imgs) in enumerate(levels.items()):
        top = log_spectrum(imgs[0]).max()
        for j, (img, s) in enumerate(zip(imgs, sigmas, strict=True)):
            _image(axes[2 * i][j], img)
            axes[2 * i + 1][j].imshow(log_spectrum(img), cmap="magma", vmin=0, vmax=top, interpolation="nearest")
            axes[2 * i + 1][j].set_xticks([])
            axes[2 * i + 1][j].set_yticks([])
            if i == 0:
                axes[0][j].set_title("original" if s == 0 else f"σ = {s:g}")
        axes[2 * i][0].set_ylabel(name, fontsize=8)
        axes[2 * i + 1][0].set_ylabel("log |F|", fontsize=8)
    fig.tight_layout(h_pad=0.3, w_pad=0.3)
    return fig


@styled
def draw_matched(matched: pd.DataFrame, datasets: Sequence[str], names: Mapping[str, str]) -> Figure:
    """The thesis's Figure 3.4: test accuracy at the training sigma, per data set (panel) and network.

    Args:
        matched: :func:`tdlib.experiments.downscale.matched` rows (``dataset, model, variant, sigma, acc,
            acc_std``); error bars are one standard deviation over repeats where there are several.
        datasets: Panels, in order.
        names: Display names of data sets, models and variants.
    """
    fig, axes = plt.subplots(1, len(datasets), figsize=(WIDTH, 2.8), squeeze=False)
    markers = ["o", "s", "^", "D"]
    for ax, d in zip(axes[0], datasets, strict=True):
        sub = matched[matched.dataset == d]
        for k, model in enumerate(dict.fromkeys(sub.model)):
            for v in dict.fromkeys(sub.variant):
                g = sub[(sub.model == model) & (sub.variant == v)].sort_values("sigma")
                label = f"{names.get(model, model)} {names.get(v, v)}"
                ax.errorbar(g.sigma, g.acc, yerr=g.acc_std.fillna(0), marker=markers[k % 4], capsize=2,
                            color=VARIANT_COLORS.get(names.get(v, v), "#555555"), label=label,
                            linestyle="-" if k == 0 else "--", linewidth=1.2, markersize=4)
        ax.set_title(names.get(d, d))
        ax.set_xlabel("σ (train = test)")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("test accuracy (%)")
    handles, labels = _legend_entries(axes)
    fig.legend(handles, labels, loc="lower center", ncol=min(4, len(labels)), frameon=False)
    fig.tight_layout(rect=(0, 0.08 + 0.06 * ((len(labels) - 1) // 4), 1, 1))
    return fig


@styled
def draw_matrices(matrices: Sequence[tuple[str, pd.DataFrame, pd.DataFrame]]) -> Figure:
    """The thesis's Figure 3.5 as heatmaps: per network (row) BU, TD and TD - BU over train x test sigma.

    Args:
        matrices: ``(title, bu, td)`` per row; ``bu`` and ``td`` are accuracy matrices (%) indexed by
            train sigma (rows) and test sigma (columns), as :func:`tdlib.experiments.downscale.matrix`.
    """
    import seaborn as sns

    n = len(matrices)
    fig, axes = plt.subplots(n, 3, figsize=(WIDTH, 2.3 * n + 0.2), squeeze=False)
    for i, (title, bu, td) in enumerate(matrices):
        diff = td - bu
        lim = max(1.0, float(np.nanmax(np.abs(diff.to_numpy())))) if diff.size else 1.0
        for j, (m, name) in enumerate(((bu, "BU"), (td, "TD"), (diff, "TD − BU"))):
            ax = axes[i][j]
            kw = (dict(cmap="RdBu", center=0, vmin=-lim, vmax=lim, fmt="+.1f") if j == 2 else
                  dict(cmap="viridis", vmin=0, vmax=100, fmt=".1f"))
            sns.heatmap(m, annot=True, annot_kws={"fontsize": 7.5}, cbar=False, ax=ax, square=True, **kw)
            ax.set_title(f"{title}: {name}", fontsize=9)
            ax.set_xlabel("test σ" if i == n - 1 else "")
            ax.set_ylabel("train σ" if j == 0 else "")
            ax.set_xticklabels([f"{float(t.get_text()):g}" for t in ax.get_xticklabels()], rotation=0)
            ax.set_yticklabels([f"{float(t.get_text()):g}" for t in ax.get_yticklabels()], rotation=0)
    fig.tight_layout()
    return fig


@styled
def draw_toy_examples(images: np.ndarray | Tensor, labels: np.ndarray | Tensor, frequencies: Sequence[int],
                      per_class: int = 6) -> Figure:
    """The thesis's Figure 3.6: ``per_class`` images of each toy class (rows: classes).

    Args:
        images: ``(N, 1, H, W)`` in [0, 1].
        labels: ``(N,)`` classes.
        frequencies: Cycles per image of each class.
    """
    imgs, labs = np.asarray(images), np.asarray(labels)
    n = len(frequencies)
    size = min(1.0, (WIDTH - 1.2) / per_class)
    fig, axes = plt.subplots(n, per_class, figsize=(per_class * size + 1.2, n * size + 0.2), squeeze=False)
    for k, f in enumerate(frequencies):
        picks = np.flatnonzero(labs == k)[:: max(1, (labs == k).sum() // per_class)][:per_class]
        for j, idx in enumerate(picks):
            _image(axes[k][j], imgs[idx])
        axes[k][0].set_ylabel(f"class {k}\nf = {f}", fontsize=8)
    fig.tight_layout(h_pad=0.2, w_pad=0.2)
    return fig


@styled
def draw_prediction_shares(shares: pd.DataFrame, class_names: Sequence[str], names: Mapping[str, str]) -> Figure:
    """Where predictions go as the test blur grows: stacked predicted-class shares (%) per test sigma.

    Args:
        shares: :func:`tdlib.experiments.downscale.prediction_shares` rows (``model, variant, test_sigma,
            predicted, share``); one panel per (model, variant).
        class_names: Legend names of the classes.
        names: Display names of models and variants.
    """
    panels = list(dict.fromkeys(zip(shares.model, shares.variant, strict=True)))
    fig, axes = plt.subplots(1, len(panels), figsize=(WIDTH, 2.9), squeeze=False, sharey=True)
    colors = plt.get_cmap("tab10").colors
    for ax, (model, v) in zip(axes[0], panels, strict=True):
        g = shares[(shares.model == model) & (shares.variant == v)]
        wide = g.pivot_table(index="test_sigma", columns="predicted", values="share").fillna(0)
        bottom = np.zeros(len(wide))
        x = np.arange(len(wide))
        for k in wide.columns:
            ax.bar(x, wide[k], bottom=bottom, color=colors[int(k) % 10], label=class_names[int(k)], width=0.7)
            bottom += wide[k].to_numpy()
        ax.set_xticks(x, [f"{s:g}" for s in wide.index])
        ax.set_xlabel("test σ")
        ax.set_title(f"{names.get(model, model)} {names.get(v, v)}")
    axes[0][0].set_ylabel("predicted as (% of test images)")
    handles, labels = _legend_entries(axes)
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), frameon=False)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    return fig


# --------------------------------------------------------------------------------------------
# Fourier filtering and progressive growing (thesis §3.2.3-3.2.4)
# --------------------------------------------------------------------------------------------


def _stretched(ax: Axes, img: np.ndarray) -> None:
    """A ``(C, H, W)`` image of any range, stretched to [0, 1] for display (filtered images go negative)."""
    a = np.asarray(img, dtype=float)
    lo, hi = a.min(), a.max()
    _image(ax, (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a))


@styled
def draw_spectral_panels(rows: Mapping[str, Mapping[str, np.ndarray]], stretch: Sequence[str] = ()) -> Figure:
    """Images (one row per entry of ``rows``) above their log spectra: the thesis's Figures 3.7 and 3.8.

    Args:
        rows: Row name -> panel title -> ``(C, H, W)`` image (a mask ``(1, H, W)`` in the centred
            frequency plane is drawn as it is, without a spectrum).
        stretch: Panel titles whose images are stretched to [0, 1] for display (filtered images).
    """
    cols = max(len(p) for p in rows.values())
    size = min(1.5, (WIDTH - 0.8) / cols)
    fig, axes = plt.subplots(2 * len(rows), cols, figsize=(WIDTH, 2 * len(rows) * (size + 0.15) + 0.2),
                             squeeze=False)
    for i, (name, panels) in enumerate(rows.items()):
        top = log_spectrum(next(iter(panels.values()))).max()
        for j, (title, img) in enumerate(panels.items()):
            ax, spec = axes[2 * i][j], axes[2 * i + 1][j]
            if title == "mask":
                ax.imshow(img[0], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
                ax.set_xticks([])
                ax.set_yticks([])
                spec.axis("off")
            else:
                (_stretched if title in stretch else _image)(ax, img)
                spec.imshow(log_spectrum(img), cmap="magma", vmin=0, vmax=top, interpolation="nearest")
                spec.set_xticks([])
                spec.set_yticks([])
            ax.set_title(title, fontsize=8.5)
        axes[2 * i][0].set_ylabel(name, fontsize=8)
        axes[2 * i + 1][0].set_ylabel("log |F|", fontsize=8)
        for j in range(len(panels), cols):
            axes[2 * i][j].axis("off")
            axes[2 * i + 1][j].axis("off")
    fig.tight_layout(h_pad=0.3, w_pad=0.3)
    return fig


@styled
def draw_filter_accuracy(filt: pd.DataFrame, names: Mapping[str, str]) -> Figure:
    """Accuracy on the original test set after training on x_low / x_high, against the cut-off radius.

    Args:
        filt: :func:`tdlib.experiments.fourier.filtering` rows; one panel per (dataset, model), one
            line per (variant, kind) (solid: low-pass, dashed: high-pass), the same network trained
            on the original images as a dotted horizontal line.
        names: Display names of data sets, models and variants.
    """
    panels = list(dict.fromkeys(zip(filt.dataset, filt.model, strict=True)))
    fig, axes = plt.subplots(1, len(panels), figsize=(WIDTH, 2.9), squeeze=False)
    for ax, (d, m) in zip(axes[0], panels, strict=True):
        sub = filt[(filt.dataset == d) & (filt.model == m)]
        for v in dict.fromkeys(sub.variant):
            color = VARIANT_COLORS.get(names.get(v, v), "#555555")
            for kind, style in (("lowpass", "-"), ("highpass", "--")):
                g = sub[(sub.variant == v) & (sub.kind == kind)].sort_values("radius")
                ax.plot(g.radius, g.acc, style, marker="o", markersize=4, color=color,
                        label=f"{names.get(v, v)} {'x_low' if kind == 'lowpass' else 'x_high'}")
            ref = sub[sub.variant == v].reference.dropna()
            if len(ref):
                ax.axhline(ref.iloc[0], color=color, linestyle=":", linewidth=1, label=f"{names.get(v, v)} original")
        ax.set_title(f"{names.get(d, d)} {names.get(m, m)}")
        ax.set_xlabel("cut-off radius (cycles / image)")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("accuracy, original test set (%)")
    handles, labels = _legend_entries(axes)
    fig.legend(handles, labels, loc="lower center", ncol=3, frameon=False)
    fig.tight_layout(rect=(0, 0.08 + 0.06 * ((len(labels) - 1) // 3), 1, 1))
    return fig


@styled
def draw_growth_curves(curves: pd.DataFrame, names: Mapping[str, str]) -> Figure:
    """Validation accuracy per epoch of TD trained from scratch and grown (trainable, frozen).

    Args:
        curves: :func:`tdlib.experiments.fourier.growth_curves` rows; one panel per (dataset, model);
            thin vertical lines where a grown network adds its next step.
        names: Display names of data sets and models.
    """
    panels = list(dict.fromkeys(zip(curves.dataset, curves.model, strict=True)))
    fig, axes = plt.subplots(1, len(panels), figsize=(WIDTH, 2.9), squeeze=False)
    colors = {"scratch": "#2ca02c", "grow-trainable": "#1f77b4", "grow-frozen": "#ff7f0e"}
    for ax, (d, m) in zip(axes[0], panels, strict=True):
        sub = curves[(curves.dataset == d) & (curves.model == m)]
        for kind, g in sub.groupby("kind", sort=False):
            ax.plot(g.epoch, g.val_acc, marker="o", markersize=3, color=colors.get(kind, "#555555"), label=kind)
        grown = sub[sub.kind != "scratch"]
        for e in grown.epoch[grown.stage.diff() > 0]:
            ax.axvline(e - 0.5, color="#999999", linewidth=0.8, linestyle="--")
        ax.set_title(f"{names.get(d, d)} {names.get(m, m)}")
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("validation accuracy (%)")
    handles, labels = _legend_entries(axes)
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), frameon=False)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    return fig
