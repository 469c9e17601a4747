"""The small figures of the stage notebooks (matplotlib without pyplot: nothing shows twice).

Labels are operation ids, codes and machine ids, drawn as the Gantt PNG draws text: with a Hangul
font when one is installed, else glossed (see :func:`prodsched.results.gantt_png.label`).
"""

from __future__ import annotations

import networkx as nx
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from prodsched.results.gantt_png import hangul_font, label


def _family() -> str:
    return hangul_font() or "DejaVu Sans"


def graph_figure(g: nx.DiGraph) -> Figure:
    """One job's operations left to right by routing step; edges labelled with aging waits."""
    order = sorted(g.nodes, key=lambda n: (g.nodes[n]["seq"], n))
    pos = {n: (i, 0.0) for i, n in enumerate(order)}
    labels = {}
    for n in order:
        data = g.nodes[n]
        machines = "\n".join(f"{m}: {d}" for m, d in sorted(data["durations"].items()))
        labels[n] = label(f"{n}\n{data['operation_code']}\n{machines}")
    fig = Figure(figsize=(max(4.0, 2.4 * len(order)), 2.6))
    ax = fig.add_subplot()
    nx.draw_networkx_nodes(g, pos, ax=ax, node_shape="s", node_size=4200, node_color="#dbe9f6", edgecolors="#4a78a8")
    nx.draw_networkx_labels(g, pos, labels=labels, ax=ax, font_size=7.5, font_family=_family())
    nx.draw_networkx_edges(g, pos, ax=ax, node_shape="s", node_size=4200, arrows=True, arrowsize=18)
    waits = {(u, v): f"aging {g.nodes[u]['aging_slots']}" for u, v in g.edges if g.nodes[u]["aging_slots"]}
    if waits:
        nx.draw_networkx_edge_labels(g, pos, edge_labels=waits, ax=ax, font_size=7.5)
    ax.set_xlim(-0.6, len(order) - 0.4)
    ax.set_ylim(-0.8, 0.8)
    ax.axis("off")
    return fig


def slice_figure(frame: pd.DataFrame) -> Figure:
    """A few bars per machine: work solid, the changeover before it hatched; bars labelled by op id."""
    machines = list(dict.fromkeys(frame["machine"]))
    fig = Figure(figsize=(9.0, 0.7 * len(machines) + 1.2))
    ax = fig.add_subplot()
    for row, machine in enumerate(machines):
        ops = frame[frame["machine"] == machine]
        for op in ops.itertuples():
            if op.setup_slots:
                ax.barh(row, op.setup_slots, left=op.start - op.setup_slots, height=0.5, color="white",
                        edgecolor="#c0392b", hatch="///")
            ax.barh(row, op.end - op.start, left=op.start, height=0.5, color="#5b8fc7", edgecolor="black")
            ax.text((op.start + op.end) / 2, row, label(op.op_id), fontfamily=_family(), ha="center", va="center",
                    fontsize=6.5, color="white", clip_on=True)
    ax.set_yticks(range(len(machines)), [label(m) for m in machines], fontfamily=_family())
    ax.invert_yaxis()
    ax.set_xlabel("slot")
    ax.legend(handles=[Patch(facecolor="#5b8fc7", edgecolor="black", label="operation"),
                       Patch(facecolor="white", edgecolor="#c0392b", hatch="///", label="changeover")],
              loc="lower right", fontsize=7, frameon=False)
    fig.tight_layout()
    return fig


def convergence_figure(curves: dict) -> Figure:
    """One panel per objective: the first figure of its value that moves, best so far by iteration (a step line)."""
    fig = Figure(figsize=(4.2 * max(1, len(curves)), 3.0))
    for i, (objective, points) in enumerate(curves.items(), start=1):
        ax = fig.add_subplot(1, max(1, len(curves)), i)
        k = next((k for k in range(len(points[0][1])) if len({p[1][k] for p in points}) > 1), 0) if points else 0
        if points:
            xs = [p[0] for p in points]
            ys = [p[1][k] for p in points]
            ax.step(xs, ys, where="post", color="#4a78a8")
            ax.plot(xs, ys, "o", markersize=3, color="#4a78a8")
        ax.set_title(objective, fontsize=10)
        ax.set_xlabel("iteration")
        ax.set_ylabel(f"best value, figure {k + 1}")
    fig.tight_layout()
    return fig
