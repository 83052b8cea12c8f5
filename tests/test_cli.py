"""python -m tdlib: commands, exit codes, errors."""

import subprocess
import sys

import pytest

from tdlib.cli import main


def test_models_lists_registry(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "nin_light" in out and "NINext" in out


def test_params_prints_table_and_succeeds(capsys):
    assert main(["params"]) == 0
    out = capsys.readouterr().out
    assert "16 of 16 counts equal the original code's." in out


def test_params_csv(capsys):
    assert main(["params", "--csv"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("model,registry,input,variant,ours,code,paper")
    assert len(lines) == 17


def test_unknown_command_fails():
    with pytest.raises(SystemExit):
        main(["train-everything"])


def test_module_entry_point_runs():
    out = subprocess.run([sys.executable, "-m", "tdlib", "models"], capture_output=True, text=True, check=True)
    assert "lenetfc" in out.stdout
