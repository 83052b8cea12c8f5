"""The book: `jupyter-book build -W -n` stays clean, and every page loads in a real browser.

The browser check serves the built HTML from a local HTTP server and opens each page in
headless Chromium (Debian's ``chromium``; ``make test`` installs it when missing). A
small same-origin harness page loads the chapter in an iframe, waits for it, and writes
what it found into its own DOM, which ``--dump-dom`` prints: the page's H1, how many of
its images loaded, which failed, and how many stylesheets applied. A page fails when any
image did not load or when it shows fewer figures than its notebook has image outputs.
Set ``TDLIB_REQUIRE_BROWSER=1`` (``make test`` does) to fail instead of skipping when
Chromium is missing.
"""

import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tdlib.book.chapters import CHAPTERS

REPO = Path(__file__).resolve().parents[2]
BROWSER_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update"]

HARNESS = """<!doctype html><html><body><iframe id="f" style="width:1280px;height:900px"></iframe><script>
const page = new URLSearchParams(location.search).get("page");
const f = document.getElementById("f");
f.onload = () => setTimeout(() => {
  const d = f.contentDocument;
  const imgs = Array.from(d.images);
  const bad = imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.getAttribute("src"));
  const h1 = d.querySelector("main h1, article h1, h1");
  const out = {h1: h1 ? h1.textContent.replace(/[\\u00b6#]/g, "").trim() : null,
               figures: imgs.filter(i => (i.getAttribute("src") || "").includes("_images/")).length,
               images: imgs.length, broken: bad, stylesheets: d.styleSheets.length,
               text: d.body.innerText.length};
  const pre = document.createElement("pre"); pre.id = "result"; pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
}, 500);
f.src = page;
</script></body></html>"""


def _build(out: Path) -> subprocess.CompletedProcess:
    jb = Path(sys.executable).parent / "jupyter-book"
    return subprocess.run([str(jb), "build", "-W", "-n", "--keep-going", "--path-output", str(out), "book/"],
                          cwd=REPO, capture_output=True, text=True)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("book")
    p = _build(out)
    assert p.returncode == 0, f"jupyter-book build -W failed:\n{p.stdout[-4000:]}\n{p.stderr[-4000:]}"
    return out / "_build" / "html"


def test_build_is_clean_and_has_every_chapter(built):
    assert (built / "index.html").is_file()
    for ch in CHAPTERS:
        assert (built / f"{ch.name}.html").is_file(), f"{ch.name}.html not built"


def _expected_figures(ch) -> int:
    if not ch.notebook:
        return 0
    nb = json.loads(ch.path.read_text())
    return sum("image/png" in o.get("data", {}) for c in nb["cells"] for o in c.get("outputs", []))


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="module")
def server(built):
    (built / "__harness.html").write_text(HARNESS)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(built))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    handler.log_message = lambda *a, **k: None  # type: ignore[attr-defined]
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def chromium() -> str:
    path = _chromium()
    if path is None:
        msg = "Chromium not found: install Debian's chromium (make test does: apt-get install -y chromium)"
        if os.environ.get("TDLIB_REQUIRE_BROWSER") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    return path


def _visit(chromium: str, server: str, page: str, tmp_path: Path) -> dict:
    p = subprocess.run([chromium, *BROWSER_FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
                        "--virtual-time-budget=15000", "--dump-dom", f"{server}/__harness.html?page={page}"],
                       capture_output=True, text=True, timeout=120)
    m = re.search(r'<pre id="result">(.*?)</pre>', p.stdout, re.S)
    assert m, f"the harness produced no result for {page}: {p.stderr[-2000:]}"
    return json.loads(m.group(1).replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<")
                      .replace("&gt;", ">"))


@pytest.mark.parametrize("ch", CHAPTERS, ids=lambda c: c.name)
def test_page_loads_with_all_its_figures_in_chromium(ch, chromium, server, tmp_path):
    page = "index.html" if ch.name == "intro" else f"{ch.name}.html"
    got = _visit(chromium, server, page, tmp_path)
    assert got["h1"] == ch.title, got
    assert got["broken"] == [], f"images that did not load on {page}: {got['broken']}"
    assert got["figures"] == _expected_figures(ch), f"{page}: {got['figures']} figures, expected " \
                                                    f"{_expected_figures(ch)}"
    assert got["stylesheets"] > 0 and got["text"] > 200, got


def test_harness_detects_a_broken_image(chromium, server, built, tmp_path):
    """The check itself can fail: a page with a missing image is reported."""
    (built / "__broken.html").write_text('<html><body><h1>x</h1><img src="_images/none.png"></body></html>')
    got = _visit(chromium, server, "__broken.html", tmp_path)
    assert got["broken"] == ["_images/none.png"] and got["figures"] == 1
