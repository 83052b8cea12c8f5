"""The grid executor: the bu-vs-td smoke cells locally and on Dask, a killed worker, and the cost plan."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tdlib.book import executor, results
from tdlib.book.chapters import settings
from tdlib.cli import STOPPED, main

#: Two cells of the smoke grid: LeNetFC BU and TD on 256 MNIST images, one epoch, 64 test images.
SMALL = {"datasets": ["mnist"], "variants": ["bu", "td"]}


def small(**over: Any) -> dict[str, Any]:
    return settings("bu-vs-td", "smoke", **{**SMALL, **over})


def accuracies(root: Path) -> dict[str, tuple[float, float]]:
    """Test accuracy and loss of every cached bu-vs-td run under ``root``, by cell key."""
    return {e.path.stem: (e.result["summary"]["test_acc"], e.result["summary"]["test_loss"])
            for e in results.entries("bu-vs-td", root)}


def leftovers(root: Path) -> list[Path]:
    """Temporary files under ``root`` (a partial write)."""
    return sorted(root.rglob("*.tmp"))


LOCAL_RUN = """
import json, sys
from tdlib.book.chapters import settings
from tdlib.book.executor import run_cells
r = run_cells("bu-vs-td", "smoke", settings("bu-vs-td", "smoke", **json.loads(sys.argv[1])), progress=False)
dask = sorted(m for m in sys.modules if m.split(".")[0] in ("dask", "distributed"))
print(json.dumps({"computed": r.computed, "planned": r.planned, "dask": dask}))
"""


def test_dask_computes_what_the_local_executor_computes(tmp_path, monkeypatch, mnist_available):
    local, dask = tmp_path / "local", tmp_path / "dask"
    env = {**os.environ, results.ROOT_ENV: str(local), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", LOCAL_RUN, json.dumps(SMALL)], env=env, capture_output=True,
                         text=True, timeout=300, check=True)
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report == {"computed": 2, "planned": 2, "dask": []}  # the local path never imports Dask

    monkeypatch.setenv(results.ROOT_ENV, str(dask))
    summary = executor.run_cells("bu-vs-td", "smoke", small(), executor="dask", workers=2, progress=False)
    assert (summary.planned, summary.cached, summary.computed) == (2, 0, 2)
    assert sorted(r.key for r in summary.reports) == sorted(c.key for c in executor.planned_cells(
        "bu-vs-td", "smoke", small()))
    got, want = accuracies(dask), accuracies(local)
    assert len(got) == 2 and got.keys() == want.keys()
    for key in want:
        assert got[key] == pytest.approx(want[key], abs=1e-9)
    for e in results.entries("bu-vs-td", dask):
        assert e.provenance["worker"].startswith("dask worker")  # the worker in the provenance
        assert "worker" not in results.lookup("bu-vs-td", "train", e.config, local).provenance
    assert not leftovers(dask)

    again = executor.run_cells("bu-vs-td", "smoke", small(), progress=False)  # cached: nothing recomputed
    assert (again.cached, again.tasks, again.computed) == (2, 0, 0)


GRID_ONLY = """
import json, sys
BLOCKED = ("papermill", "nbformat", "nbclient", "jupyter_book", "ipykernel", "matplotlib", "seaborn", "dask",
           "distributed")
class Block:  # a machine without the book's stack (a GPU image): these imports fail
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is not installed here")
sys.meta_path.insert(0, Block())
from tdlib.cli import STOPPED, main
code = main(["run", "bu-vs-td", "--profile", "smoke", "-p", "datasets=['mnist']", "-p", "variants=['bu','td']",
             "--executor", "local", "--grid-only", "--output-dir", sys.argv[1]])
