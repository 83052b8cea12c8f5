"""tdlib.book.layout and the figure sizes of tdlib.book.viz: pages that fit the text column."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd
import pytest  # noqa: E402

from tdlib import get_model  # noqa: E402
from tdlib.book import layout, viz  # noqa: E402


def test_table_scrolls_sideways_with_short_names_and_whole_cells():
    long = "x" * 120
    df = pd.DataFrame({"train_images": [54_000], "seconds_per_epoch": [12.5], "my_col": [long],
                       "paper_text": [None]})
    t = layout.table(df, {"my_col": "mine"})
    assert t.html.startswith('<div class="tdlib-table" style="overflow-x: auto;') and t.html.endswith("</div>")
    assert t.html.count("<table") == 1 and 'style="text-align: right;"' not in t.html
    for name in ("train imgs", "s / epoch", "mine", "paper (text)"):
        assert f"<th>{name}</th>" in t.html and name in t.text
    assert long in t.html and long in t.text, "long cells are not truncated"
    assert f"<td>{long}</td>" in t.html, "long cells wrap"
    short = layout.table(pd.DataFrame({"date": ["2026-11-25"], "op": ["a<b"]})).html
    assert '<td><span style="white-space: nowrap">2026-11-25</span></td>' in short, "short cells stay on one line"
    assert "a&lt;b" in short
    assert "None" not in t.html and "NaN" not in t.html, "missing values are blank"
    assert t._repr_html_() == t.html and repr(t) == t.text


def test_short_name_prefers_the_chapter_then_the_shared_names():
    assert layout.short_name("train_images") == "train imgs"
    assert layout.short_name("train_images", {"train_images": "train"}) == "train"
    assert layout.short_name("some_thing") == "some thing"
    assert layout.short_name(3) == 3


def test_details_is_a_visible_line_and_a_collapsible_block():
    d = layout.details("<strong>Profile</strong> x", {"models": layout.code("['a<b']"), "dates": "2026"})
    line, rest = d.html.split("\n", 1)
    assert line == "<p><strong>Profile</strong> x</p>"
    assert rest.startswith('<details class="tdlib-details"><summary>Settings and provenance</summary>')
    assert "<tr><th>models</th><td><code>['a&lt;b']</code></td></tr>" in rest and rest.endswith("</details>")
    assert d.text.splitlines() == ["Profile x", "models: ['a<b']", "dates: 2026"]


def test_figures_fill_the_text_column_with_the_book_fonts():
    fig = viz.draw_bu_td(get_model("nin"), get_model("nin", "td"))
    assert fig.get_size_inches()[0] == viz.WIDTH
    labels = [t for ax in fig.axes for t in ax.texts]
    assert labels and min(t.get_fontsize() for t in labels) >= viz.STYLE["font.size"] - 1
    assert fig.axes[0].title.get_fontsize() == viz.STYLE["axes.titlesize"]
    plt.close(fig)
    assert plt.rcParams["font.size"] == matplotlib.rcParamsDefault["font.size"], "the style stays inside viz"


def test_td_diagram_gives_each_merge_its_pyramid_input():
    td = get_model("lenetfc", "td")
    nodes = viz.td_nodes(td)
    merges = [n for n in nodes if n.kind == "merge"]
    assert len(merges) == td.spec.downsamplings and all(n.entry for n in merges)
    assert viz.diagram_rows(nodes) == len(nodes) + len(merges)
    ups = [n for n in nodes if n.kind == "up"]
    assert [u.level for u in ups] == [m.level + 1 for m in merges], "an upsampling starts at the coarser level"


def _texts(fig):
    return [t.get_text() for ax in fig.axes for t in ax.texts] + [
        t.get_text() for ax in fig.axes for t in ax.get_xticklabels()]


def test_paper_scale_panels_are_marked():
    rows = [{"l2_bound": b, "accuracy_lost_points": 10 * b, "dataset": d, "model": "lenetfc", "label": v,
             "attack": "shifts", "profile": "paper" if d == "mnist" else "cpu"}
            for d in ("mnist", "fashion_mnist") for v in ("BU", "TD") for b in (0.0, 1.0)]
    fig = viz.draw_attack_curves(pd.DataFrame(rows), ["mnist", "fashion_mnist"], ["shifts"])
    marks = [t for ax in fig.axes for t in ax.texts]
    assert [t.get_text() for t in marks] == [viz.PAPER_MARK] and marks[0].axes is fig.axes[0]
    plt.close(fig)
    paired = pd.DataFrame({"dataset": "mnist", "model": ["lenetfc", "nin_light"], "label": "TD", "repeat": 0,
                           "profile": ["paper", "cpu"], "d_acc": [0.1, -0.2], "time_ratio": [3.0, 2.0]})
    fig = viz.draw_relative(paired, ["mnist"])
    assert f"lenetfc\n({viz.PAPER_MARK})" in _texts(fig) and "nin_light" in _texts(fig)
    plt.close(fig)
    fig = viz.draw_relative(paired.drop(columns="profile"), ["mnist"])
    assert not any(viz.PAPER_MARK in t for t in _texts(fig))
    plt.close(fig)
    # times from other (reduced) runs: the bottom row shows their ratios, unmarked
    fig = viz.draw_relative(paired, ["mnist"], time=paired.assign(profile="cpu", time_ratio=[7.0, 5.0]))
    top, bottom = fig.axes[0], fig.axes[1]
    assert any(viz.PAPER_MARK in t.get_text() for t in top.get_xticklabels())
    assert not any(viz.PAPER_MARK in t.get_text() for t in bottom.get_xticklabels())
    assert max(p.get_height() for p in bottom.patches) == pytest.approx(7.0)
    plt.close(fig)
