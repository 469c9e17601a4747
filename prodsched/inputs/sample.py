"""A synthetic, plant-shaped coating/laminating factory (deterministic per seed).

``generate_tables(orders, seed)`` returns the 12 canonical tables: machines of four kinds
(coaters ``C01``.., laminators ``L01``.., printers ``P01``.., finishing lines ``F01``..),
6-8 operation classes with a changeover matrix, mixtures ``MX-017``, routings of 1-5 operations
(some with an aging wait after a coating step), speeds with gaps, plant width families, yields,
downtime, a few allocations/limits that keep every operation feasible, and orders due over 2-3
months from 2026-01-05. The factory (machines, operations, items) depends only on the seed (and
on the item count, which grows past 600 orders); the orders use their own random stream.

A factory of 10-16 machines takes about BASE_ORDERS orders over its 2-3 months. Past that the
plant grows with the orders so that it stays as loaded: machines by the square root of
orders / BASE_ORDERS (at most MAX_MACHINES) and the span of due dates by the rest, so machines x
days grows like the orders (15,000 orders: about 3x the machines over about 3x the months).
Up to BASE_ORDERS orders the factory of a seed is the same whatever the order count.

``tightness`` (default 1) sets how hard the orders press on that plant: their due dates fall
within the plant's span of due dates divided by ``tightness`` (at least one day), so 2 asks for
the same work in half the days and 0.5 spreads it over twice the days. Only the due dates move:
the factory, the items and every other column of the orders stay those of the seed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

START = pd.Timestamp("2026-01-05")
BASE_ORDERS = 1500  # orders the base factory (10-16 machines, 60-90 days of due dates) takes
MAX_MACHINES = 120
# class -> (machine kind, operations); the first four classes are always present
CATALOGUE: dict[str, tuple[str, tuple[str, ...]]] = {
    "SR": ("C", ("SR코팅", "SR탑코팅")),
    "EPU": ("C", ("EPU코팅", "EPU접착")),
    "후처리": ("F", ("후처리", "엠보")),
    "인쇄": ("P", ("그라비아인쇄", "로터리인쇄")),
    "염료": ("C", ("염료코팅",)),
    "안료": ("C", ("안료코팅", "안료톱")),
    "투명": ("C", ("투명코팅",)),
    "라미": ("L", ("라미네이팅", "핫멜트라미")),
}
KIND_NAMES = {"C": "코팅기", "L": "라미기", "P": "인쇄기", "F": "후처리기"}
WIDTH_FAMILIES = ((1524,), (508, 1016), (609, 914), (762,), (1100,), (1372,))
WIDTH_WEIGHTS = (0.34, 0.2, 0.16, 0.15, 0.08, 0.07)
ROLL_LENGTHS = (50.0, 100.0, 200.0)
FABRICS = ("나일론", "폴리에스터", "면혼방", "TPU필름", "스판덱스")
COLOURS = ("블랙", "네이비", "화이트", "카키", "그레이", "베이지")


def _machines(rng: np.random.Generator, n: int) -> pd.DataFrame:
    n = int(np.clip(n, 8, MAX_MACHINES))
    share = np.array([0.45, 0.2, 0.15, 0.2])
    counts = np.maximum(2, np.floor(share * n).astype(int))
    counts[0] += n - counts.sum()  # coaters absorb the rest
    rows = []
    for kind, count in zip("CLPF", counts):
        for k in range(1, int(count) + 1):
            rows.append({"machine": f"{kind}{k:02d}", "machine_name": f"{KIND_NAMES[kind]} {k}호"})
    frame = pd.DataFrame(rows)
    frame.insert(1, "machine_index", np.arange(1, len(frame) + 1, dtype="int64"))
    return frame


def _operations(rng: np.random.Generator, machines: pd.DataFrame,
                spread: float = 1.0) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    extra = list(CATALOGUE)[4:]
    n_classes = int(rng.integers(6, 9))
    chosen = list(CATALOGUE)[:4] + [extra[i] for i in sorted(rng.permutation(len(extra))[: n_classes - 4])]
    by_kind = {k: [m for m in machines["machine"] if m[0] == k] for k in "CLPF"}
    rows, capable = [], {}
    for ci, cls in enumerate(chosen, start=1):
        kind, names = CATALOGUE[cls]
        for oi, name in enumerate(names, start=1):
            pool = by_kind[kind] + (by_kind["L"] if kind == "C" and rng.random() < 0.3 else [])
            size = int(rng.integers(2, len(pool) + 1))
            size = min(len(pool), round(size * spread))  # a grown plant has more machines per operation
            capable[name] = sorted(rng.choice(pool, size=size, replace=False).tolist())
            rows.append({"operation_code": f"P{ci}{oi:02d}", "operation": name, "op_class": cls})
    return pd.DataFrame(rows), capable


def _routings(rng: np.random.Generator, items: list[str], ops: pd.DataFrame) -> pd.DataFrame:
    kind = {row.operation: CATALOGUE[row.op_class][0] for row in ops.itertuples()}
    coats = [o for o in ops["operation"] if kind[o] in "CL"]
    prints = [o for o in ops["operation"] if kind[o] == "P"]
    finish = [o for o in ops["operation"] if kind[o] == "F"]
    code = dict(zip(ops["operation"], ops["operation_code"]))
    cls_of = dict(zip(ops["operation"], ops["op_class"]))
    cls_index = {c: i for i, c in enumerate(dict.fromkeys(ops["op_class"]))}
    rows = []
    n = len(items)
    n_coat = rng.choice([1, 2, 3], size=n, p=[0.4, 0.42, 0.18])
    coat_pick = rng.random((n, len(coats))).argsort(axis=1)
    has_print, has_finish = rng.random(n) < 0.35, rng.random(n) < 0.6
    print_pick, finish_pick = rng.integers(0, len(prints), n), rng.integers(0, len(finish), n)
    aging_draw, aging_hours = rng.random((n, 5)), rng.choice([12.0, 24.0], size=(n, 5))
    mix_draw, mix_num = rng.random((n, 5)), rng.integers(0, 24, size=(n, 5))
    for i, item in enumerate(items):
        route = [coats[j] for j in coat_pick[i, : n_coat[i]]]
        if has_print[i]:
            route.append(prints[print_pick[i]])
        if has_finish[i] or not route:
            route.append(finish[finish_pick[i]])
        route = route[:5]
        for s, op in enumerate(route):
            k = kind[op]
            with_mix = (k in "CL" and mix_draw[i, s] < 0.88) or (k == "P" and mix_draw[i, s] < 0.5)
            mixture = f"MX-{cls_index[cls_of[op]] * 24 + mix_num[i, s] + 1:03d}" if with_mix else ""
            aging = aging_hours[i, s] if (k in "CL" and s < len(route) - 1 and aging_draw[i, s] < 0.3) else 0.0
            rows.append((item, code[op], op, mixture, s + 1, aging))
    return pd.DataFrame(rows, columns=["item", "operation_code", "operation", "mixture", "seq", "aging_hours"])


def _speeds(rng: np.random.Generator, routing: pd.DataFrame, capable: dict[str, list[str]]) -> pd.DataFrame:
    base = {op: rng.uniform(10, 35) for op in capable}
    machine_factor = {m: rng.uniform(0.75, 1.3) for m in sorted({m for ms in capable.values() for m in ms})}
    rows = []
    pairs = routing[["item", "operation"]].drop_duplicates().itertuples(index=False)
    for item, op in pairs:
        ms = capable[op]
        keep = rng.random(len(ms)) < 0.78
        if not keep.any():
            keep[rng.integers(0, len(ms))] = True
        item_factor = rng.uniform(0.7, 1.3)
        for m, k in zip(ms, keep):
            if k:
                speed = base[op] * machine_factor[m] * item_factor * rng.uniform(0.9, 1.1)
                rows.append((item, op, m, float(np.clip(np.round(speed * 2) / 2, 5.0, 50.0))))
    return pd.DataFrame(rows, columns=["item", "operation", "machine", "speed_m_min"])


def _constraints(rng, routing, speeds, capable, spread: float = 1.0):
    """A few allocations and limits; speeds are filled in so every operation stays feasible.
    An allocation names ``spread`` times as many machines in a grown plant (see plant_size)."""
    ops = sorted({op for op, ms in capable.items() if len(ms) >= 3 and op in set(routing["operation"])})
    picks = [ops[i] for i in rng.permutation(len(ops))[: min(len(ops), int(rng.integers(4, 7)))]]
    alloc_ops, limit_ops = picks[: len(picks) // 2], picks[len(picks) // 2:]
    allocate, limit, fill = [], [], []
    have = speeds.groupby(["item", "operation"])["machine"].agg(set).to_dict()
    mean_speed = speeds.groupby(["operation", "machine"])["speed_m_min"].mean().to_dict()
    for op in alloc_ops:
        size = int(rng.integers(1, 3))
        size = min(len(capable[op]), max(size, round(size * spread)))
        chosen = sorted(rng.choice(capable[op], size=size, replace=False).tolist())
        allocate += [(op, m) for m in chosen]
        for item in routing.loc[routing["operation"] == op, "item"].unique():
            if not have[(item, op)] & set(chosen):
                m = chosen[0]
                fill.append((item, op, m, mean_speed.get((op, m), 20.0)))
    for op in limit_ops:
        m = capable[op][int(rng.integers(0, len(capable[op])))]
        limit.append((op, m))
        for item in routing.loc[routing["operation"] == op, "item"].unique():
            if not have[(item, op)] - {m}:
                other = next(x for x in capable[op] if x != m)
                fill.append((item, op, other, mean_speed.get((op, other), 20.0)))
    if fill:
        extra = pd.DataFrame(fill, columns=speeds.columns)
        extra["speed_m_min"] = np.clip(np.round(extra["speed_m_min"] * 2) / 2, 5.0, 50.0)
        speeds = pd.concat([speeds, extra], ignore_index=True)
    return (pd.DataFrame(allocate, columns=["operation", "machine"]),
            pd.DataFrame(limit, columns=["operation", "machine"]), speeds)


def _items(rng: np.random.Generator, n: int) -> pd.DataFrame:
    family = rng.choice(len(WIDTH_FAMILIES), size=n, p=WIDTH_WEIGHTS)
    names = [f"{FABRICS[a]} {c}" for a, c in zip(rng.integers(0, len(FABRICS), n),
                                                  rng.choice(COLOURS, size=n))]
    rolls = rng.choice([0, 1, 2, 3], size=n, p=[0.25, 0.45, 0.15, 0.15])  # 50 / 100 / 200 / 100+200
    return pd.DataFrame({"item": [f"G{10001 + i}" for i in range(n)], "item_name": names,
                         "family": family, "rolls_kind": rolls})


def _orders(rng: np.random.Generator, items: pd.DataFrame, n: int, span_days: int) -> pd.DataFrame:
    k = len(items)
    popularity = 1.0 / (1.0 + rng.permutation(k)) ** 0.7
    idx = rng.choice(k, size=n, p=popularity / popularity.sum())
    fam = items["family"].to_numpy()[idx]
    widths = np.array([(f + (f[0],))[:2] if len(f) == 1 else f for f in WIDTH_FAMILIES])
    n_widths = np.array([len(f) for f in WIDTH_FAMILIES])
    width = widths[fam, (rng.random(n) * n_widths[fam]).astype(int)]
    kind = items["rolls_kind"].to_numpy()[idx]
    roll_opts = np.array([[50.0, 50.0], [100.0, 100.0], [200.0, 200.0], [100.0, 200.0]])
    roll = roll_opts[kind, rng.integers(0, 2, n)]
    rolls = np.clip(np.round(rng.lognormal(3.9, 0.6, n)), 5, 300)
    days = rng.integers(0, span_days, n)
    due = START + pd.to_timedelta(days, unit="D")
    due = due + pd.to_timedelta((due.day_of_week == 6).astype(int), unit="D")  # no Sunday dues
    return pd.DataFrame({
        "po_no": [f"PO26-{i + 1:05d}" for i in range(n)],
        "item": items["item"].to_numpy()[idx],
        "item_name": items["item_name"].to_numpy()[idx],
        "width_mm": width.astype("int64"),
        "roll_length_m": roll,
        "rolls": rolls,
        "length_m": roll * rolls,
        "due": due.astype("datetime64[ns]"),
    })


def _rest(rng: np.random.Generator, machines: pd.DataFrame, span_days: int) -> pd.DataFrame:
    rows = []
    for code, index in zip(machines["machine"], machines["machine_index"]):
        k = int(rng.integers(1, 4))
        segment = span_days / k
        for s in range(k):
            day = int(s * segment + rng.integers(0, max(1, int(segment) - 2)))
            start = START + pd.Timedelta(days=day, hours=int(rng.choice([0, 6, 8, 14, 22])))
            hours = int(rng.choice([4, 8, 12, 24, 48], p=[0.2, 0.3, 0.2, 0.2, 0.1]))
            rows.append((code, int(index), start, start + pd.Timedelta(hours=hours)))
    frame = pd.DataFrame(rows, columns=["machine", "machine_index", "start", "end"])
    return frame.astype({"start": "datetime64[ns]", "end": "datetime64[ns]"})


def plant_size(orders: int, base_machines: int, base_span_days: int,
               machines: int | None = None) -> tuple[int, int]:
    """(machines, span of due dates in days) of a factory for ``orders`` (see the module doc)."""
    scale = max(1.0, orders / BASE_ORDERS)
    n = int(machines) if machines is not None else min(MAX_MACHINES, round(base_machines * np.sqrt(scale)))
    n = int(np.clip(n, 8, MAX_MACHINES))
    span = round(base_span_days * scale * base_machines / n) if scale > 1 else base_span_days
    return n, int(max(span, base_span_days))


def due_span(span_days: int, tightness: float) -> int:
    """Days the due dates spread over: the plant's span divided by ``tightness`` (>= 1 day)."""
    return max(1, round(span_days / tightness))


