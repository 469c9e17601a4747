"""Stage 5 — schedule the operation graph with the engine and check the result.

Inputs: ``dag`` (stage 4) and the tables ``operation_delay`` (class changeovers),
``width_change`` (per machine width changeovers) and ``machine_rest`` (planned downtime).
Parameters: ``rule``, ``window_days``, ``seed``, ``objective``, ``improve_iterations``,
``objective_options``, ``time_limit_s`` (caps the optimiser); ``params.extra["rule_options"]``
(a dict) is passed to the rule (e.g. ``{"k1": 2.0, "k2": 0.5}`` for ``atcs``).

Artifacts: ``schedule``, one row per operation with the columns of the output contract, and
``schedule_figures``, the run's objective figures (flat, for the KPIs of stage 6). The summary
has rule, window_days, seed, operations, machines_used, makespan_slots, setup_slots,
tardiness_slots, late_jobs, the objective and every objective's value, the optimiser's
iterations (asked and done) and whether the time limit cut them, elapsed_s, ops_per_s and
violations (the independent verifier's count, 0 when feasible).
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Mapping
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd

from prodsched import engine
from prodsched.errors import ProdschedError
from prodsched.frozen import is_read_only
from prodsched.params import Params
from prodsched.results.columns import SCHEDULE_COLUMNS
from prodsched.results.plan import Changeovers, calendar_of, downtime_slots
from prodsched.stages import StageResult
from prodsched.stages.replan import constrain, replanning, with_record

COLUMNS = SCHEDULE_COLUMNS


# -- instance --------------------------------------------------------------------------------
def as_graph(dag: Any) -> nx.DiGraph:
    """The stage-4 graph; a node-link dict (as stored) is turned back into a DiGraph."""
    if isinstance(dag, nx.DiGraph):
        return dag
    if isinstance(dag, Mapping):
        key = "edges" if "edges" in dag else "links"
        return nx.node_link_graph(dict(dag), directed=True, multigraph=False, edges=key)
    raise ProdschedError(f"the schedule needs the operation graph of stage 4, got {type(dag).__name__}")


def build_instance(dag: Any, tables: Mapping[str, Any], *, hand_over: str | None = None) -> engine.Instance:
    """The engine's instance from the stage-4 graph and the changeover/downtime tables.

    ``hand_over="give"`` (stage 5) keeps the operations it reads for the verifier of stage 6,
    which takes them with ``hand_over="take"`` instead of reading the same graph again — only
    when the graph is read-only (a stored graph as the session decodes it, see
    :mod:`prodsched.frozen`): then nothing of it can have changed in between. Any other graph is
    read afresh."""
    g = as_graph(dag)
    codes, ops = _machines_and_operations(g, hand_over)
    changeovers = Changeovers.from_tables(tables)
    rests = downtime_slots(tables, calendar_of(dag=g))
    machines = tuple(engine.Machine(code, rests.get(code, ()), *changeovers.width.get(code, (0, 0)))
                     for code in codes)
    return engine.Instance(ops, machines, dict(changeovers.class_setup))


# read-only graph -> (machine codes, operations) that stage 5 read, until the verifier takes them
_HANDED_OVER: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_HAND_OVER_LOCK = threading.Lock()


def _machines_and_operations(g: nx.DiGraph, hand_over: str | None) -> tuple[tuple[str, ...], tuple[engine.Operation, ...]]:
    if hand_over not in (None, "give", "take"):
        raise ValueError(f"hand_over must be None, 'give' or 'take', got {hand_over!r}")
    if hand_over is None or not is_read_only(g):
        return _read_machines_and_operations(g)
    if hand_over == "take":
        with _HAND_OVER_LOCK:
            made = _HANDED_OVER.pop(g, None)
        return _read_machines_and_operations(g) if made is None else made
    made = _read_machines_and_operations(g)
    with _HAND_OVER_LOCK:
        _HANDED_OVER[g] = made
    return made


def _read_machines_and_operations(g: nx.DiGraph) -> tuple[tuple[str, ...], tuple[engine.Operation, ...]]:
    codes = [str(m) for m in g.graph.get("machines", [])]
    seen = set(codes)
    for _, attrs in g.nodes(data=True):
        for code in attrs.get("durations", {}):
            if str(code) not in seen:
                seen.add(str(code))
                codes.append(str(code))
    ops = []
    for node, attrs in g.nodes(data=True):
        ops.append(engine.Operation(
            id=str(node),
            job=str(attrs.get("job", "")),
            seq=int(attrs.get("seq", 0)),
            op_class=str(attrs.get("op_class", "")),
            mixture=str(attrs.get("mixture", "") or ""),
            width=int(attrs.get("width", 0)),
            due_slot=int(attrs.get("due_slot", 0)),
            aging_slots=int(attrs.get("aging_slots", 0)),
            durations=_durations(attrs.get("durations", {})),
            predecessors=tuple(str(p) for p in g.predecessors(node)),
            operation=str(attrs.get("operation", "") or ""),
        ))
    return tuple(codes), tuple(ops)


def _durations(durations: Mapping[Any, Any]) -> dict[str, int]:
    """{machine: slots} with text keys and integer slots (a graph read from the store has them
    already: then one C-level copy instead of converting 15 pairs per operation in Python)."""
    if set(map(type, durations)) <= _TEXT and set(map(type, durations.values())) <= _INTEGER:
        return dict(durations)
    return {str(m): int(d) for m, d in durations.items()}


_TEXT, _INTEGER = {str}, {int}


# -- the stage -------------------------------------------------------------------------------
def schedule_frame(plan: engine.Schedule, dag: Any) -> pd.DataFrame:
    """The schedule as the contract's DataFrame (rows ordered by start, machine, op)."""
    g = as_graph(dag)
    cal = calendar_of(dag=g)
    nodes = g.nodes
    rows = []
    for a in plan.assignments:
        attrs = nodes[a.op_id]
        rows.append((a.op_id, attrs.get("job", ""), ";".join(map(str, attrs.get("po_nos", []))),
                     attrs.get("item", ""), attrs.get("operation", ""), attrs.get("op_class", ""),
                     attrs.get("mixture", "") or "", int(attrs.get("seq", 0)),
                     int(attrs.get("width", 0)), float(attrs.get("length", 0.0)), a.machine,
                     a.start, a.end, a.setup, int(attrs.get("aging_slots", 0)),
                     attrs.get("due", None)))
    df = pd.DataFrame(rows, columns=[c for c in COLUMNS if c not in ("start_time", "end_time")])
    for col in ("seq", "width_mm", "start", "end", "setup_slots", "aging_slots"):
        df[col] = df[col].astype("int64")
    df["length_m"] = df["length_m"].astype(float)
    df["start_time"] = cal.base_date + df["start"] * cal.step
    df["end_time"] = cal.base_date + df["end"] * cal.step
    df["due"] = pd.to_datetime(df["due"]).dt.normalize()
    for col in ("op_id", "job_id", "po_nos", "item", "operation", "op_class", "mixture", "machine"):
        df[col] = df[col].astype(str)
    return df[COLUMNS].reset_index(drop=True)


