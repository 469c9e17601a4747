"""Static PNG Gantt chart drawn with matplotlib's object API (Agg; never touches pyplot state)."""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from typing import TYPE_CHECKING

import numpy as np

from prodsched.results.colors import LATE_COLOR, NO_CLASS

if TYPE_CHECKING:  # the drawing process imports this module without pandas
    import pandas as pd

    from prodsched.results.plan import PlanView

# Plant vocabulary shown in English when no Hangul-capable font is installed.
GLOSSARY = {
    "코팅기": "coater", "라미기": "laminator", "인쇄기": "printer", "후처리기": "finisher",
    "후처리": "post-treatment", "염료": "dye", "안료": "pigment", "투명": "clear", "인쇄": "printing",
    "코팅": "coating", "접착": "adhesive", "라미네이팅": "laminating", "라미": "laminating",
    "그라비아": "gravure", "로터리": "rotary", "핫멜트": "hot-melt", "엠보": "embossing", "탑": "top",
    "톱": "top", "배합": "mix", "기계": "machine", "코터": "coater", "건조": "drying",
}
_UNIT_NO = re.compile(r"(\d+)\s*호")  # "1호" = unit number 1
_INITIALS = ["g", "kk", "n", "d", "tt", "r", "m", "b", "pp", "s", "ss", "", "j", "jj", "ch", "k", "t", "p", "h"]
_MEDIALS = ["a", "ae", "ya", "yae", "eo", "e", "yeo", "ye", "o", "wa", "wae", "oe", "yo", "u", "wo", "we",
            "wi", "yu", "eu", "ui", "i"]
_FINALS = ["", "k", "k", "k", "n", "n", "n", "t", "l", "k", "m", "p", "l", "l", "p", "l", "m", "p", "p", "t",
           "t", "ng", "t", "t", "k", "t", "p", "t"]
_HANGUL = re.compile(r"[\uac00-\ud7a3]+")


