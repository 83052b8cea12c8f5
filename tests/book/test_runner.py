"""tdlib.book.runner and `python -m tdlib run/list/results`: papermill execution, errors, the smoke profile.

Every notebook chapter is executed end to end with the ``smoke`` profile into a
temporary directory, with the results cache in a temporary directory too; one chapter is
executed twice and must come out byte for byte the same.
"""

import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from tdlib.book import chapters, runner
from tdlib.book.claims import VERDICTS
from tdlib.book.claims import chapter_claims as claims_of
from tdlib.book.runner import ChapterFailed, parse_assignments, run_chapter, run_chapters
from tdlib.cli import main

REPO = Path(__file__).resolve().parents[2]


def _outputs(nb, kind):
    return [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if kind in o.get("data", {})]


def _text(nb) -> str:
    parts = []
    for c in nb.cells:
        for o in c.get("outputs", []):
            data = o.get("data", {})
            parts += [o.get("text", ""), "".join(data.get("text/markdown", "")), "".join(data.get("text/plain", ""))]
    return "\n".join(parts)


@pytest.fixture
def tmp_results(tmp_path, monkeypatch):
    root = tmp_path / "results"
    monkeypatch.setenv("TDLIB_RESULTS", str(root))
    return root


def test_parse_assignments():
    assert parse_assignments(["a=1", "b=mnist", "c=['x', 'y']", "d=None"]) == {
        "a": 1, "b": "mnist", "c": ["x", "y"], "d": None}
    with pytest.raises(ValueError, match="key=value"):
        parse_assignments(["oops"])


def test_errors_name_the_valid_choices():
    with pytest.raises(ValueError, match="expected one of intro, architectures"):
        run_chapter("nope")
    with pytest.raises(ValueError, match="expected one of smoke, cpu, paper"):
        run_chapter("architectures", "fast")
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) epochs .*expected profile, recompute, models"):
        run_chapter("architectures", "smoke", {"epochs": 3})
    with pytest.raises(ValueError, match="is text, not a notebook"):
        run_chapters(["intro"])


@pytest.mark.parametrize("ch", chapters.notebook_chapters(), ids=lambda c: c.name)
def test_every_notebook_chapter_runs_on_the_smoke_profile(ch, tmp_path, tmp_results):
    before = ch.path.read_bytes()
    report = run_chapter(ch.name, "smoke", output_dir=tmp_path / "out")
    assert ch.path.read_bytes() == before, "runs with output_dir leave book/ alone"
    nb = nbformat.read(report.output, as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and "remove-cell" in injected[0].metadata.tags
    text = _text(nb)
    assert "Profile smoke: a smoke run" in text
    claims = claims_of(ch)
    for claim in claims.values():  # every claim the chapter states comes with its verdict
        assert claim.claim in text, f"{ch.name}: no verdict shown for {claim.id}"
    if claims:
        shown = pd.read_csv(tmp_results / ch.name / "claims.csv")
        assert sorted(shown.id) == sorted(claims) and shown.verdict.isin(VERDICTS).all()
    if ch.name == "architectures":
        assert re.search(r"ours = the authors' code in (\d+) of \1;", text)
        # smoke draws one model (1 BU/TD figure), 2 pyramids and the cost chart
        assert len(_outputs(nb, "image/png")) == 4
        assert (tmp_results / "architectures" / "table1.csv").is_file()
        assert (tmp_results / "architectures" / "costs.csv").is_file()
    if ch.name == "bu-vs-td":
        assert "cifar10_aug" in text
        assert len(_outputs(nb, "image/png")) == 2  # Figure 4 and the learning curves
        assert len(list((tmp_results / "bu-vs-td" / "train").glob("*.json"))) == 9
        assert len(list((tmp_results / "bu-vs-td" / "train").glob("*.pt"))) == 9  # repeat 0 of every cell
        assert (tmp_results / "bu-vs-td" / "accuracy.csv").is_file()
    if ch.name == "segmentation":
        assert "Reduced against the paper" in text
        assert len(_outputs(nb, "image/png")) == 3  # the meshes, Figure 7 and the predictions
        assert len(list((tmp_results / "segmentation" / "train").glob("*.json"))) == 3
        assert not list((tmp_results / "segmentation" / "train").glob("*.pt"))  # predictions live in the entries
        assert (tmp_results / "segmentation" / "miou.csv").is_file()
    if ch.name == "gradcam":
        assert "Skipped: not at the `smoke` profile" in text  # Imagenette
        assert len(_outputs(nb, "image/png")) == 3  # Figure 10, the per-layer heatmaps and the meshes
        assert len(list((tmp_results / "gradcam").glob("*/*.json"))) == 4  # 2 IoU cells, the meshes, the layers
        assert len(list((tmp_results / "bu-vs-td" / "train").glob("*.pt"))) == 2  # LeNetFC BU and TD, trained once
        assert (tmp_results / "gradcam" / "gaps.csv").is_file()
    if ch.name == "claims":  # the ledger of an empty cache: every claim of every chapter, none measured
        assert "not measured at this profile" in text and "holds" in text


def test_strip_execution_removes_times_and_paths():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1", metadata={
        "tags": ["injected-parameters"], "execution": {"iopub.status.busy": "2026-01-01T00:00:00Z"},
        "papermill": {"start_time": "2026-01-01", "duration": 0.1, "status": "completed"}})]
    nb.metadata["papermill"] = {"start_time": "t0", "end_time": "t1", "duration": 1.0, "input_path": "/a",
                                "output_path": "/b/.x.ipynb", "parameters": {"profile": "cpu"}, "version": "2.7.0"}
    runner.strip_execution(nb)
    assert nb.metadata.papermill == {"parameters": {"profile": "cpu"}, "version": "2.7.0"}
    cell = nb.cells[0]
    assert cell.id == runner.INJECTED_ID and cell.metadata == {"tags": ["injected-parameters", "remove-cell"]}


