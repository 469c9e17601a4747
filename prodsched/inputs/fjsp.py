"""Flexible job-shop (FJSPLIB) instances as prodsched input.

``read_fjs`` parses the FJSPLIB text format (Brandimarte, Hurink, ... instances):

    line 1:   <jobs> <machines> [<average machines per operation>]
    per job:  <operations> then, per operation, <k> and k pairs <machine> <duration>

Machines are numbered from 1 in the file. Any whitespace separates values (spaces, tabs, CRLF line
ends, blank lines); a job may wrap over several lines, but must end at the end of a line; text after
``#`` is a comment. Malformed files raise :class:`FjspFormatError` naming the line.

``fjsp_to_tables`` turns an instance into prodsched's canonical input tables so that the whole
pipeline (stages 2-6) schedules it and the DAG durations equal the instance's durations exactly;
``fjsp_to_instance`` builds the engine's instance directly for engine-only runs.

``changeovers=True`` adds sequence-dependent changeovers by a fixed recipe (the FJSP with
changeovers benchmark family); the durations stay the instance's. With jobs ``j`` and operations
``o`` counted from 0 and machines ``i`` from 1:

* operation class ``C{(j + o) % 3 + 1}``; mixture ``X{j % 4 + 1}`` (the job's, on all its steps);
* order width ``(1016, 1300, 1524)[j % 3]`` mm, which the default width table runs alone and
  one-up on fabrics of 1000, 1300 and 1500 mm (the operations' widths);
* class changeover (``operation_delay``): 2 slots between different classes, 1 slot within a
  class when the mixture changes (the data model's class changeovers are the same on every
  machine);
* width changeover of machine ``i`` (``width_change``): ``long_to_short = 1 + i % 3`` and
  ``short_to_long = i % 2`` slots.

The setup before an operation is the larger of its class/mixture and width changeovers (none on
a machine's first operation).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from prodsched.errors import ProdschedError

OP_CLASS = "FJSP"
DEFAULT_LENGTH_M = 12000.0  # metres per job: speeds become 400/d m/min at 30-minute slots
DEFAULT_WIDTH_MM = 1300  # a width the default width-combination table runs one-up on itself
DEFAULT_DUE = "2036-12-31"  # far beyond any schedule, so due dates never drive lateness
# the changeover recipe (module docstring)
CHANGEOVER_CLASSES = 3
CHANGEOVER_MIXTURES = 4
CHANGEOVER_WIDTHS_MM = (1016, 1300, 1524)  # one-up alone: fabrics of 1000, 1300, 1500 mm
CLASS_CHANGE_SLOTS = 2
MIXTURE_CHANGE_SLOTS = 1


class FjspFormatError(ProdschedError, ValueError):
    """The FJSPLIB text is malformed; ``line`` is the 1-based line number (0 = whole file)."""

    def __init__(self, message: str, line: int = 0, source: str = "<text>"):
        self.line = line
        self.source = source
        where = f"{source}, line {line}" if line else source
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class FjspInstance:
    """A flexible job-shop instance.

    ``jobs[j][o]`` maps the 0-based machine index to the integer duration of operation ``o`` of job
    ``j`` on that machine (eligible machines only, in file order).
    """

    name: str
    n_machines: int
    jobs: tuple[tuple[dict[int, int], ...], ...]

    @property
    def n_jobs(self) -> int:
        return len(self.jobs)

    @property
    def n_operations(self) -> int:
        return sum(len(ops) for ops in self.jobs)

    @property
    def machine_codes(self) -> list[str]:
        width = max(2, len(str(self.n_machines)))
        return [f"M{m + 1:0{width}d}" for m in range(self.n_machines)]

    def job_code(self, j: int) -> str:
        width = max(2, len(str(self.n_jobs)))
        return f"J{j + 1:0{width}d}"

    def lower_bound(self) -> int:
        """max(longest job by minimum durations, total minimum work / machines, rounded up)."""
        chain = max((sum(min(op.values()) for op in ops) for ops in self.jobs), default=0)
        work = sum(min(op.values()) for ops in self.jobs for op in ops)
        return max(chain, math.ceil(work / self.n_machines)) if self.n_machines else chain


# ----------------------------------------------------------------------------- reading


def _tokens(text: str) -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0]
        out.extend((token, number) for token in line.split())
    return out


def _looks_like_path(value) -> bool:
    if isinstance(value, os.PathLike):
        return True
    return isinstance(value, str) and "\n" not in value and len(value) < 4096 and (
        value.endswith(".fjs") or os.path.exists(value)
    )


def read_fjs(path_or_text, name: str | None = None) -> FjspInstance:
    """Parse an FJSPLIB file (path) or its text; raise FjspFormatError naming the line on bad input."""
    if _looks_like_path(path_or_text):
        path = Path(path_or_text)
        try:
            text = path.read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            raise FjspFormatError("file not found", source=str(path)) from None
        except UnicodeDecodeError:
            raise FjspFormatError("not a text file", source=str(path)) from None
        source, default_name = str(path), path.stem
    else:
        text, source, default_name = str(path_or_text), "<text>", "fjsp"
    return _parse(text, name or default_name, source)


def _parse(text: str, name: str, source: str) -> FjspInstance:
    tokens = _tokens(text.lstrip("\ufeff"))
    if not tokens:
        raise FjspFormatError("empty file: expected '<jobs> <machines> [<average>]' on line 1", 0, source)
    header_line = tokens[0][1]
    header = [t for t, ln in tokens if ln == header_line]
    if len(header) not in (2, 3):
        raise FjspFormatError(
            f"the header must be '<jobs> <machines> [<average>]', found {' '.join(header)!r}",
            header_line, source,
        )
    n_jobs = _int(header[0], "number of jobs", header_line, source, minimum=1)
    n_machines = _int(header[1], "number of machines", header_line, source, minimum=1)
    if len(header) == 3:
        try:
            float(header[2])
        except ValueError:
            raise FjspFormatError(
                f"average machines per operation {header[2]!r} is not a number", header_line, source
            ) from None

    pos = len(header)
    jobs: list[tuple[dict[int, int], ...]] = []

    def take(what: str) -> tuple[str, int]:
        nonlocal pos
        if pos >= len(tokens):
            last = tokens[-1][1]
            raise FjspFormatError(
                f"the file ends early: job {len(jobs) + 1} is missing its {what}", last, source
            )
        pos += 1
        return tokens[pos - 1]

    for j in range(n_jobs):
        if pos >= len(tokens):
            raise FjspFormatError(
                f"the header declares {n_jobs} jobs but the file has only {j}", tokens[-1][1], source
            )
        token, line = take("number of operations")
        job_start_line = line
        n_ops = _int(token, f"number of operations of job {j + 1}", line, source, minimum=1)
        ops: list[dict[int, int]] = []
        for o in range(n_ops):
            what = f"job {j + 1}, operation {o + 1}"
            token, line = take(f"operation {o + 1} ({n_ops} declared)")
            k = _int(token, f"{what}: number of machines", line, source, minimum=1)
            if k > n_machines:
                raise FjspFormatError(
                    f"{what}: {k} alternative machines but the instance has {n_machines}", line, source
                )
            op: dict[int, int] = {}
            for _ in range(k):
                token, line = take(f"machine/duration pairs of operation {o + 1}")
                machine = _int(token, f"{what}: machine", line, source, minimum=1)
                if machine > n_machines:
                    raise FjspFormatError(
                        f"{what}: machine {machine} is out of range 1..{n_machines}", line, source
                    )
                if machine - 1 in op:
                    raise FjspFormatError(f"{what}: machine {machine} is listed twice", line, source)
                token, line = take(f"duration on machine {machine} of operation {o + 1}")
                op[machine - 1] = _int(token, f"{what}: duration on machine {machine}", line, source, minimum=1)
            ops.append(op)
        if pos < len(tokens) and tokens[pos][1] == tokens[pos - 1][1]:
            first = job_start_line
            span = f" (read over lines {first}-{line}: is line {first} incomplete?)" if first != line else ""
            raise FjspFormatError(
                f"job {j + 1} declares {n_ops} operations but the line has more values "
                f"(starting with {tokens[pos][0]!r}){span}", tokens[pos][1], source,
            )
        jobs.append(tuple(ops))
    if pos < len(tokens):
        raise FjspFormatError(
            f"unexpected values after the {n_jobs} declared jobs (starting with {tokens[pos][0]!r})",
            tokens[pos][1], source,
        )
    return FjspInstance(name=name, n_machines=n_machines, jobs=tuple(jobs))


def _int(token: str, what: str, line: int, source: str, minimum: int) -> int:
    """An integer token; integer-valued decimals such as ``5.0`` are accepted."""
    try:
        value = int(token)
    except ValueError:
        try:
            as_float = float(token)
        except ValueError:
            as_float = math.nan
        if not (math.isfinite(as_float) and as_float.is_integer()):
            raise FjspFormatError(f"{what} must be an integer, found {token!r}", line, source) from None
        value = int(as_float)
    if value < minimum:
        raise FjspFormatError(f"{what} must be >= {minimum}, found {token!r}", line, source)
    return value


# ----------------------------------------------------------------------------- conversion


def speed_for(length_m: float, duration: int, slot_minutes: int) -> float:
    """Speed (m/min) at which ``length_m`` takes exactly ``duration`` slots.

    ``length / speed / slot_minutes`` (and ``length / (speed * slot_minutes)``) evaluate to at most
    ``duration`` in floating point, so ``ceil`` gives ``duration`` even without noise tolerance.
    """
    speed = length_m / (duration * slot_minutes)
    for _ in range(8):
        if length_m / speed / slot_minutes <= duration and length_m / (speed * slot_minutes) <= duration:
            break
        speed = math.nextafter(speed, math.inf)
    if math.ceil(length_m / speed / slot_minutes) != duration:  # pragma: no cover - arithmetic guard
        raise ValueError(f"no exact speed for {length_m} m in {duration} slots of {slot_minutes} min")
    return speed


def fjsp_to_tables(
    instance: FjspInstance,
    slot_minutes: int = 30,
    base_date: str = "2026-01-01",
    length_m: float = DEFAULT_LENGTH_M,
    width_mm: int = DEFAULT_WIDTH_MM,
    due: str | None = None,
    changeovers: bool = False,
):
    """The 12 canonical input tables (dict of DataFrames) of an FJSP instance.

    One order, item and job per FJSP job; one routing step per operation with operation names of its
    own (``J01-O01`` ...), so routings, speeds and machine limits are per job; machines ``M01`` ...;
    a single operation class and no mixtures, zero width changes and no downtime, so there are no
    setups; yields 1; one due date far in the future. Speeds make every DAG duration
    ``ceil(length / speed / slot_minutes)`` equal the instance's duration. Run the pipeline with
    ``Params(slot_minutes=slot_minutes, base_date=base_date)``. ``changeovers=True`` gives
    classes, mixtures, widths and changeover times by the recipe in the module docstring
    (``width_mm`` is then unused).
    """
    import pandas as pd

    pd.Timestamp(base_date)  # validates the date early
    due_date = pd.Timestamp(due or DEFAULT_DUE).normalize()
    codes = instance.machine_codes
    orders, sequence, types, speeds, yields = [], [], [], [], []
    for j, ops in enumerate(instance.jobs):
        job = instance.job_code(j)
        orders.append({
            "po_no": f"PO-{instance.name}-{job}", "item": f"{instance.name}-{job}",
            "item_name": f"{instance.name} job {j + 1}",
            "width_mm": CHANGEOVER_WIDTHS_MM[j % 3] if changeovers else int(width_mm),
            "roll_length_m": float(length_m), "rolls": 1.0, "length_m": float(length_m), "due": due_date,
        })
        for o, op in enumerate(ops):
            operation = f"{job}-O{o + 1:02d}"
            item = f"{instance.name}-{job}"
            sequence.append({"item": item, "operation_code": operation, "operation": operation,
                             "mixture": f"X{j % CHANGEOVER_MIXTURES + 1}" if changeovers else "",
                             "seq": o + 1, "aging_hours": 0.0})
            op_class = f"C{(j + o) % CHANGEOVER_CLASSES + 1}" if changeovers else OP_CLASS
            types.append({"operation_code": operation, "operation": operation, "op_class": op_class})
            for m, d in op.items():
                speeds.append({"item": item, "operation": operation, "machine": codes[m],
                               "speed_m_min": speed_for(float(length_m), d, slot_minutes)})
            yields.append({"item": item, "operation": operation,
                           "machines": ";".join(codes[m] for m in op), "yield": 1.0})
    machines = [{"machine": c, "machine_index": i + 1, "machine_name": f"{instance.name} machine {i + 1}"}
                for i, c in enumerate(codes)]
    frame = pd.DataFrame
    return {
        "order_data": frame(orders),
        "operation_sequence": frame(sequence),
        "linespeed": frame(speeds),
        "machine_master_info": frame(machines),
        "yield_data": frame(yields),
        "gitem_operation": frame(columns=["item"] + [f"op{i}" for i in range(1, 8)]),
        "operation_types": frame(types),
        "operation_delay": frame(_class_changeovers(changeovers)),
        "width_change": frame([{"machine_index": i + 1, "machine_name": f"{instance.name} machine {i + 1}",
                                "long_to_short": 1 + (i + 1) % 3 if changeovers else 0,
                                "short_to_long": (i + 1) % 2 if changeovers else 0, "machine": c}
                               for i, c in enumerate(codes)]),
        "machine_rest": frame(columns=["machine", "machine_index", "start", "end"]).astype(
            {"start": "datetime64[ns]", "end": "datetime64[ns]"}),
        "machine_allocate": frame(columns=["operation", "machine"]),
        "machine_limit": frame(columns=["operation", "machine"]),
    }


def _class_changeovers(changeovers: bool) -> list[dict]:
    """``operation_delay`` rows: none for the plain instance, else the recipe's class pairs."""
    if not changeovers:
        return [{"from_class": OP_CLASS, "to_class": OP_CLASS, "setup_slots": 0}]
    classes = [f"C{k + 1}" for k in range(CHANGEOVER_CLASSES)]
    return [{"from_class": a, "to_class": b,
             "setup_slots": MIXTURE_CHANGE_SLOTS if a == b else CLASS_CHANGE_SLOTS}
            for a in classes for b in classes]


