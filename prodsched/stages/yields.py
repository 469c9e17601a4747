"""Stage 3 — production length per operation from the yields.

Per (item, operation) the yield is the mean of the yield_data observations (any machines),
clamped below at ``params.min_yield``; a pair without observations has yield 1 (warned).

Policies:
  cumulative (default)  backward through each job's routing, so scrap at later steps is covered:
                        the last operation produces fabric_length / y_last, operation k produces
                        length(k+1) / y_k — i.e. length_k = fabric_length / (y_k · y_k+1 · … · y_n).
  item_product          one factor per item, the product of its operations' yields, applied to
                        every operation: length_k = fabric_length / (y_1 · … · y_n).

Artifact ``op_lengths``: op_id, yield (the divisor applied, so length_m = length_m_input / yield),
yield_source (of this operation's own yield: observed / clamped / missing), length_m_input,
length_m, op_yield (this operation's own yield after clamping).
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd

from prodsched.errors import ProdschedError
from prodsched.params import Params
from prodsched.stages import StageResult
from prodsched.stages.preprocess import checkpoint, table

POLICIES = ("cumulative", "item_product")
COLUMNS = ["op_id", "yield", "yield_source", "length_m_input", "length_m", "op_yield"]


def pair_yields(yield_data: pd.DataFrame, min_yield: float) -> pd.DataFrame:
    """Mean observed yield per (item, operation), clamped below at min_yield; column yield_source."""
    values = pd.to_numeric(yield_data["yield"], errors="coerce").astype(float)
    bad = values.notna() & ((values <= 0) | (values > 1))
    if bad.any():
        first = bad.idxmax()
        row = yield_data["_row"].loc[first] if "_row" in yield_data.columns else int(np.argmax(bad.to_numpy())) + 1
        raise ProdschedError(f"yield_data row {row}, column yield: value {values.loc[first]} is outside (0, 1]")
    obs = pd.DataFrame({"item": yield_data["item"].astype(str), "operation": yield_data["operation"].astype(str),
                        "y": values}).dropna(subset=["y"])
    mean = obs.groupby(["item", "operation"], sort=True)["y"].mean().rename("op_yield").reset_index()
    clamped = mean["op_yield"] < min_yield - 1e-12  # a mean of 0.9 computed as 0.8999… is not clamped
    mean["yield_source"] = np.where(clamped, "clamped", "observed")
    mean["op_yield"] = mean["op_yield"].clip(lower=min_yield)
    return mean


def run(inputs: Mapping[str, Any], params: Params, progress=None, cancel=None) -> StageResult:
    checkpoint(progress, cancel, 0.0, "reading yields", "yield")
    policy = str(params.yield_policy or "cumulative").strip().lower()
    if policy not in POLICIES:
        raise ProdschedError(f"yield_policy {params.yield_policy!r} is unknown; choose one of {', '.join(POLICIES)}")
    min_yield = params.min_yield
    if isinstance(min_yield, bool) or not isinstance(min_yield, (int, float)) or not 0 < min_yield <= 1:
        raise ProdschedError(f"min_yield must be a number in (0, 1], got {min_yield!r}")
    ops = table(inputs, "operations", ["op_id", "job_id", "seq", "item", "operation", "length_m"])
    ydata = table(inputs, "yield_data", ["item", "operation", "yield"])
    pairs = pair_yields(ydata, float(min_yield))

    ops = ops[["op_id", "job_id", "seq", "item", "operation", "length_m"]].merge(
        pairs, on=["item", "operation"], how="left")
    missing = ops["op_yield"].isna()
    ops["op_yield"] = ops["op_yield"].fillna(1.0)
    ops["yield_source"] = ops["yield_source"].where(~missing, "missing")
    checkpoint(progress, cancel, 0.5, f"applying the {policy} policy", "yield")
    if policy == "cumulative":
        ops = ops.sort_values(["job_id", "seq"], ascending=[True, False], kind="stable")
        ops["yield"] = ops.groupby("job_id", sort=False)["op_yield"].cumprod()
    else:
        routing = ops.drop_duplicates(["job_id", "seq"])
        per_item = routing.groupby("job_id")["op_yield"].prod().rename("yield")
        ops = ops.merge(per_item, left_on="job_id", right_index=True, how="left")
    ops = ops.sort_values(["job_id", "seq"], kind="stable")
    out = pd.DataFrame({
        "op_id": ops["op_id"].astype(str).to_numpy(),
        "yield": ops["yield"].astype(float).to_numpy(),
        "yield_source": ops["yield_source"].astype(str).to_numpy(),
        "length_m_input": ops["length_m"].astype(float).to_numpy(),
        "length_m": (ops["length_m"] / ops["yield"]).astype(float).to_numpy(),
        "op_yield": ops["op_yield"].astype(float).to_numpy(),
    })

    warnings: list[str] = []
    miss_pairs = ops.loc[ops["yield_source"] == "missing", ["item", "operation"]].drop_duplicates()
    if len(miss_pairs):
        shown = ", ".join(f"{i}/{o}" for i, o in zip(miss_pairs["item"][:5], miss_pairs["operation"][:5]))
        more = f" … ({len(miss_pairs)} in all)" if len(miss_pairs) > 5 else ""
        warnings.append(f"yield_data: no yield for item/operation {shown}{more}; yield 1 is used")
    clamped = ops.loc[ops["yield_source"] == "clamped", ["item", "operation"]].drop_duplicates()
    if len(clamped):
        warnings.append(f"yield_data: {len(clamped)} item/operation mean yield(s) below min_yield "
                        f"{min_yield} raised to it")
    counts = out["yield_source"].value_counts()
    total_in = float(out["length_m_input"].sum())
    total_out = float(out["length_m"].sum())
    checkpoint(progress, cancel, 1.0, "done", "yield")
    summary = {
        "operations": int(len(out)),
        "policy": policy,
        "min_yield": float(min_yield),
        "observed": int(counts.get("observed", 0)),
        "clamped": int(counts.get("clamped", 0)),
        "missing": int(counts.get("missing", 0)),
        "length_m_input": round(total_in, 3),
        "length_m": round(total_out, 3),
        "extra_pct": round(100.0 * (total_out / total_in - 1.0), 3) if total_in > 0 else 0.0,
        "warnings": warnings,
    }
    return StageResult(artifacts={"op_lengths": out}, summary=summary)