def run(inputs: Mapping[str, Any], params: Params, progress=None, cancel=None) -> StageResult:
    if "dag" not in inputs:
        raise ProdschedError("the schedule needs the operation graph (run stage 4 first)")
    started = time.perf_counter()
    dag = as_graph(inputs["dag"])
    instance = build_instance(dag, inputs, hand_over="give")
    replan = None
    if replanning(params):  # now and pins (README "Re-planning")
        instance, replan = constrain(instance, dag, params)
    slot = calendar_of(dag=dag).slot_minutes
    options = dict((params.extra or {}).get("rule_options") or {})
    history: list[dict] = []

    def improved(iteration: int, value: tuple) -> None:
        # improvements and the final value only: the heartbeats repeat the best at wall-clock times
        if not history or history[-1]["value"] != list(value) or iteration >= params.improve_iterations:
            history.append({"iteration": int(iteration), "best": float(value[0]), "value": list(value)})

    plan = engine.schedule(instance, rule=params.rule, window_days=params.window_days,
                           seed=params.seed, progress=progress, cancel=cancel,
                           time_limit_s=params.time_limit_s, slot_minutes=slot, options=options,
                           objective=params.objective,
                           objective_options=params.objective_options or {},
                           improve_iterations=params.improve_iterations, on_iteration=improved)
    solver_figures = {}
    if params.solver == "cpsat":
        plan, solver_figures = _solve_exactly(instance, plan, params)
    violations = engine.verify(instance, plan)
    figures = {**run_figures(plan, instance, params), **solver_figures}
    frame = schedule_frame(plan, dag)
    elapsed = time.perf_counter() - started
    n = len(plan)
    summary = {
        "rule": plan.rule,
        "window_days": params.window_days,
        "seed": params.seed,
        "operations": n,
        "machines_used": plan.machines_used,
        "makespan_slots": plan.makespan,
        "setup_slots": plan.setup_slots,
        "elapsed_s": round(elapsed, 3),
        "engine_s": round(plan.elapsed_s, 3),
        "ops_per_s": round(n / plan.elapsed_s, 1) if plan.elapsed_s > 0 else None,
        "violations": len(violations),
        **figures,
        "objectives": engine.report(plan, instance, params.objective_options)["objectives"],
    }
    if replan is not None:
        summary["replan"] = {**replan, "timeline": plan.info.get("timeline")}
    if violations:
        summary["violation_examples"] = [v.message for v in violations[:5]]
    curve = pd.DataFrame({"iteration": [h["iteration"] for h in history], "best": [h["best"] for h in history],
                          "value": [", ".join(map(str, h["value"])) for h in history]})
    return StageResult(artifacts={"schedule": frame, "schedule_info": dict(summary),
                                  "schedule_figures": figures,
                                  "improve_history": curve.astype({"iteration": "int64", "best": "float64"})},
                       summary=summary)