def fjsp_payload(instance: FjspInstance, **kwargs) -> dict[str, list[dict]]:
    """The tables as a stage-1 JSON payload (table -> list of records, dates as ISO strings)."""
    from prodsched.inputs.write import tables_to_payload
    return tables_to_payload(fjsp_to_tables(instance, **kwargs))


def fjsp_to_instance(instance: FjspInstance, due_slot: int | None = None):
    """The engine's :class:`prodsched.engine.model.Instance` of an FJSP instance (no pandas).

    Op ids ``J01-01`` (job code, 2-digit sequence), machines ``M01`` ..., one operation class and no
    setups; ``due_slot`` defaults to one past the sum of all maximum durations (never late).
    """
    from prodsched.engine.model import Instance, Machine, Operation

    codes = instance.machine_codes
    if due_slot is None:
        due_slot = 1 + sum(max(op.values()) for ops in instance.jobs for op in ops)
    operations = []
    for j, ops in enumerate(instance.jobs):
        job = instance.job_code(j)
        for o, op in enumerate(ops):
            operations.append(Operation(
                id=f"{job}-{o + 1:02d}", job=job, seq=o + 1, op_class=OP_CLASS,
                width=DEFAULT_WIDTH_MM, due_slot=int(due_slot), durations={codes[m]: int(d) for m, d in op.items()},
                predecessors=(f"{job}-{o:02d}",) if o else (), operation=f"{job}-O{o + 1:02d}",
            ))
    return Instance(operations=tuple(operations), machines=tuple(Machine(code=c) for c in codes))
