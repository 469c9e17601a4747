"""What the stage notebooks teach: each stage shown on the run's own data.

Every helper takes a session whose stage has run and returns a :class:`Shown` — a sentence in
plain words, a small table and, for some, a figure — which a notebook displays as it is. The
examples are picked deterministically (the same run shows the same job) and every helper says
so plainly when the run has nothing to show (no merged job, no unable or late order …).
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import pandas as pd

from prodsched.inputs.spec import REQUIRED_TABLES, SPECS


@dataclass
class Shown:
    """A sentence, an optional table and an optional matplotlib figure, rendered together."""

    text: str
    frame: pd.DataFrame | None = None
    figure: Any = None
    facts: dict[str, Any] = field(default_factory=dict)

    def _repr_html_(self) -> str:
        parts = [f"<p>{html.escape(self.text)}</p>"]
        if self.frame is not None and len(self.frame):
            parts.append(self.frame.to_html())
        if self.figure is not None:
            buffer = io.BytesIO()
            self.figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
            data = base64.b64encode(buffer.getvalue()).decode("ascii")
            parts.append(f'<img src="data:image/png;base64,{data}"/>')
        return "\n".join(parts)

    def __repr__(self) -> str:  # plain-text front ends (papermill logs, terminals)
        table = "" if self.frame is None or not len(self.frame) else "\n" + self.frame.to_string()
        return self.text + table


def _fmt(value: float) -> str:
    return f"{value:,.0f}"


# --- 1 load -----------------------------------------------------------------------------------

def table_sizes(session) -> Shown:
    """Rows and columns of each input table as loaded (a missing optional table shows 0 rows)."""
    tables = session.artifacts("load")
    rows = []
    for name in SPECS:
        frame = tables.get(name)
        rows.append({"table": name, "required": name in REQUIRED_TABLES,
                     "rows": 0 if frame is None else len(frame),
                     "columns": 0 if frame is None else len([c for c in frame.columns if not c.startswith("_")])})
    frame = pd.DataFrame(rows).set_index("table")
    present = int((frame["rows"] > 0).sum())
    text = (f"{present} of {len(frame)} tables have rows; {int(frame['rows'].sum()):,} rows in all. "
            "Orders say what to make and by when; the master tables say how (routing, speeds, yields, "
            "changeovers, downtime).")
    return Shown(text, frame, facts={"tables": present})


def validation(session) -> Shown:
    """The validation report: errors stop the run at load, warnings are listed and the run goes on."""
    report = session.artifact("validation")
    counts = report["severity"].value_counts().to_dict() if len(report) else {}
    errors, warnings = int(counts.get("error", 0)), int(counts.get("warning", 0))
    if not len(report):
        text = "The validation report is empty: every table, row and value passed the checks."
    else:
        text = (f"The validation report lists {errors} error(s) and {warnings} warning(s); each names the "
                "table, row, column and value, so the plant's data can be fixed at the source.")
    return Shown(text, report, facts={"errors": errors, "warnings": warnings})


# --- 2 preprocess -----------------------------------------------------------------------------

def _up(widths: str) -> int:
    head, sep, tail = str(widths).rpartition("x")
    return int(tail) if sep and tail.isdigit() and head else 1


def example_job(session) -> str | None:
    """The job that shows most of stage 2: widths combined or run several-up, then most orders."""
    jobs = session.artifact("jobs")
    if not len(jobs):
        return None
    combined = jobs["widths"].str.contains(r"[+x]", regex=True)
    ranked = jobs.assign(_c=combined, _i=range(len(jobs))).sort_values(["_c", "n_orders", "_i"],
                                                                       ascending=[False, False, True], kind="stable")
    return str(ranked["job_id"].iloc[0])


def merged_job(session, job_id: str | None = None) -> Shown:
    """One job: its orders, one lane per order width, and the fabric the width combination chose."""
    job_id = job_id or example_job(session)
    if job_id is None:
        return Shown("This run has no job: every order is in the unable list below.")
    jobs = session.artifact("jobs").set_index("job_id")
    if job_id not in jobs.index:
        raise KeyError(f"job {job_id!r} is not among the {len(jobs)} jobs of this session")
    job = jobs.loc[job_id]
    members = session.artifact("order_jobs")
    pos = members.loc[members["job_id"] == job_id, "po_no"]
    orders = session.artifact("order_data")
    orders = orders[orders["po_no"].isin(set(pos))][["po_no", "item", "width_mm", "roll_length_m", "length_m", "due"]]
    orders = orders.sort_values(["width_mm", "due", "po_no"], kind="stable").reset_index(drop=True)
    up = _up(job["widths"])
    lanes = orders.groupby("width_mm", sort=False).agg(orders=("po_no", "size"), length_m=("length_m", "sum"))
    lanes["up"] = up
    lanes["fabric_length_m"] = lanes["length_m"] / up
    lane_text = " and ".join(f"{int(w)} mm ({_fmt(r.length_m)} m)" for w, r in lanes.iterrows())
    layout = (f"each lane laid {up} times side by side, so the fabric is 1/{up} as long" if up > 1
              else "one lane per width" if len(lanes) > 1 else "one lane")
    text = (f"Job {job_id}: {int(job['n_orders'])} order(s) of item {job['item']} due in {job['month']} "
            f"(the earliest on {pd.Timestamp(job['due']).date()}) are made together. Widths {lane_text} "
            f"run as '{job['widths']}' on a {int(job['fabric_width_mm'])} mm fabric, {layout}; the fabric "
            f"runs {_fmt(job['fabric_length_m'])} m, the longest lane. Merging saves changeovers; combining "
            "widths saves fabric and machine time.")
    return Shown(text, orders, facts={"job_id": job_id, "lanes": lanes, "up": up,
                                      "fabric_length_m": float(job["fabric_length_m"])})


def unable(session) -> Shown:
    """Orders that cannot be made, by reason, with one example each."""
    frame = session.artifact("unable")
    if not len(frame):
        return Shown("Every order became part of a job: the unable list is empty.", frame, facts={"unable": 0})
    text = (f"{len(frame)} order(s) cannot be made and are listed, never dropped; the detail names the row "
            "and the missing piece (a due date, a routing, a machine, a width combination).")
    return Shown(text, frame, facts={"unable": len(frame)})


# --- 3 yield ----------------------------------------------------------------------------------

def _longest_routing_job(operations: pd.DataFrame) -> str | None:
    if not len(operations):
        return None
    sizes = operations.groupby("job_id", sort=True).size()
    return str(sizes.idxmax())


def yield_steps(session, job_id: str | None = None) -> Shown:
    """One job's routing from the last step back: each step makes enough for the scrap after it."""
    ops = session.artifact("operations")
    job_id = job_id or _longest_routing_job(ops)
    if job_id is None:
        return Shown("This run has no operation, so there is no length to compute.")
    lengths = session.artifact("op_lengths").set_index("op_id")
    mine = ops[ops["job_id"] == job_id].sort_values("seq", ascending=False)
    if not len(mine):
        raise KeyError(f"job {job_id!r} has no operations in this session")
    rows = []
    for op in mine.itertuples():
        got = lengths.loc[op.op_id]
        rows.append({"seq": int(op.seq), "op_id": op.op_id, "operation_code": op.operation_code,
                     "operation": op.operation, "own_yield": float(got["op_yield"]),
                     "source": got["yield_source"], "divisor": float(got["yield"]),
                     "fabric_m": float(got["length_m_input"]), "produce_m": float(got["length_m"]),
                     "step": f"{_fmt(got['length_m_input'])} / {float(got['yield']):.4f} = {_fmt(got['length_m'])} m"})
    frame = pd.DataFrame(rows).set_index("seq")
    policy = session.params.yield_policy
    how = ("the divisor of a step is its own yield times the divisors of the steps after it, read from the "
           "last step back" if policy == "cumulative" else
           "every step uses one factor, the product of the routing's yields")
    first = frame.iloc[-1]
    text = (f"Job {job_id} needs {_fmt(first['fabric_m'])} m of finished fabric. Each step scraps part of what "
            f"it processes, so with the '{policy}' policy {how}; the first step must produce "
            f"{_fmt(first['produce_m'])} m. Yields below min_yield={session.params.min_yield} are raised to it.")
    return Shown(text, frame, facts={"job_id": job_id})