def generate_tables(orders: int = 150, seed: int = 0, machines: int | None = None,
                    items: int | None = None, tightness: float = 1.0) -> dict[str, pd.DataFrame]:
    """The 12 canonical input tables of a synthetic factory (no ``_row`` column)."""
    if orders < 1:
        raise ValueError("orders must be >= 1")
    if isinstance(tightness, bool) or not isinstance(tightness, (int, float)) or not tightness > 0 \
            or not np.isfinite(tightness):
        raise ValueError(f"tightness must be a number > 0, got {tightness!r}")
    factory, order_rng = np.random.default_rng(seed).spawn(2)
    base_machines = int(machines) if machines is not None else int(factory.integers(10, 17))
    span_days = int(factory.integers(60, 91))
    n_machines, span_days = plant_size(orders, base_machines, span_days, machines)
    master = _machines(factory, n_machines)
    types, capable = _operations(factory, master, n_machines / base_machines)
    classes = list(dict.fromkeys(types["op_class"]))
    c = len(classes)
    delay = factory.integers(1, 7, size=(c, c))
    delay[factory.random((c, c)) < 0.12] = 0
    np.fill_diagonal(delay, factory.integers(0, 2, size=c))
    operation_delay = pd.DataFrame([(a, b, int(delay[i, j])) for i, a in enumerate(classes)
                                    for j, b in enumerate(classes)],
                                   columns=["from_class", "to_class", "setup_slots"])
    width_change = pd.DataFrame({
        "machine_index": master["machine_index"], "machine_name": master["machine_name"],
        "long_to_short": factory.integers(1, 4, len(master)), "short_to_long": factory.integers(0, 3, len(master)),
        "machine": master["machine"]}).astype({"long_to_short": "int64", "short_to_long": "int64"})
    rest = _rest(factory, master, span_days)
    item_rng = np.random.default_rng([seed, 7])  # item count may vary: keep it off the factory stream
    n_items = int(items) if items is not None else max(60, orders // 10)
    item_table = _items(item_rng, n_items)
    routing = _routings(item_rng, item_table["item"].tolist(), types)
    speeds = _speeds(item_rng, routing, capable)
    allocate, limit, speeds = _constraints(item_rng, routing, speeds, capable, n_machines / base_machines)
    order_table = _orders(order_rng, item_table, orders, due_span(span_days, tightness))
    pairs = routing[["item", "operation"]].to_numpy()
    n_obs = item_rng.integers(1, 5, len(pairs))
    rep = np.repeat(np.arange(len(pairs)), n_obs)
    machine_of = speeds.groupby(["item", "operation"], sort=False)["machine"].agg(list).to_dict()
    obs_machines = [machine_of[(pairs[i][0], pairs[i][1])] for i in rep]
    yields = pd.DataFrame({
        "item": pairs[rep, 0], "operation": pairs[rep, 1],
        "machines": [ms[int(u * len(ms))] for ms, u in zip(obs_machines, item_rng.random(len(rep)))],
        "yield": np.round(0.85 + 0.15 * item_rng.beta(5.0, 1.6, len(rep)), 3),
    })
    wide = routing.pivot(index="item", columns="seq", values="operation").reindex(item_table["item"])
    gitem = pd.DataFrame({"item": item_table["item"]})
    for k in range(1, 8):
        gitem[f"op{k}"] = wide[k].fillna("").to_numpy() if k in wide else ""
    return {
        "order_data": order_table,
        "operation_sequence": routing,
        "linespeed": speeds.sort_values(["item", "operation", "machine"], kind="stable").reset_index(drop=True),
        "machine_master_info": master,
        "yield_data": yields,
        "gitem_operation": gitem.astype(object),
        "operation_types": types,
        "operation_delay": operation_delay,
        "width_change": width_change,
        "machine_rest": rest,
        "machine_allocate": allocate,
        "machine_limit": limit,
    }


def write_sample(out: str | Path, orders: int = 150, seed: int = 0, form: str = "csv",
                 **options) -> Path:
    """Generate the sample factory and write it (``form`` as in ``prodsched.inputs.read.write_tables``)."""
    from prodsched.inputs.write import write_tables
    tables = generate_tables(orders=orders, seed=seed, **options)
    return write_tables(tables, out, form=form, linespeed="wide")