def _solve_exactly(instance: engine.Instance, start: engine.Schedule, params: Params) -> tuple[engine.Schedule, dict]:
    """CP-SAT from the dispatch (or improved) schedule; the better of the two by the objective."""
    from prodsched.engine.cpsat import solve

    options = dict((params.extra or {}).get("solver_options") or {})
    result = solve(instance, params.objective, params.objective_options, hint=start,
                   time_limit_s=params.time_limit_s, seed=params.seed, **options)
    plan = engine.Schedule(assignments=result.schedule.assignments, rule=start.rule,
                           window_days=start.window_days, seed=start.seed,
                           elapsed_s=start.elapsed_s + result.wall_s, passes=start.passes,
                           info={**start.info, "solver": "cpsat"})
    return plan, {"solver": "cpsat", "solver_status": result.status, "solver_bound": result.bound,
                  "solver_improved": result.improved, "solver_capped": result.capped}


def run_figures(plan: engine.Schedule, instance: engine.Instance, params: Params) -> dict:
    """The run's objective figures and the optimiser's record, flat (JSON and KPI cells)."""
    fig = engine.figures_of(plan, instance)
    info = plan.info
    objective = engine.get_objective(params.objective)
    value = objective.value(fig, params.objective_options)
    return {
        "tardiness_slots": fig.tardiness,
        "late_jobs": fig.late_jobs,
        "objective": objective.name,
        "objective_value": ", ".join(map(str, value)),
        "improve_iterations": int(params.improve_iterations),
        "improve_iterations_done": int(info.get("iterations", 0)),
        "improve_capped": bool(info.get("capped", False)),
        "dispatch_objective_value": ", ".join(map(str, info.get("start_value", value))),
    }


# -- verification ----------------------------------------------------------------------------
def _violation(op_id: str, check: str, message: str) -> dict[str, str]:
    return {"op_id": op_id, "check": check, "message": message}