# --- 4 DAG ------------------------------------------------------------------------------------

def job_graph(session, job_id: str | None = None) -> nx.DiGraph:
    """The operation graph of one job (the longest routing when none is named), as a copy."""
    g = session.artifact("dag")
    if job_id is None:
        sizes: dict[str, int] = {}
        for _, data in g.nodes(data=True):
            sizes[data["job"]] = sizes.get(data["job"], 0) + 1
        if not sizes:
            return nx.DiGraph()
        job_id = min(sizes, key=lambda j: (-sizes[j], j))
    nodes = [n for n, d in g.nodes(data=True) if d["job"] == job_id]
    if not nodes:
        raise KeyError(f"job {job_id!r} has no node in the operation graph")
    return g.subgraph(nodes).copy()


def draw_job_graph(session, job_id: str | None = None) -> Shown:
    """One job's graph drawn left to right; each node lists the slots it takes on each machine."""
    from prodsched.jupyter.lesson_charts import graph_figure

    sub = job_graph(session, job_id)
    if not sub.number_of_nodes():
        return Shown("The operation graph is empty: no job reached this stage.")
    job = next(iter(sub.nodes(data=True)))[1]["job"]
    slot = session.artifact("calendar")["slot_minutes"]
    text = (f"Job {job}: one node per operation, an arrow for 'must finish before'. A node lists its eligible "
            f"machines with the time it takes there, in {slot}-minute slots (length / speed, rounded up); an "
            "arrow's label is the aging wait before the next step may start.")
    return Shown(text, figure=graph_figure(sub), facts={"job_id": job, "nodes": sub.number_of_nodes()})


