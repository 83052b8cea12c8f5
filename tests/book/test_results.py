"""tdlib.book.results: keys, atomic writes, resume, provenance, status."""

import json
import math
import sys
import types

import pandas as pd
import pytest

from tdlib.book import results
from tdlib.book.results import ChapterRun, cached, config_key, entries, lookup, save_table, status


def test_key_is_stable_and_order_free():
    a = config_key("train", {"model": "lenetfc", "epochs": 2, "shape": (1, 28, 28)})
    b = config_key("train", {"shape": [1, 28, 28], "epochs": 2, "model": "lenetfc"})
    assert a == b and len(a) == 16
    assert a != config_key("train", {"model": "lenetfc", "epochs": 3, "shape": (1, 28, 28)})
    assert a != config_key("test", {"model": "lenetfc", "epochs": 2, "shape": (1, 28, 28)})


def test_unjsonable_config_is_an_error():
    with pytest.raises(TypeError, match="JSON-able"):
        config_key("x", {"f": object()})


def test_cached_computes_once_and_reads_back(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return pd.DataFrame({"acc": [0.5, 0.75], "name": ["a", "b"]})

    e1 = cached("ch", "exp", {"seed": 1}, compute, profile="smoke", root=tmp_path)
    e2 = cached("ch", "exp", {"seed": 1}, compute, profile="smoke", root=tmp_path)
    assert len(calls) == 1
    pd.testing.assert_frame_equal(e1.table, e2.table)
    assert e2.table.acc.tolist() == [0.5, 0.75]
    cached("ch", "exp", {"seed": 1}, compute, profile="smoke", root=tmp_path, recompute=True)
    assert len(calls) == 2


def test_entry_is_readable_json_with_provenance(tmp_path):
    e = cached("ch", "exp", {"seed": 2}, lambda: {"acc": 0.9}, profile="cpu", root=tmp_path)
    data = json.loads(e.path.read_text())
    assert data["config"] == {"seed": 2} and data["result"]["value"] == {"acc": 0.9}
    prov = data["provenance"]
    assert prov["profile"] == "cpu"
    assert set(prov) - {"load"} == {"profile", "git", "device", "versions", "wall_seconds", "date"}
    assert len(prov["load"]) == 3 and all(v >= 0 for v in prov["load"])  # the cores' load beside the timings
    assert {"python", "torch", "torchvision", "numpy", "tdlib"} <= set(prov["versions"])
    assert prov["wall_seconds"] >= 0 and prov["date"].endswith("Z")
    assert e.path.parent == tmp_path / "ch" / "exp"


def test_failed_compute_leaves_no_entry_and_rerun_resumes(tmp_path):
    """A grid interrupted in its third cell keeps the first two; the rerun computes only the rest."""
    done = []

    def cell(i, fail_at=None):
        def compute():
            if i == fail_at:
                raise KeyboardInterrupt
            done.append(i)
            return {"i": i}
        return compute

    with pytest.raises(KeyboardInterrupt):
        for i in range(4):
            cached("ch", "grid", {"i": i}, cell(i, fail_at=2), profile="smoke", root=tmp_path)
    assert done == [0, 1]
    assert not any(p.name.endswith(".tmp") for p in tmp_path.rglob("*"))
    assert lookup("ch", "grid", {"i": 2}, root=tmp_path) is None
    for i in range(4):
        cached("ch", "grid", {"i": i}, cell(i), profile="smoke", root=tmp_path)
    assert done == [0, 1, 2, 3]
    assert [e.result["i"] for e in entries("ch", root=tmp_path)] == sorted([0, 1, 2, 3], key=lambda i: config_key(
        "grid", {"i": i}))


def test_broken_file_is_skipped_by_entries(tmp_path):
    cached("ch", "exp", {"a": 1}, lambda: 1, profile="smoke", root=tmp_path)
    (tmp_path / "ch" / "exp" / "junk.json").write_text("{not json")
    assert len(entries("ch", root=tmp_path)) == 1


def test_save_table_writes_csv_and_only_rewrites_on_change(tmp_path):
    df = pd.DataFrame({"model": ["a"], "acc": [0.5]})
    path = save_table("ch", "headline", df, root=tmp_path)
    assert path == tmp_path / "ch" / "headline.csv"
    assert pd.read_csv(path).equals(df)
    mtime = path.stat().st_mtime_ns
    save_table("ch", "headline", df, root=tmp_path)
    assert path.stat().st_mtime_ns == mtime
    save_table("ch", "headline", df.assign(acc=0.6), root=tmp_path)
    assert pd.read_csv(path).acc.tolist() == [0.6]


def test_results_root_follows_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("TDLIB_RESULTS", str(tmp_path))
    assert results.results_root() == tmp_path


def test_status_counts_cached_per_profile(tmp_path):
    cached("architectures", "x", {"a": 1}, lambda: 1, profile="smoke", root=tmp_path)
    df = status(root=tmp_path)
    row = df[(df.chapter == "architectures") & (df.profile == "smoke")].iloc[0]
    assert row.cached == 1
    assert set(df.columns) == {"chapter", "profile", "cached", "planned", "missing", "other"}
    assert (df.missing <= df.planned).all()


def test_status_reports_missing_planned_entries(tmp_path, monkeypatch):
    from tdlib.book import chapters

    plan = [("exp", {"i": 0}), ("exp", {"i": 1})]
    monkeypatch.setitem(sys.modules, "fake_planner", types.SimpleNamespace(plan=lambda settings: plan))
    ch = chapters.Chapter("fake", "Fake", notebook=True, default_profile="cpu", profiles={"cpu": {}},
                          planner="fake_planner:plan")
    monkeypatch.setattr(chapters, "CHAPTERS", (ch,))
    cached("fake", "exp", {"i": 0}, lambda: 0, profile="cpu", root=tmp_path)
    cached("fake", "exp_part", {"i": 1, "start": 0}, lambda: 0, profile="cpu", root=tmp_path)  # a part of a cell
    row = status(root=tmp_path).set_index("profile").loc["cpu"]
    assert (row.cached, row.planned, row.missing, row.other) == (1, 2, 1, 1)
    cached("fake", "exp", {"i": 9}, lambda: 0, profile="cpu", root=tmp_path)  # a cell of an earlier grid
    cached("fake", "exp", {"i": 1}, lambda: 0, profile="paper", root=tmp_path)  # planned, computed at another profile
    row = status(root=tmp_path).set_index("profile").loc["cpu"]
    assert (row.cached, row.planned, row.missing, row.other) == (2, 2, 0, 2)


def test_chapter_run_header_is_a_short_line_and_folded_settings_and_provenance(tmp_path):
    run = ChapterRun("architectures", "smoke", {"profile": "smoke", "models": ["lenetfc"]})
    head = run.header()
    first, rest = head.html.split("\n", 1)
    assert first == "<p><strong>Profile <code>smoke</code></strong>: a smoke run on tiny subsets, not a result.</p>"
    assert rest.startswith("<details") and "<th>models</th><td><code>['lenetfc']</code></td>" in rest
    assert "cached results: none" in head.text
    found = [cached("ch", "exp", {"i": i}, lambda i=i: i, profile="cpu", root=tmp_path) for i in range(3)]
    text = run.header(found).text
    assert "results: 3 cached (profile cpu)" in text and "git: " in text and "computed on: " in text
    date = found[0].provenance["date"][:10]
    assert f"dates: {date}" in text
    assert ChapterRun("architectures", "smoke", {"models": ["lenetfc"]}).header(found).html == run.header(found).html, \
        "nothing in the header depends on the execution"
    with pytest.raises(ValueError, match="smoke, cpu, paper"):
        ChapterRun("architectures", "fast")


def test_provenance_table_groups_entries(tmp_path):
    found = [cached("ch", "exp", {"i": i}, lambda i=i: i, profile=p, root=tmp_path) for i, p in enumerate("aab")]
    df = results.provenance_table(found)
    assert df.profile.tolist() == ["a", "b"] and df.results.tolist() == [2, 1]
    assert list(df.columns) == ["chapter", "profile", "device", "git", "torch", "results", "hours", "dates"]
    assert list(results.provenance_table([]).columns) == list(df.columns)


def test_in_progress_lists_checkpoints_with_their_epochs(tmp_path):
    import torch

    from tdlib.train import TrainConfig, _save_checkpoint

    assert results.in_progress(root=tmp_path).empty
    config = TrainConfig.paper("mnist", "lenetfc", "td")
    model = torch.nn.Linear(2, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    folder = tmp_path / "bu-vs-td" / "train"
    folder.mkdir(parents=True)
    _save_checkpoint(folder / "abc.ckpt", config, 7, model, optimizer, torch.Generator(), None, [], [])
    (folder / "broken.ckpt").write_bytes(b"not a checkpoint")  # skipped, like an unreadable entry
    df = results.in_progress(root=tmp_path)
    assert len(df) == 1
    row = df.iloc[0]
    assert (row.chapter, row.experiment, row.key) == ("bu-vs-td", "train", "abc")
    assert (row.model, row.variant, row.epochs_done, row.epochs) == ("lenetfc", "td", 7, config.epochs)
    # saved within epoch 8, after 3 of its 12 batches: a fraction of an epoch
    _save_checkpoint(folder / "abc.ckpt", config, 7, model, optimizer, torch.Generator(), None, [], [],
                     mid={"step": 3, "steps": 12, "epoch_order": torch.Generator().get_state(), "sums": [],
                          "seconds": 1.0})
    found = results.read_checkpoint(folder / "abc.ckpt")
    assert (found.config, found.epochs_done) == (config.as_dict(), 7.25)
    assert math.isnan(found.seconds_per_epoch), "no finished epoch in this run's history"


def test_a_stop_request_is_a_file_in_the_results_root_seen_at_most_every_interval(tmp_path, monkeypatch):
    import time

    monkeypatch.setenv(results.ROOT_ENV, str(tmp_path))
    asked = results.StopRequest(interval=0.2)  # the root is resolved now
    assert not asked() and results.clear_stop() is None
    path = results.request_stop()
    assert path == tmp_path / results.STOP_FILE and "stop requested" in path.read_text()
    assert not asked(), "looked 0 s ago: not looked again yet"
    time.sleep(0.25)
    assert asked() and asked(), "seen, and it stays seen"
    assert "stop requested" in results.clear_stop() and not path.exists()
    assert asked(), "a run that saw the request stops even if it is withdrawn"
    assert not results.StopRequest()(), "a new run starts"