def verify(schedule_df: pd.DataFrame, dag: Any, tables: Mapping[str, Any],
           replan: Mapping[str, Any] | None = None) -> list[dict]:
    """Every rule of DESIGN §4 checked on ``schedule_df`` from scratch, plus the consistency of
    its columns with the graph; ``[]`` = feasible. Each finding: ``{op_id, check, message}``.
    ``replan`` (stage 5's record of a re-plan) adds its ``now`` and pins to the rules."""
    g = as_graph(dag)
    instance = with_record(build_instance(g, tables, hand_over="take"), replan)
    missing = [c for c in COLUMNS if c not in schedule_df.columns]
    if any(c in missing for c in ("op_id", "machine", "start", "end")):
        return [_violation("", "columns", f"the schedule lacks column(s) {missing}")]
    out = [_violation("", "columns", f"the schedule lacks column(s) {missing}")] if missing else []
    df = schedule_df.reset_index(drop=True)
    bad = df["start"].isna() | df["end"].isna()
    for op_id in df.loc[bad, "op_id"]:
        out.append(_violation(str(op_id), "value", f"{op_id} has no start or end"))
    df = df[~bad]
    setups = df["setup_slots"] if "setup_slots" in df.columns else pd.Series(0, index=df.index)
    assignments = [engine.Assignment(str(o), str(m), int(s), int(e), int(0 if pd.isna(u) else u))
                   for o, m, s, e, u in zip(df["op_id"].tolist(), df["machine"].tolist(), df["start"].tolist(),
                                            df["end"].tolist(), setups.tolist())]  # lists: Arrow text iterates slowly
    out.extend(v.to_dict() for v in engine.verify(instance, assignments))
    out.extend(_column_checks(df, g))
    return out


def _column_checks(df: pd.DataFrame, g: nx.DiGraph) -> list[dict]:
    """Times match the slots; copied attributes match the graph's nodes."""
    out: list[dict] = []
    cal = calendar_of(dag=g)
    for col, slots in (("start_time", "start"), ("end_time", "end")):
        if col not in df.columns:
            continue
        expect = cal.base_date + df[slots].astype("int64") * cal.step
        wrong = pd.to_datetime(df[col], errors="coerce") != expect
        for op_id, value, want in zip(df.loc[wrong, "op_id"], df.loc[wrong, col], expect[wrong]):
            out.append(_violation(str(op_id), col, f"{op_id}: {col} {value} does not match slot "
                                                   f"{slots} (expected {want})"))
    nodes = g.nodes
    rows = df[np.array([o in nodes for o in df["op_id"].astype(str).tolist()], dtype=bool)]
    op_ids = rows["op_id"].astype(str).tolist()
    node_attrs = [nodes[o] for o in op_ids]
    expected = {  # each column as the graph has it (a comprehension per column, not a call per cell)
        "job_id": lambda: [str(a.get("job", "")) for a in node_attrs],
        "seq": lambda: [int(a.get("seq", 0)) for a in node_attrs],
        "op_class": lambda: [str(a.get("op_class", "")) for a in node_attrs],
        "mixture": lambda: [str(a.get("mixture", "") or "") for a in node_attrs],
        "width_mm": lambda: [int(a.get("width", 0)) for a in node_attrs],
        "aging_slots": lambda: [int(a.get("aging_slots", 0)) for a in node_attrs],
        "po_nos": lambda: [";".join(map(str, a.get("po_nos", []))) for a in node_attrs],
    }
    for col, column in expected.items():
        if col not in rows.columns:
            continue
        expect = column()
        actual = rows[col].tolist()
        if _equal(actual, expect):  # equal values never differ (see _differs): nothing to report
            continue
        for op_id, have, want in zip(rows["op_id"].tolist(), actual, expect):
            if _differs(have, want):
                out.append(_violation(str(op_id), "attributes",
                                      f"{op_id}: {col} is {have!r}, the graph says {want!r}"))
    if "due" in rows.columns:
        want = pd.Series(pd.to_datetime([a.get("due") for a in node_attrs]), index=rows.index)
        have = pd.to_datetime(rows["due"], errors="coerce").dt.normalize()
        wrong = ~((have.isna() & want.isna()) | (have == want))
        for op_id, h, w in zip(rows.loc[wrong, "op_id"], have[wrong], want[wrong]):
            out.append(_violation(str(op_id), "attributes", f"{op_id}: due is {h}, the graph says {w}"))
    return out


def _equal(actual: list, expect: list) -> bool:
    try:
        return actual == expect
    except TypeError:  # a value such as pd.NA has no truth value: compare one by one
        return False


def _differs(have: Any, want: Any) -> bool:
    if isinstance(want, int):
        try:
            return int(have) != want or (isinstance(have, float) and not float(have).is_integer())
        except (TypeError, ValueError):
            return True
    if have is None or (isinstance(have, float) and np.isnan(have)):
        have = ""
    return str(have) != want