def lower_bounds(session) -> Shown:
    """The two lower bounds on the makespan, with the job whose chain sets the first."""
    g = session.artifact("dag")
    summary = session.summary("dag")
    chains: dict[str, int] = {}
    for op in nx.topological_sort(g):
        data = g.nodes[op]
        before = max((chains.get(p, 0) + g.nodes[p]["aging_slots"] for p in g.predecessors(op)), default=0)
        chains[op] = before + min(data["durations"].values())
    longest = max(chains, key=lambda n: (chains[n], n)) if chains else None
    job = g.nodes[longest]["job"] if longest else "-"
    slot_h = g.graph.get("slot_minutes", 30) / 60
    frame = pd.DataFrame([
        {"bound": "chain", "slots": summary["lb_chain"], "hours": summary["lb_chain"] * slot_h,
         "meaning": f"no job finishes before its routing does; the longest is job {job}'s "
                    "(shortest durations plus aging waits)"},
        {"bound": "load", "slots": summary["lb_load"], "hours": summary["lb_load"] * slot_h,
         "meaning": f"all work at its shortest ({summary['min_work_slots']} slots) shared by "
                    f"{summary['machines_used']} machines"},
    ]).set_index("bound")
    text = (f"No schedule can end before slot {summary['lower_bound']} (the larger bound). Stage 6 measures the "
            "schedule's makespan against it: the gap says how much room an optimiser could still find at most.")
    return Shown(text, frame, facts={"chain_job": job, "lb_chain": max(chains.values(), default=0)})


# --- 5 schedule -------------------------------------------------------------------------------

RULE_IDEAS = {
    "window": "Take the most urgent operation (earliest due date, wider first) and put it on the machine where it "
              "finishes earliest; then let ready operations due within ±window_days with the same mixture, then "
              "the same operation, follow on that machine, as long as none finishes later than it would elsewhere. "
              "Grouping alike work saves changeovers without making anything late.",
    "edd": "Earliest due date first: the most urgent ready operation goes next, where it finishes earliest.",
    "spt": "Shortest processing time first: quick operations go first, which keeps queues short.",
    "mwkr": "Most work remaining first: the job with the longest rest of its routing goes first, "
            "which shortens the makespan.",
    "mwkr_es": "Earliest start, most work remaining: at every step the operation whose earliest start minus the "
               "rest of its job's work is smallest goes next; four passes with different tie-breaks, the best "
               "kept. A makespan rule.",
    "atcs": "Apparent tardiness cost with setups: at every step weigh urgency (slack to the due date) against "
            "processing time and the changeover the operation would cause.",
}


def rule_idea(session) -> Shown:
    """The idea of the rule this run used, in plain words."""
    from prodsched.engine.rules import get_rule

    name = session.params.rule
    idea = RULE_IDEAS.get(str(name).lower()) or get_rule(name).description or f"the user-defined rule {name!r}"
    return Shown(f"Rule '{name}': {idea}", facts={"rule": name})