def test_rerun_reproduces_the_notebook_byte_for_byte(tmp_path, tmp_results):
    """Executing a chapter again over the same cache gives the same file; the run log has both runs."""
    first = run_chapter("architectures", "smoke", output_dir=tmp_path / "a").output
    second = run_chapter("architectures", "smoke", output_dir=tmp_path / "b").output
    assert first.read_bytes() == second.read_bytes(), "a re-executed chapter differs from the first execution"
    for out in (first, second):
        (line,) = (out.parent / runner.RUN_LOG).read_text().splitlines()
        logged = json.loads(line)
        assert logged["chapter"] == "architectures" and logged["seconds"] > 0 and logged["git"]
        assert logged["date"][:10] not in out.read_text(), "the date of the run is in the log, not in the notebook"


def test_plain_papermill_call_with_a_knob(tmp_path, tmp_results):
    out = tmp_path / "out.ipynb"
    subprocess.run([sys.executable, "-m", "papermill", str(REPO / "book" / "architectures.ipynb"), str(out),
                    "-p", "profile", "smoke", "-p", "dataset", "fashion_mnist", "--no-progress-bar"],
                   check=True, capture_output=True, text=True, cwd=tmp_path)
    text = _text(nbformat.read(out, as_version=4))
    assert "fashion_mnist test image 0: class 'Ankle boot'" in text and "cifar10 test image 0: class 'cat'" in text


def test_failing_cell_names_chapter_and_cell(tmp_path, monkeypatch):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Broken"),
                nbformat.v4.new_code_cell('profile = "cpu"\nrecompute = False', metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("1 / 0")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "broken.ipynb")
    monkeypatch.setattr(chapters, "BOOK_DIR", tmp_path)
    broken = chapters.Chapter("broken", "Broken", notebook=True, default_profile="cpu",
                              profiles={p: {} for p in chapters.PROFILES})
    monkeypatch.setattr(runner, "get_chapter", lambda name: broken)
    before = (tmp_path / "broken.ipynb").read_bytes()
    with pytest.raises(ChapterFailed, match=r"chapter 'broken' failed in cell 3 .*ZeroDivisionError"):
        run_chapter("broken", "smoke")
    assert (tmp_path / "broken.ipynb").read_bytes() == before, "a failed run keeps the committed notebook"
    assert not list(tmp_path.glob(".broken.*")), "no temporary file is left behind"


def test_cli_list_shows_chapters_parameters_and_profiles(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in chapters.chapter_names():
        assert name in out
    assert "image_index = None" in out and "[smoke] models=['lenetfc']" in out


def test_cli_results_prints_status_and_runs_in_progress(capsys, tmp_results):
    import torch

    from tdlib.train import TrainConfig, _save_checkpoint

    assert main(["results"]) == 0
    out = capsys.readouterr().out
    assert str(tmp_results) in out and "missing" in out and "in progress" not in out
    config = TrainConfig.paper("fashion_mnist_mesh", "unet")
    model = torch.nn.Linear(2, 2)
    (tmp_results / "segmentation" / "train").mkdir(parents=True)
    _save_checkpoint(tmp_results / "segmentation" / "train" / "0123abcd.ckpt", config, 12, model,
                     torch.optim.SGD(model.parameters(), lr=0.1), torch.Generator(), None, [], [])
    assert main(["results", "--chapter", "segmentation"]) == 0
    out = capsys.readouterr().out
    assert "runs in progress" in out and "0123abcd" in out and "unet" in out and "bu-vs-td" not in out


def test_cli_errors_exit_nonzero_and_list_choices():
    for args, expected in ((["run", "nope"], "intro, architectures"),
                           (["run", "architectures", "--profile", "gpu"], "smoke, cpu, paper"),
                           (["run", "architectures", "-p", "bogus=1"], "expected profile, recompute")):
        p = subprocess.run([sys.executable, "-m", "tdlib", *args], capture_output=True, text=True, cwd=REPO)
        assert p.returncode != 0 and expected in p.stderr, (args, p.stderr)