def romanize(text: str) -> str:
    """Hangul syllables -> Latin letters (simplified Revised Romanization), other text unchanged."""
    out = []
    for ch in text:
        code = ord(ch) - 0xAC00
        if 0 <= code < 11172:
            out.append(_INITIALS[code // 588] + _MEDIALS[(code % 588) // 28] + _FINALS[code % 28])
        else:
            out.append(ch)
    return "".join(out)


_FONT_NAMES = re.compile(r"cjk|nanum|gothic|malgun|batang|gulim|dotum|kr|unifont|source han|sans cjk", re.IGNORECASE)


class HangulFontWarning(UserWarning):
    """No installed font draws Hangul: the PNG shows Korean names as English glosses."""


def _has_hangul(path: str) -> bool:
    from matplotlib import ft2font

    try:
        return 0xAC00 in ft2font.FT2Font(path).get_charmap()
    except (OSError, RuntimeError, ValueError):  # unreadable font file: try the next one
        return False


@functools.lru_cache(maxsize=1)
def hangul_font() -> str | None:
    """Name of an installed font that has Hangul glyphs, or None.

    matplotlib's font list is cached from when it was first built; a system font installed since
    (e.g. Debian's fonts-nanum or fonts-noto-cjk) is found on disk and added to it."""
    from matplotlib import font_manager

    for entry in font_manager.fontManager.ttflist:
        if (_FONT_NAMES.search(entry.name) or _FONT_NAMES.search(Path(entry.fname).name)) and _has_hangul(entry.fname):
            return entry.name
    known = {entry.fname for entry in font_manager.fontManager.ttflist}
    found = [path for path in sorted(font_manager.findSystemFonts())
             if path not in known and _FONT_NAMES.search(Path(path).name) and _has_hangul(path)]
    for path in found:  # every weight, so bold titles stay bold
        font_manager.fontManager.addfont(path)
    return font_manager.FontProperties(fname=found[0]).get_name() if found else None


def _title_weight(family: str | None) -> int | str:
    """The heaviest weight up to bold that ``family`` has, so matplotlib need not substitute one."""
    from matplotlib import font_manager

    if family is None:
        return "bold"
    weights = [w if isinstance(w, int) else font_manager.weight_dict.get(w, 400)
               for w in (e.weight for e in font_manager.fontManager.ttflist if e.name == family)]
    usable = [w for w in weights if w <= 700]
    return max(usable) if usable else "bold"


@functools.lru_cache(maxsize=1)
def _warn_glosses() -> None:
    import warnings

    warnings.warn("no installed font has Hangul glyphs (install e.g. fonts-nanum or fonts-noto-cjk): gantt.png "
                  "shows Korean names as English glosses and romanized text", HangulFontWarning, stacklevel=3)


def label(text: str) -> str:
    """``text`` as the PNG can draw it: unchanged with a Hangul font, else glossed/romanized (warned once)."""
    text = str(text)
    if not _HANGUL.search(text) or hangul_font():
        return text
    _warn_glosses()
    text = _UNIT_NO.sub(r"#\1", text)
    for word in sorted(GLOSSARY, key=len, reverse=True):
        text = text.replace(word, f" {GLOSSARY[word]} ")
    text = _HANGUL.sub(lambda m: romanize(m.group(0)), text)
    return re.sub(r"\s+", " ", text).strip()


HATCH_MIN_PX = 12  # setups and downtime narrower than this are drawn plain (hatching is the slow part)
HATCH_MAX = 400  # at most this many hatched segments (the widest), so the picture rasterises fast at any size


def _boxes(x0: np.ndarray, x1: np.ndarray, rows: np.ndarray, height: float) -> np.ndarray:
    """Rectangles as an (n, 4, 2) vertex array for a PolyCollection."""
    verts = np.empty((len(x0), 4, 2))
    verts[:, 0, 0] = verts[:, 1, 0] = x0
    verts[:, 2, 0] = verts[:, 3, 0] = x1
    verts[:, 0, 1] = verts[:, 3, 1] = rows - height / 2
    verts[:, 1, 1] = verts[:, 2, 1] = rows + height / 2
    return verts


def _widest(widths_px: np.ndarray) -> np.ndarray:
    """Indexes of the segments wide enough to hatch (the HATCH_MAX widest of them)."""
    wide = np.flatnonzero(widths_px >= HATCH_MIN_PX)
    if len(wide) > HATCH_MAX:
        wide = np.sort(wide[np.argsort(-widths_px[wide], kind="stable")[:HATCH_MAX]])
    return wide


def render_png(data: Mapping[str, Any], path, dpi: int = 110) -> Path:
    """Draw ``gantt_data`` output into a PNG file sized for up to ~40 machines and thousands of ops.

    Bars are one PolyCollection coloured by class; setups are the class colour darkened, downtime
    a grey band; only segments at least HATCH_MIN_PX wide are hatched as well."""
    from matplotlib import dates as mdates
    from matplotlib.collections import PolyCollection
    from matplotlib.colors import to_rgb
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    machines, bars = data["machines"], data["bars"]
    n_rows = max(1, len(machines))
    slot_days = data["slot_minutes"] / 1440.0
    base = mdates.date2num(dt.datetime.fromisoformat(data["base_date"]))
    x0, x1 = data["horizon"]

    def x(slot):
        return base + np.asarray(slot, dtype=float) * slot_days

    row = np.asarray(bars["row"], dtype=float)
    start, end = np.asarray(bars["start"], dtype=float), np.asarray(bars["end"], dtype=float)
    setup = np.asarray(bars["setup_slots"], dtype=float)
    late = np.asarray(bars["late_whole_days"], dtype="int64") > 0
    op_class = bars["op_class"]
    class_rgb = np.array([to_rgb(data["colors"].get(c, "#888888")) for c in op_class["values"]] or [(0, 0, 0)])
    bar_rgb = class_rgb[np.asarray(op_class["codes"], dtype="int64")] if len(row) else np.zeros((0, 3))
    down = data["downtime"]
    d_row, d_start, d_end = (np.asarray(down[k], dtype=float) for k in ("row", "start", "end"))

    handles = [Patch(facecolor=data["colors"][c], label=label(c or NO_CLASS)) for c in data["classes"]]
    handles.append(Patch(facecolor="#555555", hatch="////", edgecolor="white", label="setup"))
    if len(d_row):
        handles.append(Patch(facecolor="#9aa0a6", alpha=0.55, hatch="xx", edgecolor="#6b7075", label="downtime"))
    if late.any():
        handles.append(Patch(facecolor="white", edgecolor=LATE_COLOR, linewidth=1.4, label="late"))
    row_labels = [label(f"{m['machine']}  {m['name']}".strip()) for m in machines]

    # layout in inches, so title, legend and axis labels never collide whatever the row count
    width_in = 18.0 if len(row) > 300 or (x1 - x0) * slot_days > 20 else 14.0
    ncol = min(len(handles), 9 if width_in > 14 else 7)
    label_top = n_rows > 12
    top_in = 0.95 + 0.28 * math.ceil(len(handles) / ncol) + (0.3 if label_top else 0.1)
    bottom_in, right_in = 0.6, 0.3
    left_in = min(3.0, 0.35 + 0.072 * max((len(t) for t in row_labels), default=4))
    plot_in = max(1.2, n_rows * (0.36 if n_rows <= 20 else 0.3))
    height_in = top_in + plot_in + bottom_in
    fig = Figure(figsize=(width_in, height_in), dpi=dpi)
    font = hangul_font()
    families = [font, "DejaVu Sans"] if font else ["DejaVu Sans"]
    text_kw = {"fontfamily": families}
    ax = fig.add_axes((left_in / width_in, bottom_in / height_in, 1 - (left_in + right_in) / width_in,
                       plot_in / height_in))
    pad = max((x1 - x0) * 0.01, 1.0)  # slots
    px_per_slot = (1 - (left_in + right_in) / width_in) * width_in * dpi / max(1e-9, x1 - x0 + 2 * pad)

    def add(collection) -> None:
        ax.add_collection(collection, autolim=False)  # the limits are set below

    for r in range(0, n_rows, 2):  # zebra rows
        ax.axhspan(r - 0.5, r + 0.5, color="#f3f4f6", zorder=0, linewidth=0)

    if len(d_row):
        add(PolyCollection(_boxes(x(d_start), x(d_end), d_row, 0.92), facecolor="#9aa0a6",
                                         alpha=0.55, linewidth=0.0, zorder=1))
        wide = _widest((d_end - d_start) * px_per_slot)
        if len(wide):
            add(PolyCollection(_boxes(x(d_start[wide]), x(d_end[wide]), d_row[wide], 0.92),
                                             facecolor="none", edgecolor="#6b7075", hatch="xx", linewidth=0.0,
                                             zorder=1))
    dense = len(row) and np.median(end - start) * px_per_slot < 4  # bar edges would only blur the picture
    add(PolyCollection(_boxes(x(start), x(end), row, 0.7), facecolors=bar_rgb, edgecolor="white",
                                     linewidth=0.0 if dense else 0.3, zorder=3))
    has_setup = setup > 0
    if has_setup.any():
        s_start, s_row = start[has_setup] - setup[has_setup], row[has_setup]
        add(PolyCollection(_boxes(x(s_start), x(start[has_setup]), s_row, 0.7),
                                         facecolors=bar_rgb[has_setup] * 0.6, linewidth=0.0, zorder=3))
        wide = _widest(setup[has_setup] * px_per_slot)
        if len(wide):
            add(PolyCollection(_boxes(x(s_start[wide]), x(start[has_setup][wide]), s_row[wide], 0.7),
                                             facecolor="none", edgecolor="white", hatch="////", linewidth=0.0,
                                             zorder=3))
    if late.any() and len(row) <= 400:
        add(PolyCollection(_boxes(x(start[late]), x(end[late]), row[late], 0.7), facecolor="none",
                                         edgecolor=LATE_COLOR, linewidth=1.1, zorder=4))
    elif late.any():  # dense charts: a red strip under each late bar keeps the class colour readable
        add(PolyCollection(_boxes(x(start[late]), x(end[late]), row[late] + 0.41, 0.1),
                                         facecolor=LATE_COLOR, linewidth=0, zorder=4))

    ax.set_xlim(x(x0 - pad), x(x1 + pad))
    ax.set_ylim(n_rows - 0.5, -0.5)
    ax.set_yticks(range(len(machines)))
    ax.set_yticklabels(row_labels, fontsize=8 if n_rows > 20 else 9, **text_kw)
    locator = mdates.AutoDateLocator(minticks=6, maxticks=16)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.tick_params(axis="x", labelsize=8, labeltop=label_top, top=label_top)
    ax.grid(axis="x", color="#d0d4d9", linewidth=0.6, zorder=0)
    ax.set_axisbelow(True)
    for side in ("right", "top", "left"):
        ax.spines[side].set_visible(False)

    # op ids inside bars wide enough to hold them
    op_ids = bars["op_id"]
    lengths = np.fromiter((len(o) for o in op_ids), dtype=float, count=len(op_ids))
    wide = np.flatnonzero((end - start) * px_per_slot > 7 * lengths + 8)
    if len(wide) <= 300:
        for i in wide:
            ax.text(x((start[i] + end[i]) / 2), row[i], op_ids[i], ha="center", va="center",
                    fontsize=6.5, color="black", zorder=5, clip_on=True)

    left = left_in / width_in
    fig.legend(handles=handles, loc="upper left", ncol=ncol, frameon=False, borderaxespad=0, columnspacing=1.6,
               bbox_to_anchor=(left, 1 - 0.82 / height_in), prop={"family": families, "size": 9})
    stats = data["stats"]
    days = stats["makespan_slots"] * slot_days
    title = data.get("title") or "Schedule"
    subtitle = (f"{stats['operations']} operations on {stats['machines']} machines · makespan {days:.1f} days · "
                f"{stats['late_operations']} late operations · setup {stats['setup_slots']} slots · "
                f"slot {data['slot_minutes']} min from {data['base_date']}")
    fig.text(left, 1 - 0.15 / height_in, label(title), fontsize=14, fontweight=_title_weight(font), va="top",
             fontfamily=[font or "DejaVu Sans"])  # one family: a weight it has, nothing substituted
    fig.text(left, 1 - 0.5 / height_in, subtitle, fontsize=9, color="#555555", va="top")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, facecolor="white")
    return path


def write_gantt_png(source: PlanView | pd.DataFrame, path, tables=None, dag=None, title: str | None = None,
                    **calendar) -> Path:
    """Write a static PNG chart (matplotlib, Agg): a row per machine, bars by class; returns the path.

    ``source``: the plan view, or a schedule with its tables, DAG and calendar (as ``gantt_data``)."""
    from prodsched.results.gantt_data import gantt_data

    return render_png(gantt_data(source, tables, dag, title=title, **calendar), path)
