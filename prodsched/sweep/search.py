"""Parameter search with Optuna, its trials evaluated as scenarios on the sweep's Dask workers.

A space maps a scenario parameter to a range ``(lo, hi)`` (whole numbers when both ends are whole,
else continuous) or to a list of choices. Trials are asked in batches of ``BATCH`` (independent of
the number of workers, so the same space, trials and seed give the same trials), each is run on
every data set, and the trial's value is the mean over the data sets of the first component of the
scenario's objective value (smaller is better). With ``out`` the study lives in Optuna's RDB
storage in ``out/study.db`` (SQLite) beside the sweep's table; its best parameters and the history
are in ``table.attrs["search"]`` and ``search.json``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prodsched.params import Params
from prodsched.sweep import grid as G

BATCH = 4


@dataclass
class SearchPlan:
    space: dict[str, Any]
    fixed: dict[str, Any]
    trials: int
    base: Params
    datasets: list[tuple[str, str]]


def _bounds(name: str, lo: Any, hi: Any) -> tuple:
    lo, hi = G.check_value(name, lo), G.check_value(name, hi)
    if not lo < hi:
        raise G.GridError(name, f"{lo}:{hi}", "the range must run from low to high", option="space")
    return (lo, hi)


def parse_space(text: str) -> tuple[str, Any]:
    """``"k1=0.5:4"`` -> ("k1", (0.5, 4.0)); ``"rule=window,atcs"`` -> ("rule", ["window", "atcs"])."""
    name, sep, spec = text.partition("=")
    name = name.strip()
    if not sep or not name or not spec.strip():
        raise G.GridError(name or text, text, "write NAME=LO:HI or NAME=A,B,C", option="space")
    G.kind_of(name)
    if ":" in spec:
        lo, _, hi = spec.partition(":")
        return name, _bounds(name, G.parse_value(name, lo), G.parse_value(name, hi))
    return name, [G.parse_value(name, v) for v in spec.split(",")]


def check_search(search: str, space: Mapping[str, Any] | None, trials: int, grid: Mapping[str, Any],
                 base: Params, datasets: Sequence[tuple[str, str]]) -> SearchPlan:
    """Everything about a search checked before anything runs (each range's ends as scenarios)."""
    if search != "optuna":
        raise G.GridError("search", search, "the only search is 'optuna'", option="search")
    import optuna  # noqa: F401 - a missing optuna is reported here, before anything runs

    if not space:
        raise G.GridError("space", space, "a search needs a space, e.g. k1=0.5:4", option="space")
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise G.GridError("trials", trials, "must be a whole number of at least 1", option="trials")
    checked_space: dict[str, Any] = {}
    for name, spec in space.items():
        G.kind_of(name)
        if isinstance(spec, tuple) and len(spec) == 2:
            checked_space[name] = _bounds(name, *spec)
        else:
            values = G.normalise_grid({name: spec})[name]
            checked_space[name] = values
    fixed = {}
    for name, values in G.normalise_grid(grid).items():
        if name in checked_space:
            raise G.GridError(name, values, "is both searched and in the grid", option="space")
        if len(values) != 1:
            raise G.GridError(name, values, "with a search the grid fixes one value per parameter")
        fixed[name] = values[0]
    for _, data in datasets:
        for end in (0, -1):
            corner = {n: s[end] for n, s in checked_space.items()}
            G.checked(base.updated(data=data), {**fixed, **corner})
    return SearchPlan(checked_space, fixed, trials, base, list(datasets))


def suggest(trial, space: Mapping[str, Any]) -> dict[str, Any]:
    values = {}
    for name, spec in space.items():
        if isinstance(spec, tuple):
            lo, hi = spec
            whole = isinstance(lo, int) and isinstance(hi, int)
            values[name] = trial.suggest_int(name, lo, hi) if whole else trial.suggest_float(name, float(lo), float(hi))
        else:
            values[name] = trial.suggest_categorical(name, list(spec))
    return values


def first_value(row: Mapping[str, Any]) -> float:
    return float(str((row.get("kpis") or {})["objective_value"]).split(",")[0])


def run_search(client, shared, prepared, plan: SearchPlan, store, out, seed: int, cancel, progress=False):
    """Ask, run (on the workers), tell; returns (scenarios, outcomes, search info)."""
    import optuna

    from prodsched.sweep.run import collect, show_progress, submit

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = f"sqlite:///{Path(out).resolve() / 'study.db'}" if out is not None else None
    name = f"prodsched-sweep-{uuid.uuid4().hex[:8]}"
    study = optuna.create_study(study_name=name, storage=storage, direction="minimize",
                                sampler=optuna.samplers.TPESampler(seed=seed))
    scenarios: list[G.Scenario] = []
    outcomes: dict[int, dict] = {}
    items = {d: p.items for d, p in prepared.items()}
    history = []
    for start in range(0, plan.trials, BATCH):
        if cancel is not None and cancel.is_set():
            break
        batch = []
        for _ in range(min(BATCH, plan.trials - start)):
            trial = study.ask()
            values = {**plan.fixed, **suggest(trial, plan.space)}
            mine = []
            for label, data in plan.datasets:
                params = G.checked(plan.base.updated(data=data), values)
                mine.append(G.Scenario(len(scenarios), label, data, {"trial": trial.number, **values}, params))
                scenarios.append(mine[-1])
            batch.append((trial, mine))
        todo = [s for _, mine in batch for s in mine]
        futures = submit(client, shared, todo, store)
        show_progress(client, futures, progress)  # one bar per batch of trials
        outcomes.update(collect(client, futures, todo, store, cancel, items))
        for trial, mine in batch:
            rows = [outcomes[s.index]["row"] for s in mine]
            if all(r.get("status") == "done" for r in rows):
                value = sum(first_value(r) for r in rows) / len(rows)
                study.tell(trial, value)
                history.append({"trial": trial.number, "value": value, "state": "complete", "params": trial.params})
            else:
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
                history.append({"trial": trial.number, "value": None, "state": "fail", "params": trial.params})
    complete = [h for h in history if h["state"] == "complete"]
    info = {"sampler": f"TPESampler(seed={seed})", "trials": len(history), "study_name": name,
            "storage": str(Path(out).resolve() / "study.db") if out is not None else None,
            "best_value": study.best_value if complete else None,
            "best_params": study.best_params if complete else {},
            "best_trial": study.best_trial.number if complete else None, "history": history}
    return scenarios, outcomes, info