print(json.dumps({"code": code}))
"""


def test_grid_only_fills_the_grid_without_the_notebook_stack(tmp_path, mnist_available):
    pages = tmp_path / "pages"
    env = {**os.environ, results.ROOT_ENV: str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", GRID_ONLY, str(pages)], env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {"code": 0}
    assert len(accuracies(tmp_path / "cache")) == 2 and not pages.exists(), "the cells, and no notebook"
    assert main(["run", "bu-vs-td", "--grid-only"]) == 2, "--grid-only without an executor is an error"
    assert main(["run", "bu-vs-td", "--executor", "local", "--grid-only", "-p", "bogus=1"]) == 2, \
        "an unknown parameter is an error"


def crash_once(experiment: str, config: dict[str, Any], profile: str, device: str | None) -> None:
    """A cell runner whose first call leaves a half-written entry and kills its worker process."""
    root = Path(os.environ[results.ROOT_ENV])
    marker = root.parent / "crashed"
    if not marker.exists():
        marker.touch()
        path = results.entry_path("bu-vs-td", experiment, config)
        path.parent.mkdir(parents=True, exist_ok=True)
        (path.parent / f".{path.name}.partial.tmp").write_text('{"chapter": "bu-')
        os._exit(1)
    from tdlib.experiments import bu_vs_td

    bu_vs_td.compute(experiment, config, profile, device)


def test_a_stop_request_checkpoints_the_running_cell_starts_no_other_and_run_resumes(tmp_path, monkeypatch, capsys,
                                                                                   mnist_available):
    import tdlib.train as tt

    ref = tmp_path / "ref"
    monkeypatch.setenv(results.ROOT_ENV, str(ref))
    assert executor.run_cells("bu-vs-td", "smoke", small(), progress=False).computed == 2
    root = tmp_path / "stopped"
    monkeypatch.setenv(results.ROOT_ENV, str(root))
    step = tt.train_step

    def stop_after_the_first_batch(*args, **kwargs):  # someone runs `tdlib stop` during the first batch
        results.request_stop()
        return step(*args, **kwargs)

    monkeypatch.setattr(tt, "train_step", stop_after_the_first_batch)
    argv = ["run", "bu-vs-td", "--profile", "smoke", "-p", "datasets=['mnist']", "-p", "variants=['bu','td']",
            "--executor", "local", "--grid-only"]
    assert main(argv) == STOPPED
    out = capsys.readouterr().out
    assert "0 computed, 2 stopped on request" in out
    assert not results.entries("bu-vs-td", root)
    assert len(list(root.rglob("*.ckpt"))) == 1, "the running cell saved its state; the other did not start"

    monkeypatch.setattr(tt, "train_step", step)
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "removed an earlier stop request" in out and "2 computed" in out
    assert not results.stop_path().exists() and not list(root.rglob("*.ckpt"))
    got, want = accuracies(root), accuracies(ref)
    assert got.keys() == want.keys() and len(got) == 2
    for key in want:
        assert got[key] == pytest.approx(want[key], abs=1e-9), "the resumed cell ends as the uninterrupted one"
    assert main(["stop"]) == 0 and results.stop_path().is_file()
    assert main(["results"]) == 0 and "a stop request is pending (stop requested" in capsys.readouterr().out


def test_a_killed_worker_leaves_no_partial_entry_and_its_cell_is_rerun(tmp_path, monkeypatch, mnist_available):
    import cloudpickle
    from distributed import LocalCluster

    module = sys.modules.get(crash_once.__module__)
    if module is not None:  # the workers cannot import the test module: send the function itself
        cloudpickle.register_pickle_by_value(module)
    root = tmp_path / "results"
    monkeypatch.setenv(results.ROOT_ENV, str(root))
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        summary = executor.run_cells("bu-vs-td", "smoke", small(), executor="dask",
                                     scheduler=cluster.scheduler_address, runner=crash_once, progress=False)
    assert (tmp_path / "crashed").exists()  # a worker did die mid-cell
    keys = [r.key for r in summary.reports]
    assert sorted(keys) == sorted(set(keys)) and len(keys) == 2 and summary.computed == 2
    files = sorted((root / "bu-vs-td" / "train").glob("*.json"))
    assert [f.stem for f in files] == sorted(k.rsplit("/", 1)[1] for k in keys)  # each key once
    for f in files:
        json.loads(f.read_text())  # whole entries
    assert not leftovers(root)


def test_errors_name_the_valid_choices(tmp_path, monkeypatch):
    monkeypatch.setenv(results.ROOT_ENV, str(tmp_path))
    with pytest.raises(ValueError, match="unknown chapter"):
        executor.run_cells("nope", "smoke")
    with pytest.raises(ValueError, match="unknown executor 'threads'; expected one of local, dask"):
        executor.run_cells("bu-vs-td", "smoke", executor="threads")
    with pytest.raises(ValueError, match="no cell runner; chapters with one: downscale, fourier, bu-vs-td"):
        executor.run_cells("architectures", "smoke")
    with pytest.raises(ValueError, match="dask executor only"):
        executor.run_cells("bu-vs-td", "smoke", workers=2)
    monkeypatch.setattr(executor, "CONNECT_TIMEOUT", "1s")
    with pytest.raises(ConnectionError, match="cannot reach the Dask scheduler at 'tcp://127.0.0.1:9'"):
        executor.run_cells("bu-vs-td", "smoke", small(), executor="dask", scheduler="tcp://127.0.0.1:9")
    assert main(["run", "architectures", "--workers", "2"]) == 2


def test_plan_counts_the_runs_and_its_cost_scales_with_epochs(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(results.ROOT_ENV, str(tmp_path))
    one = executor.plan_table("bu-vs-td", "smoke", small(), gflops=10.0)
    two = executor.plan_table("bu-vs-td", "smoke", small(epochs=2), gflops=10.0)
    assert list(one.variant) == ["bu", "td"] and one.runs.sum() == 2 and one.missing.sum() == 2
    assert two.train_tflop.to_numpy() == pytest.approx(2 * one.train_tflop.to_numpy(), rel=1e-12)
    assert (two.hours > one.hours).all() and (one.hours > 0).all()
    assert one.attrs == {"gflops": 10.0, "throughput": "given", "rate_devices": []}
    # ResNet32 TD costs more per image than its BU, and the paper grid has every cell 4 times
    paper = executor.plan_table("bu-vs-td", "paper", gflops=1000.0)
    assert paper.runs.sum() == 136 and paper.cached.sum() == 0
    res = paper[(paper.dataset == "cifar10") & (paper.model == "resnet32")].set_index("variant")
    assert res.mflop_per_image["td"] > res.mflop_per_image["bu"] and res.runs["td"] == 8  # TD and the wide TD

    assert main(["plan", "bu-vs-td", "--profile", "smoke", "--gflops", "10", "-p", "datasets=['mnist']",
                 "-p", "variants=['bu','td']"]) == 0
    out = capsys.readouterr().out
    assert "bu-vs-td, profile smoke: 2 runs, 0 cached, 2 missing; estimated" in out and "at 10.0 GFLOP/s" in out


def test_plan_also_estimates_hours_at_the_rates_the_cached_runs_reached(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(results.ROOT_ENV, str(tmp_path))
    from tdlib.experiments import bu_vs_td

    bu, td = bu_vs_td.cell_configs(small())
    assert executor.plan_table("bu-vs-td", "smoke", small(), gflops=10.0).hours_measured.isna().all()
    # a cached BU run of another grid (twice the epochs) that trained at 5 GFLOP/s
    other = bu.as_dict() | {"epochs": 2 * bu.epochs, "seed": 7}
    seconds = executor.training_cost(other).train / 5e9
    summary = {"seconds_per_epoch": seconds / other["epochs"], "epochs": other["epochs"]}
    results.store("bu-vs-td", "train", other, {"summary": summary}, {"profile": "cpu", "device": "Old CPU (2 cores)"})
    assert executor.measured_rates("bu-vs-td")[("train", bu.model, "bu")] == [pytest.approx(5.0)]
    assert executor.rate_devices("bu-vs-td") == {("train", bu.model, "bu"): ["Old CPU (2 cores)"]}
    plan = executor.plan_table("bu-vs-td", "smoke", small(), gflops=10.0).set_index("variant")
    assert plan.hours_measured["bu"] == pytest.approx(2 * plan.hours["bu"])  # 5 GFLOP/s instead of 10
    assert np.isnan(plan.hours_measured["td"]), "no cached TD run: no rate"
    print(executor.format_plan("bu-vs-td", "smoke", plan.reset_index()))
    out = capsys.readouterr().out
    assert "for 1 of the 2 missing runs" in out and "on Old CPU (2 cores))" in out, "the rates' machine is named"

    # a stopped TD run with one finished epoch at 2 GFLOP/s: the rest of it at its own pace
    import torch

    from tdlib.train import _save_checkpoint

    ckpt = results.entry_path("bu-vs-td", "train", td.as_dict()).with_suffix(".ckpt")
    net = torch.nn.Linear(2, 2)
    per_epoch = executor.training_cost(td.as_dict()).train / td.epochs
    _save_checkpoint(ckpt, td, 1, net, torch.optim.SGD(net.parameters(), lr=0.1), torch.Generator(), None,
                     [{"epoch": 1, "seconds": per_epoch / 2e9}], [])
    found = results.read_checkpoint(ckpt)
    assert found.seconds_per_epoch == pytest.approx(per_epoch / 2e9) and "threads" in found.device
    cell = next(c for c in executor.planned_cells("bu-vs-td", "smoke", small()) if c.config.get("variant") == "td")
    assert executor.checkpoint_rate(cell) == (pytest.approx(2.0), found.device)
    plan = executor.plan_table("bu-vs-td", "smoke", small(), gflops=10.0).set_index("variant")
    assert plan.hours_measured["td"] == pytest.approx(5 * plan.hours["td"])  # 2 GFLOP/s instead of 10
    assert plan.hours_measured["bu"] == pytest.approx(2 * plan.hours["bu"]), "still the cached BU run's rate"
    assert found.device in plan.attrs["rate_devices"] and "Old CPU (2 cores)" in plan.attrs["rate_devices"]


def test_gpu_workers_are_pinned_to_one_device_each():
    from distributed import Client

    with executor.local_cluster(workers=3, gpus=2) as cluster, Client(cluster) as client:
        seen = client.run(os.getenv, "CUDA_VISIBLE_DEVICES")
        resources = {w["name"]: w["resources"] for w in client.scheduler_info()["workers"].values()}
    assert sorted(seen.values()) == ["0", "0", "1"]  # worker i sees GPU i % 2
    assert resources == {"gpu0": {"GPU": 1}, "gpu1": {"GPU": 1}, "gpu2": {"GPU": 1}}


def test_plan_counts_only_what_is_left_of_stopped_runs_and_sharded_cells(tmp_path, monkeypatch, capsys):
    import torch

    from tdlib.experiments import attacks as atk
    from tdlib.experiments import bu_vs_td
    from tdlib.train import _save_checkpoint

    monkeypatch.setenv(results.ROOT_ENV, str(tmp_path))
    # a training run stopped after 1 of its 2 epochs: half its training is left
    fresh = executor.plan_table("bu-vs-td", "smoke", small(epochs=2), gflops=10.0).set_index("variant")
    bu = bu_vs_td.cell_configs(small(epochs=2))[0]
    ckpt = results.entry_path("bu-vs-td", "train", bu.as_dict()).with_suffix(".ckpt")
    ckpt.parent.mkdir(parents=True)
    net = torch.nn.Linear(2, 2)
    _save_checkpoint(ckpt, bu, 1, net, torch.optim.SGD(net.parameters(), lr=0.1), torch.Generator(), None, [], [])
    resumed = executor.plan_table("bu-vs-td", "smoke", small(epochs=2), gflops=10.0).set_index("variant")
    assert resumed.train_tflop["bu"] == pytest.approx(fresh.train_tflop["bu"] / 2, rel=1e-12)
    assert resumed.train_tflop["td"] == fresh.train_tflop["td"] and resumed.missing["bu"] == 1
    left = (resumed.train_tflop + resumed.eval_tflop)["bu"] / (fresh.train_tflop + fresh.eval_tflop)["bu"]
    assert resumed.done_pct["bu"] == pytest.approx(100 * (1 - left)) and 0 < resumed.done_pct["bu"] < 50, \
        "half the epochs are done, not the test pass"
    assert resumed.done_pct["td"] == 0 and fresh.done_pct.eq(0).all()

    # an attack cell of 4 parts, one of them cached: three quarters of its images are left
    s = settings("attacks", "smoke", attacks=["additive_uniform"], images=16, shard=4)
    cells = atk.cell_configs(s)
    for c in cells:  # a cached run of the same attack gives the queries per image
        results.store("attacks", atk.EXPERIMENT, {**c, "images": 8, "shard": None}, {"queries": 800},
                      {"profile": "smoke"})
    whole = executor.plan_table("attacks", "smoke", s, gflops=10.0)
    first = cells[0]
    results.store("attacks", atk.PART, atk.parts(first)[0], {"l2": []}, {"profile": "smoke"})
    part = executor.plan_table("attacks", "smoke", s, gflops=10.0)
    row = (part.variant == first["variant"]) & (part.model == first["model"])
    assert part.eval_tflop[row].sum() == pytest.approx(0.75 * whole.eval_tflop[row].sum(), rel=1e-12)
    assert part.done_pct[row].iloc[0] == pytest.approx(25.0), "1 of the 4 parts of its one missing cell"
    assert whole.done_pct.eq(0).all()
    started = executor.sharded_in_progress("attacks", "smoke", s)
    assert started[["variant", "attack", "images_done", "images"]].to_dict("records") == [
        {"variant": first["variant"], "attack": "additive_uniform", "images_done": 4, "images": 16}]
    assert executor.sharded_in_progress("bu-vs-td").empty, "a chapter without sharded cells"
