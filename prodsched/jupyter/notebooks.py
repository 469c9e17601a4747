"""The six stage notebooks, and the papermill chain that runs them headless.

Each notebook in ``notebooks/`` has a ``parameters`` cell and then calls :func:`stage` and
:func:`show`. :func:`run_chain` executes them in order with papermill into
``<out>/<run_id>/``, all attached to one session, so a batch run is reproducible and every
intermediate notebook stays inspectable.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from prodsched.errors import ProdschedError
from prodsched.params import Params
from prodsched.results.manifest import VERSIONED
from prodsched.results.manifest import versions as package_versions
from prodsched.session import PARAM_STAGE, Session
from prodsched.stages import STAGES, stage_name, stage_number

NOTEBOOK_FILES: dict[str, str] = {
    "load": "01_load.ipynb",
    "preprocess": "02_preprocess.ipynb",
    "yield": "03_yield.ipynb",
    "dag": "04_dag.ipynb",
    "schedule": "05_schedule.ipynb",
    "results": "06_results.ipynb",
}

# The parameters each stage applies to an existing session (changing them marks it and later
# stages stale): the session's own map, less the tables and mappings notebooks cannot take.
_STRUCTURED_PARAMS = ("width_combinations", "objective_options", "extra")
STAGE_PARAMS: dict[str, tuple[str, ...]] = {
    name: tuple(k for k, stage in PARAM_STAGE.items() if stage == name and k not in _STRUCTURED_PARAMS)
    for name in STAGES
}

_VERSIONED_PACKAGES = (*VERSIONED, "papermill", "ipywidgets", "nbformat")


class NotebookChainError(ProdschedError):
    """A stage notebook failed; names the stage, the notebook and the error of the failed cell."""

    def __init__(self, stage: str, notebook: Path, ename: str, evalue: str):
        self.stage = stage
        self.notebook = notebook
        self.ename = ename
        self.evalue = evalue
        first_line = (evalue or "").strip().splitlines()[0] if (evalue or "").strip() else ""
        super().__init__(f"stage {stage_number(stage)} ({stage}) failed in {notebook.name}: {ename}: {first_line}")

    @property
    def is_input_error(self) -> bool:
        return self.ename == "InputError"


@dataclass
class ChainResult:
    run_id: str
    session_id: str
    run_dir: Path
    notebooks: list[Path] = field(default_factory=list)


def notebooks_dir() -> Path:
    """The folder holding the stage notebooks (the source tree's, else the installed copy)."""
    source_tree = Path(__file__).resolve().parents[2] / "notebooks"
    if (source_tree / NOTEBOOK_FILES["load"]).exists():
        return source_tree
    from importlib.resources import files

    # a folder without __init__.py is a namespace package: ask for a file in it, not for its root
    return Path(str(files("prodsched.notebook_files").joinpath(NOTEBOOK_FILES["load"]))).parent


def _clean(value: Any) -> Any:
    """Notebook parameters use "" for "not set"; the library uses None."""
    return None if value == "" else value


def stage(name: str | int, session_id: str = "", store: str = "", **params: Any) -> Session:
    """Run one stage for a notebook and return its session.

    With a ``session_id`` the session is attached and only the parameters this stage owns are
    applied (a change marks it and the later stages stale). Without one, a new session is created
    with all ``params`` and the earlier stages run first, so every notebook also runs on its own.
    """
    name = stage_name(name)
    store_arg = _clean(store)
    values = {key: _clean(value) for key, value in params.items()}
    if not values.get("time_limit_s"):
        values["time_limit_s"] = None  # the notebooks' 0 means "no limit"
    if session_id:
        session = Session.attach(session_id, store=store_arg)
        current = session.params.to_dict()
        changes = {k: values[k] for k in STAGE_PARAMS[name] if k in values and values[k] != current.get(k)}
        if changes:
            session.set_params(**changes)
    else:
        session = Session.create(params=Params.from_dict(values), store=store_arg)
        for earlier in STAGES[: stage_number(name) - 1]:
            session.run(earlier)
    session.run(name)
    return session


def show(session: Session, name: str | int) -> None:
    """Display what a person wants to see after a stage (tables, KPIs, the Gantt chart)."""
    from prodsched.jupyter.notebook_views import show_stage

    show_stage(session, stage_name(name))



def _stage_range(stages: str | tuple[int, int] | None) -> list[str]:
    if stages is None:
        return list(STAGES)
    if isinstance(stages, str):
        first, _, last = stages.partition("-")
        bounds = (stage_number(first.strip()), stage_number((last or first).strip()))
    else:
        bounds = (stage_number(stages[0]), stage_number(stages[1]))
    if bounds[0] > bounds[1]:
        raise ValueError(f"stage range {stages!r} runs backwards")
    return list(STAGES[bounds[0] - 1 : bounds[1]])


def _record_metadata(path: Path, info: dict[str, Any]) -> None:
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    notebook.metadata["prodsched"] = info
    nbformat.write(notebook, path)


def _given(params: Params | dict[str, Any] | None) -> dict[str, Any]:
    """The parameters a caller set: a dict's keys, or a Params' values that differ from the defaults."""
    if params is None:
        return {}
    if isinstance(params, Params):
        default = Params().to_dict()
        return {k: v for k, v in params.to_dict().items() if v != default[k]}
    Params.from_dict(params)  # unknown names are an error here, before anything runs
    return dict(params)


def run_chain(
    data: str | Path | None = None,
    out: str | Path = "out",
    params: Params | dict[str, Any] | None = None,
    store: str | None = None,
    session_id: str | None = None,
    stages: str | tuple[int, int] | None = None,
    kernel: str = "python3",
    on_stage: Callable[[str, Path], None] | None = None,
) -> ChainResult:
    """Execute the stage notebooks with papermill into ``out/<run_id>/``.

    A new session is created (stage 1 must then be in ``stages``) unless ``session_id`` names an
    existing one, e.g. to re-run stages 5-6 with another ``window_days``. Raises
    :class:`NotebookChainError` at the first failing notebook; its output notebook is kept.
    """
    import papermill

    names = _stage_range(stages)
    base = params if isinstance(params, Params) else Params.from_dict(params or {})
    if data is not None:
        base = base.updated(data=str(Path(data).resolve()))
    out_dir = Path(out).resolve()
    base = base.updated(out=str(out_dir))
    if session_id:
        session = Session.attach(session_id, store=store)
        # the notebooks take scalar parameters only: tables and mappings go to the session itself
        structured = {k: v for k, v in _given(params).items() if k in _STRUCTURED_PARAMS}
        if structured:
            session.set_params(**structured)
        if names[0] != "load" and not session.can_run(names[0]):
            raise ProdschedError(
                f"session {session_id} cannot run stage {stage_number(names[0])} ({names[0]}) yet: "
                "run the stages before it first"
            )
    else:
        if names[0] != "load":
            raise ProdschedError("a new session starts at stage 1 (load); pass session_id to run later stages")
        if not base.data:
            raise ProdschedError("no input data given: pass the folder, workbook or JSON payload to load")
        session = Session.create(params=base, store=store)

    run_id = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]
    run_dir = out_dir / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    notebook_params = {
        key: ("" if value is None else value)
        for key, value in base.to_dict().items()
        if key not in _STRUCTURED_PARAMS
    }
    notebook_params.update(session_id=session.id, store=store or "")
    versions = package_versions(_VERSIONED_PACKAGES)
    result = ChainResult(run_id=run_id, session_id=session.id, run_dir=run_dir)
    source = notebooks_dir()
    for name in names:
        output = run_dir / NOTEBOOK_FILES[name]
        try:
            papermill.execute_notebook(
                str(source / NOTEBOOK_FILES[name]),
                str(output),
                parameters=notebook_params,
                kernel_name=kernel,
                cwd=str(run_dir),
                progress_bar=False,
            )
        except papermill.PapermillExecutionError as error:
            raise NotebookChainError(name, output, error.ename, error.evalue) from None
        _record_metadata(
            output,
            {"run_id": run_id, "session_id": session.id, "stage": name, "parameters": notebook_params, "versions": versions},
        )
        result.notebooks.append(output)
        if on_stage is not None:
            on_stage(name, output)
    return result

