"""run.json records a run completely; `prodsched verify --run DIR` re-checks it from that alone."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from cli_helpers import run_cli
from prodsched.session import Session

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "sample_data"
CUSTOM = [{"lanes": "*", "fabric_width_mm": 1600}]  # every job alone on a 1600 mm fabric


@pytest.fixture(scope="module")
def custom_run(tmp_path_factory):
    """A run with a custom width table, made through the Python API on a private copy of the sample."""
    root = tmp_path_factory.mktemp("manifest")
    data = root / "data"
    shutil.copytree(SAMPLE, data, ignore=shutil.ignore_patterns("plant_export", "*.md"))
    out = root / "out"
    session = Session.create(params={"data": str(data), "out": str(out), "width_combinations": CUSTOM},
                             store=str(root / "s.db"))
    session.run_all()
    env = {**os.environ, "PRODSCHED_STORE": str(root / "cli.db")}
    return root, data, out, env


def test_run_json_holds_every_parameter_the_inputs_and_versions(custom_run):
    _, data, out, _ = custom_run
    manifest = json.loads((out / "run.json").read_text())
    assert manifest["parameters"]["width_combinations"] == CUSTOM
    assert manifest["parameters"]["rule"] == "window" and manifest["parameters"]["seed"] == 0
    assert manifest["calendar"]["slot_minutes"] == 30 and manifest["calendar"]["base_date"]
    assert manifest["schedule"]["rule"] == "window" and manifest["schedule"]["violations"] == 0
    files = {f["name"]: f["sha256"] for f in manifest["inputs"]["files"]}
    assert "order_data.csv" in files and len(files) >= 9
    assert all(hashlib.sha256((data / n).read_bytes()).hexdigest() == h for n, h in files.items())
    assert manifest["versions"]["prodsched"] and manifest["versions"]["pandas"]


def test_verify_run_rebuilds_the_jobs_of_the_custom_width_table(custom_run, tmp_path):
    _, data, out, env = custom_run
    ok = run_cli(env, "verify", "--run", out)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "0 violations" in ok.stdout
    # the same schedule without its manifest is checked against the default width table's jobs
    bare = tmp_path / "bare"
    bare.mkdir()
    for name in ("schedule.csv", "kpis.json"):
        shutil.copy(out / name, bare / name)
    wrong = run_cli(env, "verify", "--data", data, "--schedule", bare / "schedule.csv")
    assert wrong.returncode == 1 and "violation" in wrong.stderr


def test_verify_run_reads_a_moved_input_and_refuses_a_changed_one(custom_run, tmp_path):
    _, data, out, env = custom_run
    moved = tmp_path / "moved"
    shutil.copytree(data, moved)
    assert run_cli(env, "verify", "--run", out, "--data", moved).returncode == 0
    orders = moved / "order_data.csv"
    orders.write_text(orders.read_text() + "\n", encoding="utf-8")
    changed = run_cli(env, "verify", "--run", out, "--data", moved)
    assert changed.returncode == 1
    assert "order_data.csv changed since the run" in changed.stderr and "Traceback" not in changed.stderr


def test_verify_run_without_a_manifest_says_so(tmp_path):
    env = {**os.environ, "PRODSCHED_STORE": str(tmp_path / "s.db")}
    proc = run_cli(env, "verify", "--run", tmp_path)
    assert proc.returncode == 1 and "does not exist" in proc.stderr and "Traceback" not in proc.stderr
    (tmp_path / "schedule.csv").write_text("op_id\n")
    (tmp_path / "run.json").write_text("[1, 2]")
    proc = run_cli(env, "verify", "--run", tmp_path)
    assert proc.returncode == 1 and "not a run manifest" in proc.stderr
    both = run_cli(env, "verify", "--run", tmp_path, "--schedule", tmp_path / "schedule.csv")
    assert both.returncode == 1 and "either --run" in both.stderr
