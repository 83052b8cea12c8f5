"""The HTML layout of the book's pages: tables that fit the text column, collapsible blocks.

Every chapter shows its tables with :func:`table` and its header with :func:`details`
(through :meth:`tdlib.book.results.ChapterRun.header`), so a new chapter inherits the
layout: a table gets short column names and scrolls sideways inside its own box instead
of being cut at the edge of the text column, and long settings fold away.

Example::

    from IPython.display import display
    from tdlib.book import layout
    display(layout.table(df, {"acc_mean": "accuracy (%)"}))
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping

import pandas as pd

#: Short names of the column names the chapters share; other names lose their underscores.
SHORT_NAMES: dict[str, str] = {
    "paper_name": "model",
    "label": "variant",
    "repeats": "reps",
    "train_images": "train imgs",
    "test_images": "test imgs",
    "weight_decay": "L2",
    "seconds_per_epoch": "s / epoch",
    "images_per_s": "imgs / s",
    "paper_text": "paper (text)",
}

#: Display names of the data sets, networks and variants in the chapters' text and figures.
DATASET_NAMES: dict[str, str] = {"mnist": "MNIST", "fashion_mnist": "F-MNIST", "cifar10": "CIFAR-10",
                                 "cifar10_aug": "CIFAR-10 aug", "toy_cosines": "toy cosines",
                                 "fashion_mnist_mesh": "F-MNIST meshes", "imagenette": "Imagenette"}
MODEL_NAMES: dict[str, str] = {"lenetfc": "LeNetFC", "nin_light": "NIN", "nin": "NINext", "resnet32": "ResNet32",
                               "resnet18_light": "ResNet18", "unet": "U-net", "fcn": "FCN", "td_seg": "TD"}
VARIANT_NAMES: dict[str, str] = {"bu": "BU", "td": "TD", "uni": "TDuni", "rev": "TDrev"}


def network_name(dataset: str, model: str, variant: str | None = None) -> str:
    """E.g. ``"MNIST LeNetFC TD"``: the display names of a data set, a model and optionally a variant."""
    out = f"{DATASET_NAMES.get(dataset, dataset)} {MODEL_NAMES.get(model, model)}"
    return out + (f" {VARIANT_NAMES.get(variant, variant)}" if variant else "")


#: Text cells up to this many characters never break across lines (dates, names, "98.02 ± 0.11").
NOWRAP = 12

#: Styles of the box around a table: it scrolls sideways when the table is wider than the column.
SCROLL_STYLE = "overflow-x: auto; max-width: 100%; font-size: 0.85em"


class Html:
    """An HTML fragment that Jupyter shows as HTML, with a plain-text form for terminals and nbval.

    Attributes:
        html: The fragment.
        text: Its plain-text form (``repr``).
    """

    def __init__(self, html_text: str, text: str) -> None:
        self.html, self.text = html_text, text

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:
        return self.text


def short_name(column: object, names: Mapping[str, str] | None = None) -> object:
    """The column's name in a table: from ``names``, else :data:`SHORT_NAMES`, else without underscores."""
    if not isinstance(column, str):
        return column
    return (names or {}).get(column) or SHORT_NAMES.get(column) or column.replace("_", " ")


def table(df: pd.DataFrame, names: Mapping[str, str] | None = None,
          links: Mapping[str, str] | None = None) -> Html:
    """A table that fits the text column: short column names, in a box that scrolls sideways.

    Every cell is shown whole; text cells of up to :data:`NOWRAP` characters stay on one
    line, longer ones wrap. Missing values are blank. A pivot table shows its index as
    ordinary columns (``reset_index`` first).

    Args:
        df: The table (its index is not shown).
        names: Column names to show instead of the data's (others: :func:`short_name`).
        links: Column -> the column holding its cells' link targets (``href``); a link column
            itself is not shown.
    """
    links = dict(links or {})
    hrefs = {short_name(c, names): df[h].tolist() for c, h in links.items()}
    shown = df.drop(columns=list(links.values())).rename(columns=lambda c: short_name(c, names))
    texts = shown.select_dtypes(include=["object", "str"]).columns
    shown = shown.astype({c: object for c in texts})
    shown[texts] = shown[texts].where(shown[texts].notna(), "")
    cells = shown.copy()
    cells[texts] = cells[texts].map(_cell)
    for col, targets in hrefs.items():
        cells[col] = [f'<a href="{html.escape(str(t))}">{c}</a>' if t else c for c, t in zip(cells[col], targets,
                                                                                        strict=True)]
    cells.columns = [html.escape(str(c), quote=False) for c in cells.columns]
    with pd.option_context("display.max_colwidth", None):
        body = cells.to_html(index=False, border=0, na_rep="", escape=False)
        text = shown.to_string(index=False, na_rep="")
    body = body.replace(' style="text-align: right;"', "")  # headers align with their cells
    return Html(f'<div class="tdlib-table" style="{SCROLL_STYLE}">\n{body}\n</div>', text)


def _cell(value: object) -> str:
    """A text cell as HTML: escaped, and kept on one line when it is short."""
    text = html.escape(str(value), quote=False)
    return f'<span style="white-space: nowrap">{text}</span>' if len(str(value)) <= NOWRAP else text


def details(line: str, rows: Mapping[str, str], summary: str = "Settings and provenance") -> Html:
    """A visible line, then a collapsible block of ``name: value`` rows (a chapter's header).

    Args:
        line: The visible line, as HTML.
        rows: Row names (plain text) and values (HTML).
        summary: The block's title, shown while it is folded.
    """
    items = "\n".join(f"<tr><th>{html.escape(k)}</th><td>{v}</td></tr>" for k, v in rows.items())
    block = (f'<p>{line}</p>\n<details class="tdlib-details"><summary>{html.escape(summary)}</summary>\n'
             f'<div style="{SCROLL_STYLE}"><table>\n{items}\n</table></div>\n</details>')
    text = "\n".join([_plain(line), *(f"{k}: {_plain(v)}" for k, v in rows.items())])
    return Html(block, text)


def code(text: str) -> str:
    """``text`` as inline code (HTML)."""
    return f"<code>{html.escape(text, quote=False)}</code>"


def _plain(fragment: str) -> str:
    """The text of a small HTML fragment (tags dropped, entities decoded)."""
    return html.unescape(re.sub(r"<[^>]+>", "", fragment))
