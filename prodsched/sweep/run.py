"""``prodsched.sweep``: many scenarios on a Dask cluster, one row per scenario.

Execution: a ``distributed.LocalCluster`` of single-threaded worker processes (one per CPU by
default, ``workers=N``) or an existing scheduler (``cluster="tcp://host:8786"``, a ``Client`` or a
cluster object). Stages 1-4 run once per data set on the client; their artifacts are scattered to
the workers once. A scenario whose worker dies is rescheduled by the Dask scheduler on another
worker (up to ``distributed.scheduler.allowed-failures`` times, then its row is "failed" with the
error). Cancel (the ``cancel`` event, or Ctrl-C) stops the sweep: finished rows are kept, the others
are "cancelled".
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from prodsched.errors import ParameterError
from prodsched.params import Params
from prodsched.stages.checks import check_params
from prodsched.sweep import grid as G
from prodsched.sweep.record import write_session
from prodsched.sweep.table import frame, write_outputs
from prodsched.sweep.task import prepare, run_scenario


def datasets_of(data: str | os.PathLike | Sequence[str | os.PathLike]) -> list[tuple[str, str]]:
    """(label, absolute path) per data set; a missing one is a ParameterError naming it."""
    paths = [data] if isinstance(data, (str, os.PathLike)) else list(data)
    if not paths:
        raise ParameterError("data", [], "give at least one data set")
    out, labels = [], set()
    for p in paths:
        path = Path(p).resolve()
        if not path.exists():
            raise ParameterError("data", str(p), "no such file or folder")
        label = path.name if path.name not in labels else str(path)
        labels.add(label)
        out.append((label, str(path)))
    return out


def connect(cluster: Any = None, workers: int | None = None):
    """(client, close) for ``cluster``: None = a new LocalCluster; ``close`` shuts what was made here."""
    from distributed import Client, LocalCluster

    if isinstance(cluster, Client):
        return cluster, lambda: None
    if cluster is None:
        n = workers or max(1, len(os.sched_getaffinity(0)))
        local = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0",
                             silence_logs=logging.ERROR)
        client = Client(local)

        def close() -> None:
            client.close()
            local.close()
        return client, close
    client = Client(cluster, timeout="20s")
    if workers:
        client.wait_for_workers(workers, timeout=60)
    return client, client.close


def shared_store(store: Any) -> str | None:
    """The URL workers write sessions to (a Redis store), or None (the client stores them)."""
    if store is False:
        return None
    from prodsched.store import default_location

    target = str(store) if store is not None else default_location()
    return target if target.split("://", 1)[0].lower() in ("redis", "rediss") else None


def show_progress(client, futures: list, mode: Any) -> None:
    """Dask's progress bar: a widget in a notebook kernel, text on the terminal (False: none)."""
    if mode is False or not futures:
        return
    from distributed.diagnostics.progressbar import ProgressWidget, TextProgressBar

    in_kernel = "ipykernel" in sys.modules and mode != "text"
    if in_kernel:
        from IPython.display import display

        bar = ProgressWidget(futures, scheduler=client.scheduler.address, complete=True)
        display(bar.widget)
    else:
        bar = TextProgressBar(futures, scheduler=client.scheduler.address, complete=True, start=False)
    client.loop.add_callback(bar.listen)


