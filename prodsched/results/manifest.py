"""run.json: the manifest of a run — every parameter, the inputs with their sha256, the versions.

``prodsched verify --run DIR`` re-checks a run from this file alone: it rebuilds stages 1-4 with
exactly these parameters (the width table included) from inputs whose hashes still match.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import platform
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from prodsched.errors import ProdschedError
from prodsched.inputs.read import source_files
from prodsched.params import Params

MANIFEST = "run.json"
FORMAT = 1
VERSIONED = ("prodsched", "numpy", "pandas", "pyarrow", "networkx", "openpyxl", "rustpy-xlsxwriter", "matplotlib")


class ManifestError(ProdschedError):
    """run.json is missing or unreadable, or the inputs it names changed since the run."""


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def versions(packages: tuple[str, ...] = VERSIONED) -> dict[str, str]:
    """Python's version and each package's ("not installed" when absent)."""
    found = {"python": platform.python_version()}
    for package in packages:
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = "not installed"
    return found


def input_record(data: str | Path | None) -> dict[str, Any]:
    """The input as the run read it: its path and each file it took tables from, with sha256."""
    if data is None:
        return {"path": None, "files": []}
    root = Path(data)
    base = root if root.is_dir() else root.parent
    return {"path": str(root),
            "files": [{"name": str(f.relative_to(base)), "bytes": f.stat().st_size, "sha256": sha256(f)}
                      for f in source_files(root)]}


def build_manifest(params: Params, calendar: Mapping[str, Any] | None,
                   schedule_info: Mapping[str, Any] | None) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "parameters": params.to_dict(),
        "calendar": dict(calendar or {}),
        "schedule": dict(schedule_info or {}),
        "inputs": input_record(params.data),
        "versions": versions(),
    }


def write_manifest(manifest: Mapping[str, Any], out_dir: str | Path) -> Path:
    path = Path(out_dir) / MANIFEST
    path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False, sort_keys=True) + "\n",
                    encoding="utf-8")
    return path


def read_manifest(run_dir: str | Path) -> dict[str, Any]:
    path = Path(run_dir) / MANIFEST
    if not path.is_file():
        raise ManifestError(f"{path} does not exist: give the folder a `prodsched run` wrote")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ManifestError(f"{path} is not readable JSON ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or "parameters" not in manifest:
        raise ManifestError(f"{path} is not a run manifest of format {FORMAT}")
    return manifest


def replay_params(manifest: Mapping[str, Any], data: str | Path | None = None) -> Params:
    """The run's parameters with its resolved calendar, reading ``data`` (default: the recorded
    input); ManifestError when a recorded input file is missing or its sha256 differs."""
    recorded = manifest.get("inputs") or {}
    root = Path(data if data is not None else recorded.get("path") or "")
    base = root if root.is_dir() else root.parent
    for entry in recorded.get("files", []):
        path = base / entry["name"] if root.is_dir() else root
        if not path.is_file():
            raise ManifestError(f"input file {path} of the run is missing")
        if sha256(path) != entry["sha256"]:
            raise ManifestError(f"input file {path} changed since the run (sha256 differs from run.json)")
    values = dict(manifest["parameters"])
    values["data"] = str(root)
    calendar = manifest.get("calendar") or {}
    for key in ("base_date", "slot_minutes"):
        if calendar.get(key) is not None:
            values[key] = calendar[key]
    try:
        return Params.from_dict(values)
    except ValueError as exc:
        raise ManifestError(f"run.json parameters: {exc}") from None
