"""Columns of the result tables (DESIGN §5 output contract), defined once for every writer."""

from __future__ import annotations

from prodsched.inputs.report import COLUMNS as _VALIDATION

SCHEDULE_COLUMNS = [
    "op_id", "job_id", "po_nos", "item", "operation", "op_class", "mixture", "seq", "width_mm",
    "length_m", "machine", "start", "end", "start_time", "end_time", "setup_slots", "aging_slots",
    "due",
]
ORDER_COLUMNS = [
    "po_no", "item", "job_id", "due", "end_time", "late_days", "late_whole_days", "status", "reason",
]
MACHINE_COLUMNS = [
    "machine", "machine_name", "operations", "work_slots", "setup_slots", "busy_slots",
    "downtime_slots", "idle_slots", "idle_between_slots", "setups", "first_start", "last_end",
    "utilisation", "utilisation_available", "setup_loss", "idle_loss", "downtime_loss",
]
GAP_COLUMNS = [
    "machine", "position", "prev_op", "next_op", "start", "end", "slots", "start_time", "end_time",
    "setup_slots", "downtime_slots", "idle_slots", "kind", "reason",
]
SETUP_COLUMNS = ["op_id", "machine", "prev_op", "setup_slots", "type_slots", "width_slots", "reason"]
VIOLATION_COLUMNS = ["op_id", "check", "message"]
UNABLE_COLUMNS = ["po_no", "job_id", "item", "reason", "detail"]
VALIDATION_COLUMNS = list(_VALIDATION)
