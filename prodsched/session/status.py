"""Readable text tables of session status for the CLI and logs (plain functions on dicts)."""

from __future__ import annotations


def overall_status(stages: list[dict]) -> str:
    """running > failed > done (all) > pending (none started) > stale > partial."""
    states = [s["status"] for s in stages]
    if "running" in states:
        return "running"
    if "failed" in states:
        return "failed"
    if all(s == "done" for s in states):
        return "done"
    if all(s == "pending" for s in states):
        return "pending"
    return "stale" if "stale" in states else "partial"


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()
    return "\n".join([line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def _short_time(iso: str | None) -> str:
    return "" if not iso else iso.replace("T", " ")[:19]


def format_status(status: dict) -> str:
    """A readable table of ``Session.status()`` (for ``prodsched status``)."""
    head = (f"session {status['session_id']}  overall: {status['overall']}  "
            f"({status['completed']}/{status['total']} stages done)")
    rows = []
    for s in status["stages"]:
        elapsed = "" if s["elapsed_s"] is None else f"{s['elapsed_s']:.1f}s"
        progress = f"{s['progress'] * 100:.0f}%" if s["status"] in ("running", "done") else ""
        note = s["error"] or ("inputs or parameters changed: re-run" if s["status"] == "stale" else s["message"]) or ""
        note = note.splitlines()[0] if note else ""
        rows.append([str(s["number"]), s["name"], s["status"], progress, elapsed,
                     _short_time(s["started"]), note[:80]])
    table = _table(["#", "stage", "status", "progress", "elapsed", "started (UTC)", "message / error"], rows)
    return f"{head}\n{table}"


def format_sessions(rows: list[dict]) -> str:
    """A readable table of ``Session.list()`` (for ``prodsched sessions``)."""
    if not rows:
        return "no sessions"
    body = [[r["session_id"], _short_time(r["created"]), r["overall"], f"{r['completed']}/{r['total']}",
             r["current"] or "", _short_time(r["expires"]), str(r["data"] or "")] for r in rows]
    table = _table(["session", "created (UTC)", "overall", "done", "running", "expires (UTC)", "data"], body)
    why = [f"  {r['session_id']}: {r['error']}" for r in rows if r.get("error")]
    return "\n".join([table, "", "unreadable sessions:", *why]) if why else table
