"""Running stages for the command line: a session's stages with their progress on a terminal or
in a log, one-line failures, and the re-check of a written schedule (``prodsched verify``)."""

from __future__ import annotations

import gc
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prodsched.errors import InputError
from prodsched.params import Params, parse_outputs
from prodsched.stages import STAGES, stage_number

# Arrow's buffers (every text column of pandas) from the C library's allocator rather than
# pyarrow's default mimalloc pool, which keeps much of what it frees: `prodsched run` peaks about
# 120 MB lower at 15,000 orders and is no slower (benchmarks/results/end_to_end.md). Arrow reads
# this once, when pandas first imports it, so it is set here, before the commands import pandas;
# a value the user set wins.
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")


class CliFailure(Exception):
    """A failure reported as one line; ``stage`` names where it happened."""

    def __init__(self, message: str, stage: str | None = None, code: int = 1):
        self.stage = stage
        self.code = code
        super().__init__(message)

    def line(self) -> str:
        where = f"stage {stage_number(self.stage)} ({self.stage}) failed: " if self.stage else ""
        return f"prodsched: {where}{self}"


def cause(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or "(no message)"
    return f"{type(exc).__name__}: {text}"


@dataclass
class RunOutcome:
    session_id: str
    kpis: dict[str, Any] | None
    warnings: int


def run_stages(names: list[str], values: dict[str, Any], store: str | None = None,
               session_id: str | None = None, quiet: bool = False) -> RunOutcome:
    """Run the stages ``names`` in a session (new, or ``session_id``) and record them in the store."""
    from prodsched.session import Session

    if session_id:
        session = Session.attach(session_id, store=store)
        current = session.params.to_dict()
        changes = {k: v for k, v in values.items() if current.get(k) != v}
        if changes:
            session.set_params(**changes)
    else:
        session = Session.create(params=Params.from_dict(values), store=store)
    if "results" in names:
        _start_drawing(session.params)
    for name in names:
        # everything alive now (imported modules, the session's cached graph) lives to the end of
        # the command: out of the cyclic garbage collector's sight, its full collections during
        # the stage cost a fraction (about 12 % of the CPU time at 15,000 orders)
        gc.freeze()
        with StageProgress(name, quiet) as progress:  # the session's worker reports to the store and here
            guarded(name, lambda n=name: session.run(n, progress=progress))
    kpis = session.artifact("kpis") if "results" in names else None
    validation = session.artifact("validation") if "load" in names else None
    return RunOutcome(session.id, kpis, _warnings(validation))


def _start_drawing(params: Params) -> None:
    """Start the process that draws gantt.png now: it imports matplotlib while stages 1-5 run."""
    if params.out and "png" in parse_outputs(params.outputs):
        from prodsched.results import gantt_process

        gantt_process.start()


def guarded(name: str, call):
    try:
        return call()
    except (InputError, CliFailure):
        raise
    except Exception as exc:  # noqa: BLE001
        raise CliFailure(cause(exc), stage=name) from None


class StageProgress:
    """What a user sees of a stage while it runs (``progress(fraction, message)`` is fed by the
    session's worker): on a terminal a tqdm bar per stage; elsewhere (logs, CI) one line per
    stage when it is done, with its time; nothing with ``--quiet``."""

    def __init__(self, name: str, quiet: bool, stream=None):
        self.name, self.quiet, self.stream = name, quiet, stream or sys.stderr
        self.tqdm = None
        self.started = time.monotonic()
        isatty = getattr(self.stream, "isatty", None)
        self.terminal = bool(isatty and isatty())
        if self.terminal and not quiet:
            import shutil

            from tqdm import tqdm

            width = min(100, shutil.get_terminal_size(fallback=(80, 24)).columns or 80)
            self.tqdm = tqdm(total=1000, desc=f"{stage_number(name)} {name:<10}", unit="‰", file=self.stream,
                             ncols=width, bar_format="{desc} {percentage:3.0f}%|{bar}| {elapsed}{postfix}",
                             leave=True)

    def __enter__(self):
        return self.update

    def update(self, fraction: float, message: str = "") -> None:
        if self.tqdm is not None:
            target = int(max(0.0, min(1.0, float(fraction))) * 1000)
            if target > self.tqdm.n:
                self.tqdm.update(target - self.tqdm.n)
            if message:
                self.tqdm.set_postfix_str(message[:40], refresh=False)

    def __exit__(self, exc_type, *exc):
        if self.tqdm is not None:
            if exc_type is None:
                self.tqdm.update(1000 - self.tqdm.n)
                self.tqdm.set_postfix_str("done", refresh=False)
            self.tqdm.close()
        elif exc_type is None and not self.quiet:
            print(f"stage {stage_number(self.name)} ({self.name}) done in {time.monotonic() - self.started:.2f} s",
                  file=self.stream, flush=True)
        return False


def _warnings(validation) -> int:
    if validation is None or len(validation) == 0 or "severity" not in validation:
        return 0
    return int((validation["severity"] == "warning").sum())


def verify_written_schedule(schedule_csv: str | Path, data: str | None = None, base_date: str | None = None,
                            slot_minutes: int | None = None):
    """Rebuild stages 1-4 as the run did and verify ``schedule_csv``.

    The run's parameters come from run.json beside the schedule (every parameter, the width table
    included; its input files must still match their sha256); ``data`` reads the input from
    another place. Without run.json (older runs) the calendar and yield settings come from
    kpis.json. ``base_date``/``slot_minutes`` override the calendar. Returns (violations DataFrame,
    settings used).
    """
    from prodsched.inputs.spec import TABLE_NAMES
    from prodsched.results.exports import read_schedule_csv
    from prodsched.results.manifest import MANIFEST, ManifestError, read_manifest, replay_params
    from prodsched.stages import run_stage
    from prodsched.stages.results import verify_schedule

    path = Path(schedule_csv)
    if not path.exists():
        raise CliFailure(f"{schedule_csv} does not exist")
    if data is not None and not Path(data).exists():
        raise CliFailure(f"input {data} does not exist", stage="load")
    overrides = {k: v for k, v in (("base_date", base_date), ("slot_minutes", slot_minutes)) if v}
    replan = None  # a re-plan's now and pins, checked as well (run.json records them)
    if (path.parent / MANIFEST).exists():
        try:
            manifest = read_manifest(path.parent)
            replan = (manifest.get("schedule") or {}).get("replan")
            params = replay_params(manifest, data)
        except ManifestError as exc:
            raise CliFailure(str(exc)) from None
        params = params.updated(**overrides)
    elif data is None:
        raise CliFailure(f"no {MANIFEST} beside {path}: give the input with --data")
    else:
        settings: dict[str, Any] = {}
        kpis_path = path.with_name("kpis.json")
        if kpis_path.exists():
            saved = json.loads(kpis_path.read_text(encoding="utf-8"))
            settings = {k: saved[k] for k in ("base_date", "slot_minutes", "min_yield", "yield_policy")
                        if saved.get(k) is not None}
        params = Params.from_dict({**settings, **overrides, "data": str(Path(data).resolve())})
    artifacts: dict[str, Any] = {}
    for name in STAGES[:4]:
        artifacts.update(guarded(name, lambda n=name: run_stage(n, artifacts, params)).artifacts)
    try:
        schedule = read_schedule_csv(path)
    except (ValueError, KeyError) as exc:
        raise CliFailure(f"{schedule_csv}: {exc}") from None
    tables = {k: v for k, v in artifacts.items() if k in TABLE_NAMES}
    violations = verify_schedule(schedule, artifacts["dag"], tables, replan)
    cal = artifacts.get("calendar") or {}
    return violations, {"base_date": cal.get("base_date"), "slot_minutes": cal.get("slot_minutes")}
