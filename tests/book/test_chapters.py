"""tdlib.book.chapters: the registry matches the book, every chapter file exists, profiles and settings."""

import json
import re
from pathlib import Path

import pytest
import yaml

from tdlib.book.chapters import CHAPTERS, PROFILES, chapter_names, get_chapter, notebook_chapters, settings

BOOK = Path(__file__).resolve().parents[2] / "book"
EXPECTED = ["intro", "architectures", "downscale", "fourier", "bu-vs-td", "attacks", "segmentation", "gradcam",
            "claims", "reproducing"]


def _first_text(ch) -> str:
    if ch.notebook:
        nb = json.loads(ch.path.read_text())
        return "".join(nb["cells"][0]["source"]) if nb["cells"][0]["cell_type"] == "markdown" else ""
    return ch.path.read_text()


def test_toc_lists_the_registry_in_order():
    toc = yaml.safe_load((BOOK / "_toc.yml").read_text())
    assert [toc["root"], *[c["file"] for c in toc["chapters"]]] == chapter_names() == EXPECTED


def test_config_is_the_top_level_file():
    link = BOOK / "_config.yml"
    assert link.is_symlink() and link.resolve() == (BOOK.parent / "_config.yml").resolve()
    assert yaml.safe_load(link.read_text())["execute"]["execute_notebooks"] == "off"


@pytest.mark.parametrize("ch", CHAPTERS, ids=lambda c: c.name)
def test_every_chapter_file_exists_and_starts_with_its_h1(ch):
    assert ch.path.is_file(), f"{ch.path} missing"
    first = _first_text(ch).lstrip().splitlines()[0]
    assert first == f"# {ch.title}"


@pytest.mark.parametrize("ch", [c for c in CHAPTERS if c.filled_by], ids=lambda c: c.name)
def test_placeholders_say_they_are_placeholders(ch):
    text = ch.path.read_text()
    assert "not built yet" in text and "no results" in text
    assert not re.search(r"\d+\.\d+ ?%", text), "a placeholder must not show numbers"


@pytest.mark.parametrize("ch", notebook_chapters(), ids=lambda c: c.name)
def test_notebooks_declare_profile_recompute_and_their_knobs(ch):
    nb = json.loads(ch.path.read_text())
    params = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(params) == 1, "exactly one cell tagged 'parameters'"
    src = "".join(params[0]["source"])
    assert f'profile = "{ch.default_profile}"' in src and "recompute = False" in src
    for knob in ch.knobs():
        assert re.search(rf"^{knob} = None\b", src, re.M), f"knob {knob} must default to None"
    assert set(ch.profiles) == set(PROFILES)
    assert nb["metadata"]["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("ch", notebook_chapters(), ids=lambda c: c.name)
def test_committed_notebooks_ran_with_their_default_profile_without_errors(ch):
    nb = json.loads(ch.path.read_text())
    injected = [c for c in nb["cells"] if "injected-parameters" in c.get("metadata", {}).get("tags", [])]
    assert injected, "commit the notebook as executed by python -m tdlib run"
    assert f'profile = "{ch.default_profile}"' in "".join(injected[0]["source"])
    for c in nb["cells"]:
        if c["cell_type"] == "code":
            assert c.get("execution_count") is not None, "every code cell was executed"
            assert not [o for o in c.get("outputs", []) if o["output_type"] == "error"]


def test_settings_take_profile_values_and_overrides():
    s = settings("architectures", "smoke")
    assert s["profile"] == "smoke" and s["models"] == ["lenetfc"]
    s = settings("architectures", "cpu", models=["nin"], dataset=None)
    assert s["models"] == ["nin"] and s["dataset"] == "mnist"


def test_settings_read_text_knobs_as_literals_like_plain_papermill_passes_them():
    s = settings("architectures", "smoke", models="['nin', 'resnet32']", image_index="3", dataset="fashion_mnist")
    assert s["models"] == ["nin", "resnet32"] and s["image_index"] == 3 and s["dataset"] == "fashion_mnist"
    with pytest.raises(ValueError, match="not a Python literal"):
        settings("architectures", "smoke", models="[nin")


def test_settings_errors_list_the_valid_names():
    with pytest.raises(ValueError, match="smoke, cpu, paper"):
        settings("architectures", "gpu")
    with pytest.raises(ValueError, match="expected profile, recompute, .*models"):
        settings("architectures", "cpu", epochs=3)
    with pytest.raises(ValueError, match="intro, architectures"):
        get_chapter("introduction")
    with pytest.raises(ValueError, match="not a notebook"):
        settings("intro", "cpu")