def sweep(data, grid: Mapping[str, Iterable[Any]] | None = None, search: str | None = None, cluster: Any = None, *,
          seeds: Iterable[int] | str | None = None, params: Params | Mapping[str, Any] | None = None,
          store: Any = None, out: str | os.PathLike | None = None, workers: int | None = None,
          trials: int = 20, space: Mapping[str, Any] | None = None, search_seed: int = 0,
          progress: Any = "auto", cancel: threading.Event | None = None) -> pd.DataFrame:
    """Run every scenario of ``grid`` (x ``seeds``) on every data set in ``data``; one row each.

    ``params`` are the fixed parameters (e.g. objective, improve_iterations); ``store`` where the
    scenario sessions go (None: the configured store; False: none); ``out`` a folder for
    sweep.parquet, sweep.csv, tradeoff.png and summary.md. ``search="optuna"`` with ``space``
    (e.g. ``{"k1": (0.5, 4.0)}``) and ``trials`` runs a parameter search instead of (or over)
    the grid's first values; see :mod:`prodsched.sweep.search`.
    """
    datasets = datasets_of(data)
    base = check_params(Params.from_dict(dict(params)) if isinstance(params, Mapping) else (params or Params()),
                        data_exists=False)
    grid = dict(grid or {})
    if seeds is not None:
        if "seed" in grid:
            raise G.GridError("seed", seeds, "is given both as seeds and in the grid")
        grid["seed"] = G.parse_seeds(seeds) if isinstance(seeds, str) else list(seeds)
    if search is not None:
        from prodsched.sweep.search import check_search

        plan = check_search(search, space, trials, grid, base, datasets)
        scenarios = []
    else:
        scenarios = G.expand(datasets, grid, base)  # every scenario checked before anything runs
    if out is not None:
        Path(out).mkdir(parents=True, exist_ok=True)
    prepared = {d: prepare(label, d, base) for label, d in datasets}
    client, close = connect(cluster, workers)
    try:
        shared = {d: client.scatter(p, broadcast=True, hash=False) for d, p in prepared.items()}
        if search is not None:
            from prodsched.sweep.search import run_search

            scenarios, outcomes, info = run_search(client, shared, prepared, plan, store, out, search_seed, cancel, progress)
        else:
            outcomes = run_all(client, shared, prepared, scenarios, store, progress, cancel)
            info = None
    finally:
        close()
    table = frame(scenarios, outcomes)
    table.attrs["prepare_s"] = {p.dataset: round(p.seconds, 3) for p in prepared.values()}
    if info is not None:
        table.attrs["search"] = info
    if out is not None:
        write_outputs(table, Path(out))
    return table


def submit(client, shared: Mapping[str, Any], scenarios: Sequence[G.Scenario], store: Any) -> list:
    target = shared_store(store)
    tag = uuid.uuid4().hex[:10]
    return [client.submit(run_scenario, shared[s.data], s.index, s.params.to_dict(), target,
                          key=f"prodsched-scenario-{tag}-{s.index}", pure=False, retries=0) for s in scenarios]


def collect(client, futures: list, scenarios: Sequence[G.Scenario], store: Any,
            cancel: threading.Event | None, items: Mapping[str, Mapping[str, bytes]]) -> dict[int, dict]:
    """Results as they finish (sessions stored on the client when the store is not shared)."""
    from distributed import as_completed

    target = shared_store(store)
    outcomes: dict[int, dict] = {}
    by_key = {f.key: s for f, s in zip(futures, scenarios)}
    pending = as_completed(futures, with_results=False)
    try:
        while not pending.is_empty():
            if cancel is not None and cancel.is_set():
                break
            batch = pending.next_batch(block=False) or _next(pending, cancel)
            for fut in batch:
                scenario = by_key[fut.key]
                outcomes[scenario.index] = outcome(fut, scenario, store, target, items[scenario.data])
    except KeyboardInterrupt:
        pass
    finally:
        left = [f for f in futures if by_key[f.key].index not in outcomes]
        if left:
            client.cancel(left)
    for s in scenarios:
        outcomes.setdefault(s.index, {"row": {"scenario": s.index, "status": "cancelled",
                                              "error": "the sweep was cancelled", "verified": False}})
    return outcomes


def _next(pending, cancel) -> list:
    """Wait a little for the next result (so a cancel is seen within a second)."""
    for _ in range(10):
        batch = pending.next_batch(block=False)
        if batch or pending.is_empty() or (cancel is not None and cancel.is_set()):
            return batch
        time.sleep(0.1)
    return []


def outcome(fut, scenario: G.Scenario, store: Any, target: str | None, shared_items: Mapping[str, bytes]) -> dict:
    """The scenario's result; its session is written here when the store is not shared."""
    if fut.status == "cancelled":
        return {"row": {"scenario": scenario.index, "status": "cancelled", "verified": False,
                        "error": "cancelled on the cluster"}}
    if fut.status != "finished":
        exc = fut.exception()
        return {"row": {"scenario": scenario.index, "status": "failed", "verified": False,
                        "error": f"{type(exc).__name__}: {exc}"}}
    result = fut.result()
    workers = fut.client.who_has([fut]).get(fut.key) or ()
    result["row"]["worker"] = workers[0] if workers else None
    if result.get("items") is not None and store is not False and target is None:
        result["session_id"] = write_session(store, scenario.params.to_dict(), {**shared_items, **result["items"]})
    result["items"] = None
    fut.release()
    return result


def run_all(client, shared, prepared, scenarios, store, progress, cancel) -> dict[int, dict]:
    futures = submit(client, shared, scenarios, store)
    show_progress(client, futures, progress)
    return collect(client, futures, scenarios, store, cancel, {d: p.items for d, p in prepared.items()})
