"""The ``prodsched`` command line: run | replan | stages | status | sessions | sample | verify | sweep | app.

Exit codes: 0 done; 2 the input has errors (the validation report goes to stderr as a table);
1 any other failure (one line naming the stage and the cause). Warnings never change the code.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from prodsched.errors import InputError, ParameterError
from prodsched.params import OUTPUTS
from prodsched.execute import CliFailure, cause, run_stages, verify_written_schedule
from prodsched.stages import STAGES, stage_number

EXIT_OK, EXIT_FAILED, EXIT_INPUT = 0, 1, 2

STAGE_HELP = {
    "load": "read and validate the 12 input tables",
    "preprocess": "orders -> jobs (merging, fabric widths) -> operations, machine eligibility",
    "yield": "production length per operation from the yields",
    "dag": "operation graph with durations per machine; lower bounds",
    "schedule": "assign and sequence operations on machines (setups, downtime, aging)",
    "results": "KPIs, lateness, machine use, gaps, verification; result files",
}


# --------------------------------------------------------------------------- parser

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="prodsched", description="Production scheduler for coating/laminating plants.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    r = sub.add_parser("run", help="run the six stages and write the result files")
    r.add_argument("data", nargs="?", help="input folder, .xlsx workbook or JSON payload")
    r.add_argument("--out", required=True, help="folder for schedule.csv, kpis.json, results.xlsx, ...")
    _store_arg(r)
    r.add_argument("--window-days", type=int, help="± days of the window rule (default 5)")
    r.add_argument("--rule", help="dispatch rule: window (default), edd, spt, atcs, mwkr, mwkr_es")
    r.add_argument("--base-date", help="slot 0: an ISO date, 'today' or 'auto' (default: first of the earliest due month)")
    r.add_argument("--slot-minutes", type=int, help="minutes per slot (default 30)")
    r.add_argument("--seed", type=int, help="tie-break seed (default 0)")
    r.add_argument("--objective", help="how schedules are judged: tardiness (default), makespan, setups, weighted")
    r.add_argument("--solver", choices=["cpsat"],
                   help="after the rule (and the optimiser): OR-Tools CP-SAT from that schedule (extra [cp])")
    r.add_argument("--improve", type=int, dest="improve_iterations", metavar="N",
                   help="optimiser iterations after the dispatch (default 0: dispatch only)")
    r.add_argument("--time-limit", type=float, dest="time_limit_s", metavar="S",
                   help="cap on the optimiser's seconds (the iterations done and whether the cap cut them are reported)")
    r.add_argument("--min-yield", type=float, help="yields below this are clamped up (default 0.9)")
    r.add_argument("--yield-policy", choices=["cumulative", "item_product"])
    r.add_argument("--outputs", help="result files to write: all (default) or some of "
                   f"{','.join(OUTPUTS)}, e.g. csv,json (schedule.csv, kpis.json and run.json are always written)")
    r.add_argument("--stages", help="a range such as 1-4, 5-6 or load-dag (default: all six)")
    r.add_argument("--session", help="continue this session (e.g. --stages 5-6 with another --window-days)")
    r.add_argument("--notebooks", action="store_true", help="run the stage notebooks with papermill into OUT/<run_id>/")
    r.add_argument("--quiet", "-q", action="store_true",
                   help="no progress (default: a bar per stage on a terminal, a line per stage otherwise)")

    rp = sub.add_parser("replan", help="re-plan a previous run from --now: what started before it stays, the rest is "
                                       "scheduled again; writes changes.csv and KPI deltas as well")
    rp.add_argument("data", help="input folder, .xlsx workbook or JSON payload (orders, downtime as of now)")
    rp.add_argument("--from", dest="replan_from", required=True, metavar="RUN_DIR", help="the previous run's --out folder")
    rp.add_argument("--now", required=True, help='nothing new starts before this time, e.g. "2025-06-03 08:00"')
    rp.add_argument("--out", required=True, help="folder for the re-plan's result files")
    rp.add_argument("--pin", dest="pins", metavar="FILE", help="pinned table: op_id (or po_no, operation), machine, start")
    _store_arg(rp)
    rp.add_argument("--quiet", "-q", action="store_true", help="no progress bar")

    sub.add_parser("stages", help="list the stages")
    s = sub.add_parser("status", help="stage status of a session")
    s.add_argument("session")
    _store_arg(s)
    s.add_argument("--json", action="store_true", help="print the status as JSON")
    ss = sub.add_parser("sessions", help="list the sessions in the store")
    _store_arg(ss)
    ss.add_argument("--json", action="store_true")

    g = sub.add_parser("sample", help="write a synthetic factory's input tables")
    g.add_argument("--orders", type=int, default=150, help="number of purchase orders (default 150)")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--tightness", type=float, default=1.0,
                   help="due dates within the plant's span divided by this (default 1; 2 = twice as tight)")
    g.add_argument("--out", required=True, help="folder to write")
    g.add_argument("--form", choices=["csv", "plant_export"], default="csv",
                   help="csv = <table>.csv files; plant_export = the plant's JSON export names and Korean headers")

    w = sub.add_parser("sweep", help="run many scenarios on Dask and compare them in one table",
                       description="Exit 0 when every scenario is done, 1 when one failed or the sweep was "
                                   "interrupted (the table keeps every row), 2 for a bad grid or input.")
    w.add_argument("data", nargs="+", help="one or more input folders, .xlsx workbooks or JSON payloads")
    w.add_argument("--grid", action="append", default=[], metavar="NAME=V1,V2",
                   help="a scenario parameter and its values (repeatable), e.g. rule=window,edd,atcs")
    w.add_argument("--seeds", help="tie-break seeds as 0-4 or 0,3,7 (a grid over seed)")
    w.add_argument("--improve-iterations", type=int, dest="improve_iterations", metavar="N",
                   help="optimiser iterations after the dispatch, every scenario (default 0)")
    w.add_argument("--objective", help="how every scenario is judged (default tardiness)")
    w.add_argument("--out", required=True, help="folder for sweep.parquet, sweep.csv, tradeoff.png, summary.md")
    w.add_argument("--cluster", help="an existing Dask scheduler, tcp://HOST:8786 (default: a local cluster)")
    w.add_argument("--workers", type=int, help="local worker processes (default: one per CPU); with --cluster: wait for N")
    w.add_argument("--search", choices=["optuna"], help="a parameter search over --space instead of a grid")
    w.add_argument("--trials", type=int, default=20, help="trials of the search (default 20)")
    w.add_argument("--space", action="append", default=[], metavar="NAME=LO:HI",
                   help="a search range (repeatable), e.g. k1=0.5:4, window_days=2:10, rule=window,atcs")
    _store_arg(w)
    w.add_argument("--quiet", "-q", action="store_true", help="no progress bar")

    v = sub.add_parser("verify", help="re-check a run's schedule against its input, from its run.json")
    v.add_argument("--run", help="a folder `prodsched run` wrote: its run.json gives every parameter and input")
    v.add_argument("--schedule", help="a schedule.csv (run.json beside it is used when present)")
    v.add_argument("--data", help="read the input from here instead of the place run.json names")
    v.add_argument("--base-date")
    v.add_argument("--slot-minutes", type=int)

    a = sub.add_parser("app", help="serve the stage panel as a web page (Voila, code hidden) on 127.0.0.1")
    a.add_argument("--port", type=int, default=8866, help="port on 127.0.0.1 (default 8866)")
    _store_arg(a)
    a.add_argument("--data", help="input the panel's new sessions load (default: the sample next to the notebooks)")
    return p


def _store_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", help="redis://host:port/db or a SQLite file (default: PRODSCHED_STORE or ~/.prodsched/sessions.db)")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="prodsched: %(message)s", stream=sys.stderr)
    handler = {"run": cmd_run, "stages": cmd_stages, "status": cmd_status, "sessions": cmd_sessions,
               "sample": cmd_sample, "verify": cmd_verify, "app": cmd_app, "sweep": cmd_sweep,
               "replan": cmd_replan}[args.command]
    try:
        return handler(args)
    except InputError as exc:
        print_input_errors(exc.report)
        return EXIT_INPUT
    except ParameterError as exc:
        print(f"prodsched: {_option_name(exc.name)}: {exc.reason} (got {exc.value!r})", file=sys.stderr)
        return EXIT_INPUT
    except CliFailure as exc:
        print(exc.line(), file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print("prodsched: interrupted", file=sys.stderr)
        return EXIT_FAILED
    except Exception as exc:  # noqa: BLE001 - one line, never a traceback
        print(f"prodsched: {args.command} failed: {cause(exc)}", file=sys.stderr)
        return EXIT_FAILED


_OPTION_NAMES = {"time_limit_s": "--time-limit", "data": "DATA", "replan_from": "--from", "pins": "--pin"}


def _option_name(param: str) -> str:
    """A parameter as the command line spells it (window_days -> --window-days)."""
    return _OPTION_NAMES.get(param, "--" + param.replace("_", "-"))


def print_input_errors(report) -> None:
    print("prodsched: the input has errors; nothing was scheduled.", file=sys.stderr)
    print(str(report), file=sys.stderr)


# --------------------------------------------------------------------------- run

def _params_from(args) -> dict[str, Any]:
    names = ("window_days", "rule", "base_date", "slot_minutes", "seed", "time_limit_s", "min_yield", "yield_policy",
             "objective", "improve_iterations", "solver", "outputs")
    values = {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}
    if args.data:
        values["data"] = str(Path(args.data).resolve())
    values["out"] = str(Path(args.out).resolve())
    return values


def stage_range(text: str | None) -> list[str]:
    if not text:
        return list(STAGES)
    first, _, last = text.partition("-")
    try:
        lo, hi = stage_number(first.strip()), stage_number((last or first).strip())
    except ValueError as exc:
        raise CliFailure(f"--stages {text!r}: {exc}") from None
    if lo > hi:
        raise CliFailure(f"--stages {text!r} runs backwards")
    return list(STAGES[lo - 1:hi])


def cmd_run(args) -> int:
    names = stage_range(args.stages)
    values = _params_from(args)
    if not args.session and names[0] != "load":
        raise CliFailure("a new run starts at stage 1 (load); pass --session ID to run later stages")
    if not args.session and not args.data:
        raise CliFailure("no input data: prodsched run DATA --out DIR")
    if args.data and not Path(args.data).exists():
        raise CliFailure(f"input {args.data} does not exist", stage="load")
    from prodsched.stages.checks import check_params

    check_params(values, data_exists=bool(args.data))  # before any session is created or changed
    if args.notebooks:
        return _run_notebooks(args, names, values)
    started = time.monotonic()
    outcome = run_stages(names, values, store=args.store, session_id=args.session, quiet=args.quiet)
    print(f"session {outcome.session_id}  ({', '.join(names)} in {time.monotonic() - started:.1f} s)")
    if outcome.kpis is not None:
        print(format_kpis(outcome.kpis))
        print(f"files written to {values['out']}")
    if outcome.warnings:
        print(f"prodsched: the input has {outcome.warnings} warning(s); see validation.csv", file=sys.stderr)
    return EXIT_OK


def cmd_replan(args) -> int:
    from prodsched.stages.replan import replan_params

    if not Path(args.data).exists():
        raise CliFailure(f"input {args.data} does not exist", stage="load")
    params = replan_params(args.data, args.replan_from, args.now, out=args.out, pins=args.pins)
    outcome = run_stages(list(STAGES), params.to_dict(), store=args.store, quiet=args.quiet)
    k = outcome.kpis or {}
    print(f"session {outcome.session_id}  re-planned from {args.now}: {k.get('replan_pinned', 0)} pinned; "
          + ", ".join(f"{k.get('replan_' + s, 0)} {s}" for s in ("done", "unchanged", "moved", "new", "removed")))
    print(format_kpis(k))
    print(f"files written to {params.out} (changes.csv: each operation against {args.replan_from})")
    return EXIT_OK


def _run_notebooks(args, names: list[str], values: dict[str, Any]) -> int:
    try:
        from prodsched.jupyter.notebooks import NotebookChainError, run_chain
    except ImportError as exc:
        raise CliFailure(f"--notebooks needs prodsched.jupyter.notebooks and papermill ({exc})") from None
    params = {k: v for k, v in values.items() if k not in ("data", "out")}
    logging.getLogger("papermill").setLevel(logging.ERROR)  # its parameter-parsing notes are not for users
    try:
        result = run_chain(data=args.data, out=values["out"], params=params, store=args.store,
                           session_id=args.session, stages=f"{names[0]}-{names[-1]}",
                           on_stage=lambda name, path: print(f"stage {stage_number(name)} ({name}) done: {path}"))
    except NotebookChainError as exc:
        if exc.is_input_error and args.data:
            from prodsched.inputs.read import load_tables
            print_input_errors(load_tables(values["data"])[1])
            return EXIT_INPUT
        raise CliFailure(f"{exc.ename}: {' '.join((exc.evalue or '').split())[:300]} (see {exc.notebook})",
                         stage=exc.stage) from None
    print(f"session {result.session_id}  notebooks in {result.run_dir}")
    kpis_path = Path(values["out"]) / "kpis.json"
    if names[-1] == "results" and kpis_path.exists():
        print(format_kpis(json.loads(kpis_path.read_text(encoding="utf-8"))))
    return EXIT_OK


def format_kpis(k: dict[str, Any]) -> str:
    pct = lambda v: "n/a" if v is None else f"{100 * v:.1f} %"
    gap = k.get("gap_to_lower_bound")
    lines = [
        f"makespan    {k['makespan_slots']} slots = {k.get('makespan_hours', 0):.1f} h = "
        f"{k.get('makespan_days', 0):.2f} days (ends {k.get('makespan_end', '?')})",
        f"orders      {k['orders']} (scheduled {k.get('scheduled_orders', '?')}, unable {k.get('unable_orders', '?')}), "
        f"{k.get('jobs', '?')} jobs, {k['operations']} operations",
        f"late        {k['late_orders']} orders, tardiness total {k['total_tardiness_days']:.2f} days, "
        f"mean {k.get('mean_tardiness_days', 0):.3f} days; on-time rate {pct(k['on_time_rate'])}",
        f"machines    utilisation {pct(k.get('utilisation'))}, setup {k['setup_slots']} slots, "
        f"idle {k['idle_slots']} slots",
        f"lower bound {k.get('lower_bound', '?')} slots (gap {pct(gap)})",
        f"violations  {k['violations']}",
    ]
    if k.get("objective"):
        capped = " (cut by the time limit)" if k.get("improve_capped") else ""
        lines.append(f"objective   {k['objective']} = {k.get('objective_value')} after "
                     f"{k.get('improve_iterations_done', 0)} of {k.get('improve_iterations', 0)} "
                     f"iterations{capped}; dispatch gave {k.get('dispatch_objective_value')}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- sessions

def cmd_stages(args) -> int:
    for i, name in enumerate(STAGES, start=1):
        print(f"{i}  {name:<11} {STAGE_HELP[name]}")
    return EXIT_OK


def cmd_status(args) -> int:
    from prodsched.session import Session, format_status

    status = Session.attach(args.session, store=args.store).status()
    print(json.dumps(status, indent=2, default=str) if args.json else format_status(status))
    return EXIT_OK


def cmd_sessions(args) -> int:
    from prodsched.session import Session

    rows = Session.list(store=args.store)
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
        return EXIT_OK
    from prodsched.session import format_sessions

    print(format_sessions(rows))
    return EXIT_OK


# --------------------------------------------------------------------------- sweep

def cmd_sweep(args) -> int:
    try:
        from prodsched.sweep import GridError, grid as G, sweep
        from prodsched.sweep.search import parse_space
    except ImportError as exc:
        raise CliFailure(f"sweeps need the [dask] extra: pip install 'prodsched[dask]' ({exc})") from None
    try:
        grid = {}
        for text in args.grid:
            name, values = G.parse_assignment(text)
            if name in grid:
                raise GridError(name, text, "is given twice")
            grid[name] = values
        space = dict(parse_space(text) for text in args.space) if args.search else None
        if args.space and not args.search:
            raise GridError("space", args.space, "--space needs --search optuna", option="space")
        import distributed  # noqa: F401 - its logging settings are applied on import, then quietened

        logging.getLogger("distributed").setLevel(logging.CRITICAL)  # the cluster's own notes are not for users
        fixed = {k: getattr(args, k) for k in ("objective", "improve_iterations") if getattr(args, k) is not None}
        table = sweep(args.data, grid=grid, search=args.search, cluster=args.cluster, seeds=args.seeds,
                      params=fixed, store=args.store, out=args.out, workers=args.workers, trials=args.trials,
                      space=space, progress=False if args.quiet else "text")
    except GridError as exc:
        got = "" if exc.value is None else f" (got {exc.value!r})"
        print(f"prodsched: --{exc.option} {exc.name}: {exc.reason}{got}; nothing was run", file=sys.stderr)
        return EXIT_INPUT
    counts = table["status"].value_counts().to_dict()
    print(f"{len(table)} scenarios: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
          + f"; files written to {Path(args.out).resolve()}")
    return EXIT_OK if counts.get("done", 0) == len(table) else EXIT_FAILED


# --------------------------------------------------------------------------- sample and verify

def cmd_app(args) -> int:
    from prodsched.jupyter.app import AppError, serve

    try:
        return serve(port=args.port, store=args.store, data=args.data)
    except AppError as exc:
        raise CliFailure(str(exc)) from None


def cmd_sample(args) -> int:
    try:
        from prodsched.inputs.sample import write_sample
    except ImportError as exc:
        raise CliFailure(f"the sample generator is not available ({exc})") from None
    written = write_sample(args.out, orders=args.orders, seed=args.seed, form=args.form,
                           tightness=args.tightness)
    print(f"sample factory with {args.orders} orders (seed {args.seed}, tightness {args.tightness:g}, "
          f"{args.form}) written to {args.out}")
    if isinstance(written, (list, tuple)):
        for path in written:
            print(f"  {path}")
    return EXIT_OK


def cmd_verify(args) -> int:
    if (args.run is None) == (args.schedule is None):
        raise CliFailure("give either --run DIR or --schedule FILE (with --data DATA)")
    schedule = Path(args.run) / "schedule.csv" if args.run else Path(args.schedule)
    violations, kpis_used = verify_written_schedule(schedule, args.data, base_date=args.base_date,
                                                    slot_minutes=args.slot_minutes)
    print(f"calendar: base_date {kpis_used['base_date']}, slot_minutes {kpis_used['slot_minutes']}")
    if violations.empty:
        print(f"{schedule}: feasible (0 violations)")
        return EXIT_OK
    print(violations.to_string(index=False))
    print(f"prodsched: {len(violations)} violation(s) in {schedule}", file=sys.stderr)
    return EXIT_FAILED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
