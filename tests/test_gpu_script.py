"""scripts/gpu-paper.sh: stage a slim tree, fill a grid without Jupyter, pack and restore the results."""

import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "gpu-paper.sh"


def sh(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", *args], cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True,
                          text=True, timeout=600)


def test_stage_sets_other_chapters_aside_and_unstage_restores_them_with_the_returned_results(tmp_path):
    repo, mirror = tmp_path / "repo", tmp_path / "mirror"
    (repo / "scripts").mkdir(parents=True)
    shutil.copy(SCRIPT, repo / "scripts")
    for chapter in ("segmentation", "attacks"):
        (repo / "data" / "results" / chapter / "train").mkdir(parents=True)
        (repo / "data" / "results" / chapter / "train" / "old.json").write_text("{}")
    (mirror / "FashionMNIST" / "raw").mkdir(parents=True)
    (mirror / "FashionMNIST" / "raw" / "t10k-labels-idx1-ubyte.gz").write_bytes(b"x")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], cwd=repo, check=True)
    subprocess.run([*git, "add", "."], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", "init"], cwd=repo, check=True)

    bad = sh("scripts/gpu-paper.sh", "stage", "segmentation", cwd=repo, env={"TDLIB_DATA_MIRROR": str(tmp_path)})
    assert bad.returncode == 1 and "no FashionMNIST in the mirror" in bad.stderr
    assert sorted(p.name for p in (repo / "data" / "results").iterdir()) == ["attacks", "segmentation"], \
        "a failed stage moves nothing"
    elsewhere = tmp_path / "elsewhere"  # a results root of another process: staging leaves it alone
    (elsewhere / "attacks").mkdir(parents=True)
    out = sh("scripts/gpu-paper.sh", "stage", "segmentation", cwd=repo,
             env={"TDLIB_DATA_MIRROR": str(mirror), "TDLIB_RESULTS": str(elsewhere)})
    assert out.returncode == 0, out.stderr
    assert "call the device with carry ['.gpu']" in out.stdout
    assert sorted(p.name for p in (repo / "data" / "results").iterdir()) == ["segmentation"]
    assert (elsewhere / "attacks").is_dir()
    assert (repo / ".gpu" / "data" / "FashionMNIST" / "raw" / "t10k-labels-idx1-ubyte.gz").is_file()
    head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=repo, capture_output=True, text=True)
    assert (repo / ".gpu" / "REVISION").read_text().strip() == head.stdout.strip()
    status = subprocess.run(["git", "status", "--porcelain", "--ignored"], cwd=repo, capture_output=True, text=True)
    assert "!! .gpu-aside/" in status.stdout and "!! .gpu/" in status.stdout, "neither travels unless carried"
    assert sh("scripts/gpu-paper.sh", "stage", "segmentation", cwd=repo).returncode == 1, "staged twice"

    new = repo / "data" / "results" / "segmentation" / "train" / "new.json"
    new.write_text("{}")
    with tarfile.open(tmp_path / "results.tar.gz", "w:gz") as tar:  # what came back from the GPU
        tar.add(new, arcname="./segmentation/train/new.json")
    new.unlink()
    out = sh("scripts/gpu-paper.sh", "unstage", str(tmp_path / "results.tar.gz"), cwd=repo,
             env={"TDLIB_RESULTS": str(elsewhere)})
    assert out.returncode == 0, out.stderr
    assert sorted(p.relative_to(repo).as_posix() for p in (repo / "data" / "results").rglob("*.json")) == [
        "data/results/attacks/train/old.json", "data/results/segmentation/train/new.json",
        "data/results/segmentation/train/old.json"]
    assert not (repo / ".gpu").exists() and not (repo / ".gpu-aside").exists()
    assert [p.name for p in elsewhere.iterdir()] == ["attacks"]


def test_run_fills_the_grid_and_packs_the_new_entries(tmp_path, mnist_available):
    cache, out = tmp_path / "cache", tmp_path / "out"
    env = {"TDLIB_RESULTS": str(cache), "OUT": str(out), "PROFILE": "smoke", "OMP_NUM_THREADS": "1",
           "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}  # python3: this interpreter
    args = ("bu-vs-td", "-p", "datasets=['mnist']", "-p", "variants=['bu','td']")
    res = sh(str(SCRIPT), "run", *args, cwd=tmp_path, env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    with tarfile.open(out / "results.tar.gz") as tar:
        packed = tar.getnames()
        names = [n for n in packed if n.endswith(".json")]
        assert len(names) == 2 and all(n.startswith("./bu-vs-td/train/") for n in packed), packed
        entry = json.load(tar.extractfile(names[0]))
    assert entry["provenance"]["profile"] == "smoke" and f"packed {len(packed)} files" in res.stdout
    again = sh(str(SCRIPT), "run", *args, cwd=tmp_path, env=env)  # cached: nothing new to pack
    assert again.returncode == 0 and "packed 0 files" in again.stdout, again.stdout + again.stderr


def test_run_stops_at_the_time_limit_with_a_checkpoint_that_the_next_run_resumes(tmp_path, mnist_available):
    # one LeNetFC TD epoch on 36,000 images (~30 s on one thread): the stop request at 10 s finds it training
    cache, out = tmp_path / "cache", tmp_path / "out"
    env = {"TDLIB_RESULTS": str(cache), "OUT": str(out), "PROFILE": "smoke", "OMP_NUM_THREADS": "1", "LIMIT": "10",
           "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    args = ("bu-vs-td", "-p", "datasets=['mnist']", "-p", "variants=['td']", "-p", "train_subset={'lenetfc':40000}")
    res = sh(str(SCRIPT), "run", *args, cwd=tmp_path, env=env)
    assert res.returncode == 3 and "stopped at the time limit" in res.stdout, res.stdout + res.stderr
    with tarfile.open(out / "results.tar.gz") as tar:
        packed = tar.getnames()
    assert len(packed) == 1 and packed[0].endswith(".ckpt"), packed  # the checkpoint, no entry
    assert not (cache / "STOP").exists(), "the stop request does not outlive the run"
    again = sh(str(SCRIPT), "run", *args, cwd=tmp_path, env={**env, "LIMIT": "480"})
    assert again.returncode == 0, again.stdout + again.stderr
    with tarfile.open(out / "results.tar.gz") as tar:
        packed = tar.getnames()
    assert sorted(Path(n).suffix for n in packed) == [".json", ".pt"], packed  # the entry and its weights
    assert not list(cache.rglob("*.ckpt")), "resumed and finished: the checkpoint is gone"
