"""Figures drawn from the library's own descriptions (no hand-drawn diagrams)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch
from torch import Tensor

from ..nets import BottomUpNet, BUSpec, TopDownNet, Unit, count_parameters

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
                nodes.append(Node("up", step.level, f"up {_unit_label(spec, units.pop(0))}"))
            else:
                if step.projection:
                    nodes.append(Node("conv", step.level + 1, f"c1-{step.merge_width}"))
                nodes.append(Node("up", step.level, "up x2"))
            kernel = spec.stem.kernel if spec.stem is not None else (step.units[0].kernel if step.units else 3)
            scale = "x" if step.level == 0 else f"x/{2**step.level}"
            drop = f"\ndrop {step.dropout:g}" if step.dropout else ""
            nodes.append(Node("merge", step.level, f"{merge_name} c3-{step.merge_width}{drop}",
                              entry=f"{scale}: c{kernel}-{step.merge_width}"))
        nodes += _unit_nodes(spec, units, step.level)
    return [*nodes, _head_node(spec, model.plan[-1].level)]


def draw_nodes(nodes: Sequence[Node], ax: Axes, title: str, levels: int) -> None:
    """Draw a node sequence: x is the order, rows are resolution levels (full resolution on top)."""
    step, w, h = 1.25, 1.05, 0.42
    prev = None
    for i, n in enumerate(nodes):
        x, y = i * step, -n.level
        ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.02,rounding_size=0.08",
                                    fc=COLORS[n.kind], ec="#555555", lw=0.8))
        ax.text(x, y, n.label, ha="center", va="center", fontsize=7.5)
        if prev is not None:
            ax.annotate("", xy=(x - w / 2, y), xytext=(prev[0] + w / 2, prev[1]),
                        arrowprops={"arrowstyle": "->", "color": "#444444", "lw": 0.8})
        if n.entry is not None:
            ey = y - 0.62
            ax.add_patch(FancyBboxPatch((x - w / 2, ey - h / 2.4), w, h / 1.2,
                                        boxstyle="round,pad=0.02,rounding_size=0.08", fc=COLORS["entry"],
                                        ec="#555555", lw=0.8))
            ax.text(x, ey, n.entry, ha="center", va="center", fontsize=7)
            ax.annotate("", xy=(x, y - h / 2), xytext=(x, ey + h / 2.4),
                        arrowprops={"arrowstyle": "->", "color": "#444444", "lw": 0.8})
        prev = (x, y)
    ax.set_xlim(-step, len(nodes) * step)
    ax.set_ylim(-levels + 0.1, 0.6)
    ax.set_yticks([-k for k in range(levels)], [("x" if k == 0 else f"1/{2**k}") for k in range(levels)])
    ax.set_ylabel("resolution")
    ax.set_xticks([])
    for side in ("top", "right", "bottom"):
        ax.spines[side].set_visible(False)
    ax.set_title(title, fontsize=10, loc="left")


def draw_bu_td(bu: BottomUpNet, td: TopDownNet, size: tuple[float, float] | None = None) -> Figure:
    """A BU network above its TD twin: stages, resolutions, channels and merges."""
    bn, tn = bu_nodes(bu), td_nodes(td)
    levels = bu.spec.downsamplings + 1
    width = max(len(bn), len(tn)) * 0.95 + 1
    fig, axes = plt.subplots(2, 1, figsize=size or (width, 2.0 * levels + 1.2))
    draw_nodes(bn, axes[0], f"BU {bu.spec.name}: {count_parameters(bu):,} parameters", levels)
    draw_nodes(tn, axes[1], f"TD ({td.config['arrangement']}, merge {td.config['merge']}, "
                            f"downscale {td.config['downscale']}): {count_parameters(td):,} parameters", levels)
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


def draw_pyramids(levels_by_method: Mapping[str, Sequence[Tensor]], title: str) -> Figure:
    """Rows: downscale methods; columns: pyramid levels, each shown at its own pixel size."""
    methods = list(levels_by_method)
    n = len(next(iter(levels_by_method.values())))
    full = next(iter(levels_by_method.values()))[0].shape[-1]
    fig, axes = plt.subplots(len(methods), n, figsize=(1.9 * n + 0.6, 1.9 * len(methods) + 0.4), squeeze=False)
    for r, m in enumerate(methods):
        for k, img in enumerate(levels_by_method[m]):
            ax = axes[r][k]
            _show(ax, img, full)
            if r == 0:
                ax.set_title(("x" if k == 0 else f"x/{2**k}") + f"  ({img.shape[-2]}x{img.shape[-1]})", fontsize=9)
            if k == 0:
                ax.set_ylabel(m, fontsize=9)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def draw_costs(df: pd.DataFrame) -> Figure:
    """Parameters and FLOPs of each TD arrangement and merge, relative to the BU, per model."""
    import seaborn as sns

    td = df[df.variant != "BU"]
    models = list(dict.fromkeys(td.paper_name))
    fig, axes = plt.subplots(2, len(models), figsize=(3.0 * len(models) + 0.8, 5.6), squeeze=False)
    for j, m in enumerate(models):
        sub = td[td.paper_name == m]
        for i, (col, label) in enumerate((("params_vs_bu", "parameters / BU"), ("flops_vs_bu", "FLOPs / BU"))):
            ax = axes[i][j]
            sns.barplot(sub, x="variant", y=col, hue="merge", ax=ax, palette="Set2")
            ax.axhline(1.0, color="#444444", lw=0.8, ls="--")
            ax.set_xlabel("")
            ax.set_ylabel(label if j == 0 else "")
            if i == 0:
                ax.set_title(m, fontsize=10)
            if (i, j) != (0, len(models) - 1):
                legend = ax.get_legend()
                if legend is not None:
                    legend.remove()
    fig.tight_layout()
    return fig



def draw_relative(paired: pd.DataFrame, datasets: Sequence[str]) -> Figure:
    """The paper's Figure 4: TD variants relative to BU per dataset (accuracy in points, time as a ratio).

    Args:
        paired: :func:`tdlib.experiments.bu_vs_td.paired` rows; bars are means over repeats,
            error bars one standard deviation (none for a single repeat).
        datasets: Column order.
    """
    import seaborn as sns

    datasets = [d for d in datasets if d in set(paired.dataset)]
    labels = list(dict.fromkeys(paired.label))
    fig, axes = plt.subplots(2, len(datasets), figsize=(3.2 * len(datasets) + 1.2, 6.0), squeeze=False)
    for j, d in enumerate(datasets):
        sub = paired[paired.dataset == d]
        for i, (col, label, ref) in enumerate((("d_acc", "test accuracy - BU (points)", 0.0),
                                               ("time_ratio", "time per epoch / BU", 1.0))):
            ax = axes[i][j]
            sns.barplot(sub, x="model", y=col, hue="label", hue_order=labels, errorbar="sd", ax=ax,
                        palette="Set2", capsize=0.1, err_kws={"linewidth": 1})
            ax.axhline(ref, color="#444444", lw=0.8, ls="--")
            ax.set_xlabel("")
            ax.set_ylabel(label if j == 0 else "")
            if i == 0:
                ax.set_title(d, fontsize=10)
            legend = ax.get_legend()
            if legend is not None and (i, j) != (0, len(datasets) - 1):
                legend.remove()
            elif legend is not None:
                legend.set_title("")
    fig.tight_layout()
    return fig


def draw_curves(curves: Mapping[str, pd.DataFrame], title: str) -> Figure:
    """Training loss and accuracy within and across epochs, one line per variant."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    for label, c in curves.items():
        axes[0].plot(c.epoch, c.train_loss, marker=".", label=label)
        axes[1].plot(c.epoch, c.train_acc, marker=".", label=label)
    axes[0].set_ylabel("training loss")
    axes[1].set_ylabel("training accuracy")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