def gantt_slice(session, machines: int = 3, operations: int = 6) -> Shown:
    """The first few operations on the busiest machines: the rule's choices, changeovers included."""
    from prodsched.jupyter.lesson_charts import slice_figure

    schedule = session.artifact("schedule")
    if not len(schedule):
        return Shown("The schedule is empty: no operation was placed.")
    busiest = schedule["machine"].value_counts(sort=True)
    chosen = sorted(busiest.index[:machines])
    part = (schedule[schedule["machine"].isin(chosen)].sort_values(["machine", "start", "op_id"], kind="stable")
            .groupby("machine", sort=False).head(operations))
    cols = ["machine", "op_id", "job_id", "start", "end", "setup_slots", "mixture", "width_mm", "due"]
    frame = part[cols].reset_index(drop=True)
    setups = int((frame["setup_slots"] > 0).sum())
    text = (f"The first {operations} operations on the {len(chosen)} busiest machines ({', '.join(chosen)}). "
            f"A hatched block before a bar is a changeover ({setups} here): a change of class, mixture or width "
            "costs slots, which is why the rule runs alike work back to back.")
    return Shown(text, frame, figure=slice_figure(frame), facts={"machines": chosen})


FIGURE_NAMES = ("tardiness", "late_jobs", "setup_slots", "makespan")


def objective_figures(session) -> Shown:
    """Every registered objective's value for this schedule; the one the run optimised is marked."""
    from prodsched.engine.objectives import OBJECTIVES

    info = session.artifact("schedule_info")
    used = info.get("objective")
    rows = [{"objective": name, "used": name == used, "value": tuple(value),
             "reads": OBJECTIVES[name].description if name in OBJECTIVES else ""}
            for name, value in sorted(info.get("objectives", {}).items())]
    frame = pd.DataFrame(rows).set_index("objective") if rows else pd.DataFrame()
    text = (f"A schedule is judged by four figures: tardiness {info.get('tardiness_slots')} slots, "
            f"{info.get('late_jobs')} late job(s), {info.get('setup_slots')} setup slots and a makespan of "
            f"{info.get('makespan_slots')} slots. Each objective reads them in its own order (smaller is better); "
            f"this run used '{used}'.")
    return Shown(text, frame, facts={"objective": used})


# --- 6 results --------------------------------------------------------------------------------

KPI_MEANINGS = {
    "on_time_rate": "share of orders finished by their due date",
    "late_orders": "orders finished after their due date",
    "unable_orders": "orders that could not be scheduled",
    "makespan_days": "days from the first start to the last end",
    "utilisation": "share of machine time spent working",
    "setups": "changeovers",
    "setup_loss": "share of machine time lost to changeovers",
    "idle_loss": "share of machine time left idle",
    "gap_to_lower_bound": "how far the makespan is above the lower bound (0.1 = 10 %)",
    "violations": "rules the independent verifier found broken (must be 0)",
}


def kpi_table(session) -> Shown:
    """The headline KPIs with what each one means."""
    kpis = session.artifact("kpis")
    shown = [k for k in KPI_MEANINGS if k in kpis]
    frame = pd.DataFrame({"value": pd.Series([kpis[k] for k in shown], index=shown, dtype=object),
                          "meaning": [KPI_MEANINGS[k] for k in shown]}).rename_axis("kpi")
    text = (f"{kpis.get('scheduled_orders')} of {kpis.get('orders')} orders are scheduled, "
            f"{kpis.get('late_orders')} late. The independent verifier re-checked every rule and found "
            f"{kpis.get('violations')} violation(s).")
    return Shown(text, frame, facts={"late_orders": kpis.get("late_orders")})


def late_orders(session) -> Shown:
    """Orders that finish after their due date, with the reason."""
    frame = session.artifact("late_orders")
    if not len(frame):
        return Shown("No order is late.", frame, facts={"late": 0})
    return Shown(f"{len(frame)} order(s) finish after their due date; the reason says what held each up.",
                 frame, facts={"late": len(frame)})


def gap_reasons(session) -> Shown:
    """Why machines stand still between operations: time per kind of gap, with one example each."""
    gaps = session.artifact("gaps")
    if not len(gaps):
        return Shown("No machine stands still between two operations.", facts={"kinds": {}})
    frame = (gaps.groupby("kind", sort=True)
             .agg(gaps=("slots", "size"), slots=("slots", "sum"), example=("reason", "first"))
             .sort_values(["slots", "gaps"], ascending=False, kind="stable"))
    top = frame.index[0]
    text = (f"Machines stand still {int(frame['slots'].sum())} slots between operations; '{top}' takes the most. "
            "A setup is a changeover; idle means the next operation was not ready (its previous step or "
            "aging wait) — the reason column names which.")
    return Shown(text, frame, facts={"kinds": frame["gaps"].to_dict()})
