// prodsched Gantt chart: anywidget ESM front end (also inlined by the self-contained HTML export).
// Canvas rendering: a base layer (rows, axis, downtime, setups, bars) redrawn on zoom/pan/resize,
// and an overlay layer (hover, selection, due marker) redrawn on pointer moves only.
// Drag mode (model "editable"): dragging a bar proposes a pin (drop_proposal; Python answers with
// drop_refusal or an updated "pins" list); dragging the background pans as before.
// Test hook: root.prodschedGantt = { barRect(opId), barAt(x, y), opIds(), select(opId), view(),
//   setView(s, e), slotX(slot), rowY(row), rowOf(machine), eligible(opId) }.

const AXIS_H = 40;
const PAD_BOTTOM = 6;
const LATE = "#D62728";
const MINUTE = 60000;
const TICK_STEPS = [30, 60, 120, 180, 360, 720, 1440, 2880, 10080, 20160, 40320];
const WEEKDAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

function h(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

function esc(s) {
  return String(s ?? "").replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
}

function pad2(n) {
  return String(n).padStart(2, "0");
}

function textColor(hex) {
  const v = parseInt(String(hex).slice(1), 16);
  const lum = 0.299 * ((v >> 16) & 255) + 0.587 * ((v >> 8) & 255) + 0.114 * (v & 255);
  return lum > 150 ? "#1f2328" : "#ffffff";
}

function darker(hex, f) {
  const v = parseInt(String(hex).slice(1), 16);
  const c = [(v >> 16) & 255, (v >> 8) & 255, v & 255].map((x) => Math.round(x * f));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

function stripes(fg, bg, size) {
  const c = document.createElement("canvas");
  c.width = c.height = size;
  const g = c.getContext("2d");
  g.fillStyle = bg;
  g.fillRect(0, 0, size, size);
  g.strokeStyle = fg;
  g.lineWidth = 1.5;
  g.beginPath();
  g.moveTo(-1, size + 1);
  g.lineTo(size + 1, -1);
  g.stroke();
  return c;
}

function column(c) {
  // a plain array, or a dictionary-coded text column {values, codes}
  return Array.isArray(c) ? c : (c?.codes || []).map((i) => c.values[i]);
}

function prepare(data) {
  // data.bars holds one array per field (prodsched.results.gantt_data); a bar object per operation
  // is built here, with what follows from its fields (machine, po list, due slot, late, setup).
  const cols = data.bars || {};
  const ids = column(cols.op_id);
  const names = ["job", "po_nos", "item", "operation", "op_class", "mixture", "seq", "width_mm", "length_m",
    "row", "start", "end", "setup_slots", "aging_slots", "due", "late_days", "late_whole_days", "setup_reason",
    "eligible"];
  const c = Object.fromEntries(names.map((n) => [n, column(cols[n])]));
  const base = (data.base_date || "2000-01-01").split("-").map(Number);
  const baseMs = Date.UTC(base[0], base[1] - 1, base[2]);
  const slotMin = data.slot_minutes || 30;
  const machines = data.machines || [];
  const rows = machines.map(() => []);
  const bars = [];
  const setups = [];
  const byId = new Map();
  for (let i = 0; i < ids.length; i++) {
    const b = { op_id: ids[i] };
    for (const n of names) b[n] = c[n][i];
    b.machine = machines[b.row]?.machine ?? "";
    b.po_nos = String(b.po_nos || "").split(";").filter((p) => p);
    b.late = b.late_whole_days > 0;
    b.eligible = Array.isArray(b.eligible) ? b.eligible : []; // [[row, slots], ...] when the data has them
    if (b.due) {
      const d = b.due.split("-").map(Number);
      b.due_slot = Math.trunc((Date.UTC(d[0], d[1] - 1, d[2] + 1) - baseMs) / (slotMin * MINUTE));
    } else b.due_slot = null;
    if (b.setup_slots > 0) setups.push({ op_id: b.op_id, row: b.row, start: b.start - b.setup_slots, end: b.start, bar: b });
    if (rows[b.row]) rows[b.row].push(b);
    byId.set(b.op_id, b);
    bars.push(b);
  }
  for (const r of rows) r.sort((a, b) => a.start - b.start);
  const dt = data.downtime || {};
  const downtime = column(dt.row).map((row, i) => ({ row, start: dt.start[i], end: dt.end[i] }));
  const [lo, hi] = data.horizon || [0, 1];
  return {
    data, rows, bars, setups, downtime, byId, lo, hi: Math.max(hi, lo + 1),
    baseMs, slotMin, colors: data.colors || {},
  };
}

function render({ model, el }) {
  const root = h("div", "prodsched-gantt");
  const toolbar = h("div", "prodsched-gantt-toolbar");
  const title = h("span", "prodsched-gantt-title");
  const legend = h("span", "prodsched-gantt-legend");
  const buttons = h("span", "prodsched-gantt-buttons");
  const btnOut = h("button", "prodsched-gantt-zoom-out", "−");
  const btnIn = h("button", "prodsched-gantt-zoom-in", "+");
  const btnFit = h("button", "prodsched-gantt-fit", "Fit");
  btnOut.title = "Zoom out";
  btnIn.title = "Zoom in";
  btnFit.title = "Show the whole schedule (double-click the chart)";
  buttons.append(btnOut, btnIn, btnFit);
  toolbar.append(title, legend, buttons);
  const stage = h("div", "prodsched-gantt-stage");
  const base = h("canvas", "prodsched-gantt-canvas");
  const overlay = h("canvas", "prodsched-gantt-overlay");
  const tip = h("div", "prodsched-gantt-tooltip");
  tip.hidden = true;
  stage.append(base, overlay, tip);
  const empty = h("div", "prodsched-gantt-empty", "No operations to show.");
  const refusal = h("div", "prodsched-gantt-refusal"); // over the chart: showing it moves nothing
  refusal.hidden = true;
  stage.append(refusal);
  root.append(toolbar, stage, empty);
  el.appendChild(root);

  let P = prepare(model.get("data") || {});
  let view = { s: P.lo, e: P.hi };
  let width = 800;
  let labelW = 120;
  let hover = null;
  let frame = 0;
  let dirtyBase = true;
  let syncTimer = 0;
  const pats = {};

  const rowH = () => model.get("row_height") || 22;
  const plotW = () => Math.max(50, width - labelW - 8);
  const heightPx = () => AXIS_H + Math.max(1, P.rows.length) * rowH() + PAD_BOTTOM;
  const sx = (slot) => labelW + ((slot - view.s) / (view.e - view.s)) * plotW();
  const xs = (x) => view.s + ((x - labelW) / plotW()) * (view.e - view.s);
  const slotDate = (slot) => new Date(P.baseMs + slot * P.slotMin * MINUTE);
  const fmt = (slot) => {
    const d = slotDate(slot);
    return `${d.getUTCFullYear()}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())} ${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}`;
  };

  function fitView() {
    const span = P.hi - P.lo;
    view = { s: P.lo - span * 0.01, e: P.hi + span * 0.01 };
  }

  function applyModelView() {
    const s = model.get("view_start");
    const e = model.get("view_end");
    if (s === null || e === null || s === undefined || e === undefined || !(e > s)) fitView();
    else view = { s, e };
  }

  function setupHeader() {
    const d = P.data;
    const st = d.stats || {};
    title.textContent = d.title || `${st.operations ?? 0} operations · ${st.machines ?? 0} machines`;
    legend.replaceChildren();
    for (const c of d.classes || []) {
      const item = h("span", "prodsched-gantt-legend-item");
      const sw = h("i", "prodsched-gantt-swatch");
      sw.style.background = P.colors[c];
      item.append(sw, document.createTextNode(c || "(no class)"));
      legend.append(item);
    }
    const extra = [["setup", "prodsched-gantt-swatch-setup"], ["downtime", "prodsched-gantt-swatch-down"], ["late", "prodsched-gantt-swatch-late"]];
    for (const [name, cls] of extra) {
      const item = h("span", "prodsched-gantt-legend-item");
      item.append(h("i", "prodsched-gantt-swatch " + cls), document.createTextNode(name));
      legend.append(item);
    }
    root.dataset.barCount = String(P.bars.length);
    empty.hidden = P.bars.length > 0;
    stage.hidden = !empty.hidden;
  }

  function measureLabels() {
    const g = base.getContext("2d");
    g.font = "12px system-ui, sans-serif";
    let w = 60;
    for (const m of P.data.machines || []) w = Math.max(w, g.measureText(rowLabel(m)).width + 18);
    labelW = Math.min(220, Math.ceil(w));
  }

  function rowLabel(m) {
    return m.name ? `${m.machine} · ${m.name}` : m.machine;
  }

  function resizeCanvas(c) {
    const dpr = window.devicePixelRatio || 1;
    const hpx = heightPx();
    const w = Math.round(width * dpr);
    const hh = Math.round(hpx * dpr);
    if (c.width !== w || c.height !== hh) {
      c.width = w;
      c.height = hh;
      c.style.width = `${width}px`;
      c.style.height = `${hpx}px`;
    }
    const g = c.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    return g;
  }

  function pattern(g, key, fg, bg) {
    if (!pats[key]) pats[key] = g.createPattern(stripes(fg, bg, 8), "repeat");
    return pats[key];
  }

  function drawAxis(g) {
    const span = view.e - view.s;
    const pxPerMin = plotW() / (span * P.slotMin);
    const step = TICK_STEPS.find((m) => m * pxPerMin >= 70) || TICK_STEPS[TICK_STEPS.length - 1];
    const startMin = view.s * P.slotMin;
    const endMin = view.e * P.slotMin;
    g.fillStyle = "#fafbfc";
    g.fillRect(0, 0, width, AXIS_H);
    g.font = "11px system-ui, sans-serif";
    g.textBaseline = "middle";
    let lastTop = "";
    for (let m = Math.ceil(startMin / step) * step; m <= endMin; m += step) {
      const x = sx(m / P.slotMin);
      const d = new Date(P.baseMs + m * MINUTE);
      const dayStart = d.getUTCHours() === 0 && d.getUTCMinutes() === 0;
      g.strokeStyle = dayStart ? "#c9ced6" : "#e8eaee";
      g.beginPath();
      g.moveTo(Math.round(x) + 0.5, AXIS_H - 8);
      g.lineTo(Math.round(x) + 0.5, heightPx() - PAD_BOTTOM);
      g.stroke();
      g.fillStyle = "#57606a";
      let top;
      let bottom;
      if (step < 1440) {
        top = `${WEEKDAYS[d.getUTCDay()]} ${d.getUTCFullYear()}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())}`;
        bottom = `${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}`;
      } else {
        top = `${d.getUTCFullYear()}-${pad2(d.getUTCMonth() + 1)}`;
        bottom = `${pad2(d.getUTCDate())} ${WEEKDAYS[d.getUTCDay()]}`;
      }
      g.textAlign = "center";
      g.fillText(bottom, x, AXIS_H - 15);
      if (top !== lastTop) {
        g.textAlign = "left";
        g.font = "600 11px system-ui, sans-serif";
        g.fillStyle = "#24292f";
        const tx = Math.max(labelW + 2, x + 2);
        if (tx + g.measureText(top).width < width - 4) g.fillText(top, tx, 11);
        g.font = "11px system-ui, sans-serif";
        lastTop = top;
      }
    }
    g.strokeStyle = "#d0d7de";
    g.beginPath();
    g.moveTo(0, AXIS_H - 0.5);
    g.lineTo(width, AXIS_H - 0.5);
    g.stroke();
  }

  function clipX(a, b) {
    const x0 = Math.max(labelW, sx(a));
    const x1 = Math.min(labelW + plotW(), sx(b));
    return x1 > x0 ? [x0, x1] : null;
  }

  function drawBase() {
    const g = resizeCanvas(base);
    const rh = rowH();
    g.clearRect(0, 0, width, heightPx());
    g.fillStyle = "#ffffff";
    g.fillRect(0, 0, width, heightPx());
    P.rows.forEach((_, r) => {
      if (r % 2 === 1) {
        g.fillStyle = "#f6f7f9";
        g.fillRect(0, AXIS_H + r * rh, width, rh);
      }
    });
    drawAxis(g);
    g.save();
    g.beginPath();
    g.rect(labelW, AXIS_H, plotW(), heightPx() - AXIS_H);
    g.clip();
    const down = pattern(g, "down", "#8c959f", "#d8dde3");
    for (const d of P.downtime) {
      const c = clipX(d.start, d.end);
      if (!c) continue;
      g.fillStyle = down;
      g.fillRect(c[0], AXIS_H + d.row * rh + 1, c[1] - c[0], rh - 2);
    }
    const bh = Math.round(rh * 0.72);
    const off = Math.round((rh - bh) / 2);
    const minPx = (view.e - view.s) / plotW();
    for (const s of P.setups) {
      const c = clipX(s.start, s.end);
      const b = s.bar;
      if (!c) continue;
      g.fillStyle = pattern(g, "setup:" + b.op_class, "rgba(255,255,255,0.55)", darker(P.colors[b.op_class] || "#888888", 0.55));
      g.fillRect(c[0], AXIS_H + s.row * rh + off, Math.max(1, c[1] - c[0]), bh);
    }
    g.font = "10px system-ui, sans-serif";
    g.textBaseline = "middle";
    g.textAlign = "left";
    for (const row of P.rows) {
      for (const b of row) {
        if (b.end < view.s - minPx || b.start > view.e) continue;
        const c = clipX(b.start, b.end);
        if (!c) continue;
        const y = AXIS_H + b.row * rh + off;
        const w = Math.max(1, c[1] - c[0]);
        const col = P.colors[b.op_class] || "#888888";
        g.fillStyle = col;
        g.fillRect(c[0], y, w, bh);
        if (w > 3) {
          g.strokeStyle = "rgba(255,255,255,0.9)";
          g.lineWidth = 1;
          g.strokeRect(c[0] + 0.5, y + 0.5, w - 1, bh - 1);
        }
        if (b.late) {
          g.fillStyle = LATE;
          if (w >= 12) {
            g.strokeStyle = LATE;
            g.lineWidth = 1.6;
            g.strokeRect(c[0] + 0.8, y + 0.8, w - 1.6, bh - 1.6);
          } else g.fillRect(c[0], y + bh, w, Math.max(2, off - 1)); // thin bars: a red underline
        }
        if (w > 46) {
          g.fillStyle = textColor(col);
          const label = w > 110 ? `${b.op_id} ${b.operation}` : b.op_id;
          g.fillText(label, c[0] + 4, y + bh / 2, w - 8);
        }
      }
    }
    g.restore();
    g.fillStyle = "#ffffff";
    g.fillRect(0, AXIS_H, labelW, heightPx() - AXIS_H);
    g.font = "12px system-ui, sans-serif";
    g.textAlign = "left";
    g.textBaseline = "middle";
    (P.data.machines || []).forEach((m, r) => {
      if (r % 2 === 1) {
        g.fillStyle = "#f6f7f9";
        g.fillRect(0, AXIS_H + r * rh, labelW, rh);
      }
      g.fillStyle = "#24292f";
      g.fillText(rowLabel(m), 8, AXIS_H + r * rh + rh / 2, labelW - 14);
    });
    g.strokeStyle = "#d0d7de";
    g.beginPath();
    g.moveTo(labelW - 0.5, 0);
    g.lineTo(labelW - 0.5, heightPx());
    g.stroke();
  }

  function outline(g, b, color, lw, dash) {
    const c = clipX(b.start, b.end);
    if (!c) return;
    const rh = rowH();
    const bh = Math.round(rh * 0.72);
    const y = AXIS_H + b.row * rh + Math.round((rh - bh) / 2);
    g.setLineDash(dash || []);
    g.strokeStyle = color;
    g.lineWidth = lw;
    g.strokeRect(c[0] - lw / 2, y - lw / 2, Math.max(1, c[1] - c[0]) + lw, bh + lw);
    g.setLineDash([]);
  }

  function drawOverlay() {
    const g = resizeCanvas(overlay);
    g.clearRect(0, 0, width, heightPx());
    g.save();
    g.beginPath();
    g.rect(labelW, AXIS_H, plotW(), heightPx() - AXIS_H);
    g.clip();
    const sel = P.byId.get(model.get("selected_op"));
    if (sel) {
      for (const b of P.bars) if (b.job === sel.job && b !== sel) outline(g, b, "#1f2328", 1, [3, 2]);
      outline(g, sel, "#0b0d10", 2.5);
    }
    const focus = hover || sel;
    if (focus && focus.due_slot !== null && focus.due_slot !== undefined) {
      const x = sx(focus.due_slot);
      g.strokeStyle = focus.late ? LATE : "#1a7f37";
      g.setLineDash([4, 3]);
      g.lineWidth = 1.5;
      g.beginPath();
      g.moveTo(x, AXIS_H + focus.row * rowH());
      g.lineTo(x, AXIS_H + (focus.row + 1) * rowH());
      g.stroke();
      g.setLineDash([]);
    }
    if (hover && hover !== sel) outline(g, hover, "#0969da", 2);
    drawNow(g);
    drawPins(g);
    if (drag && drag.bar && drag.moved) drawDrag(g, drag.bar, drag.target);
    g.restore();
    root.dataset.selectedOp = model.get("selected_op") || "";
  }

  const rowOf = (machine) => (P.data.machines || []).findIndex((m) => m.machine === machine);
  const editable = () => !!model.get("editable");

  function drawNow(g) {
    // the re-plan's now: before it nothing new starts (shaded), the line marks it
    const now = model.get("now_slot");
    if (now === null || now === undefined || now <= view.s) return;
    const x = Math.min(sx(now), labelW + plotW());
    g.fillStyle = "rgba(31,35,40,0.07)";
    g.fillRect(labelW, AXIS_H, x - labelW, heightPx() - AXIS_H);
    if (now >= view.e) return;
    g.strokeStyle = "#8250df";
    g.lineWidth = 1.5;
    g.setLineDash([6, 3]);
    g.beginPath();
    g.moveTo(x, AXIS_H);
    g.lineTo(x, heightPx() - PAD_BOTTOM);
    g.stroke();
    g.setLineDash([]);
  }

  function drawPins(g) {
    for (const p of model.get("pins") || []) {
      const row = rowOf(p.machine);
      if (row < 0) continue;
      const pin = { row, start: p.start, end: Math.max(p.end, p.start + 0.2) };
      outline(g, pin, "#8250df", 2, [5, 3]);
      const x = sx(p.start);
      const y = AXIS_H + row * rowH() + 2;
      g.fillStyle = "#8250df";
      g.beginPath();
      g.arc(x, y + 2, 3.5, 0, 2 * Math.PI);
      g.fill();
    }
  }

  function drawDrag(g, b, t) {
    // eligible rows tinted, the snapped drop position drawn with its duration on that machine
    const rh = rowH();
    const slots = new Map(b.eligible.map(([r, d]) => [r, d]));
    P.rows.forEach((_, r) => {
      g.fillStyle = slots.has(r) ? "rgba(46,160,67,0.16)" : "rgba(31,35,40,0.06)";
      g.fillRect(labelW, AXIS_H + r * rh, plotW(), rh);
    });
    if (!t) return;
    const ok = slots.has(t.row) || b.eligible.length === 0;
    const dur = slots.get(t.row) ?? b.end - b.start;
    const ghost = { row: t.row, start: t.start, end: t.start + dur };
    const c = clipX(ghost.start, ghost.end);
    if (c) {
      const bh = Math.round(rh * 0.72);
      g.fillStyle = ok ? "rgba(9,105,218,0.35)" : "rgba(214,39,40,0.30)";
      g.fillRect(c[0], AXIS_H + t.row * rh + Math.round((rh - bh) / 2), Math.max(1, c[1] - c[0]), bh);
    }
    outline(g, ghost, ok ? "#0969da" : LATE, 2, [4, 2]);
    const m = P.data.machines[t.row];
    const label = `${b.op_id} → ${m ? m.machine : "?"} ${fmt(t.start)}${ok ? "" : " (not eligible)"}`;
    g.font = "600 11px system-ui, sans-serif";
    g.textBaseline = "bottom";
    g.textAlign = "left";
    const tx = Math.min(Math.max(labelW + 2, sx(t.start)), width - g.measureText(label).width - 6);
    const ty = Math.max(AXIS_H + 12, AXIS_H + t.row * rh - 1);
    g.fillStyle = "rgba(255,255,255,0.9)";
    g.fillRect(tx - 2, ty - 13, g.measureText(label).width + 4, 13);
    g.fillStyle = ok ? "#0969da" : LATE;
    g.fillText(label, tx, ty);
  }

  function dropTarget(x, y) {
    const row = Math.min(P.rows.length - 1, Math.max(0, Math.floor((y - AXIS_H) / rowH())));
    return { row, start: Math.round(xs(x) - drag.grab) };
  }

  function propose(b, t) {
    const m = P.data.machines[t.row];
    if (!m) return;
    model.set("drop_proposal", { op_id: b.op_id, machine: m.machine, start_slot: t.start, nonce: Date.now() + Math.random() });
    model.save_changes();
  }

  function showRefusal() {
    const text = model.get("drop_refusal") || "";
    refusal.textContent = text;
    refusal.hidden = !text;
    root.dataset.refusal = text;
  }

  function schedule(baseToo) {
    dirtyBase = dirtyBase || baseToo;
    if (frame) return;
    frame = requestAnimationFrame(() => {
      frame = 0;
      if (dirtyBase) drawBase();
      dirtyBase = false;
      drawOverlay();
    });
  }

  function barAtLocal(x, y) {
    if (x < labelW || y < AXIS_H) return null;
    const r = Math.floor((y - AXIS_H) / rowH());
    const row = P.rows[r];
    if (!row) return null;
    const slot = xs(x);
    const tol = 3 * ((view.e - view.s) / plotW()); // 3 px grace for thin bars
    let lo = 0;
    let hi = row.length - 1;
    let best = null;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (row[mid].start <= slot + tol) {
        best = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    for (const i of [best, best === null ? null : best - 1]) {
      if (i !== null && i >= 0 && row[i].start - tol <= slot && slot < row[i].end + tol) return row[i];
    }
    return null;
  }

  function showTip(b, x, y) {
    if (!b) {
      tip.hidden = true;
      return;
    }
    const hours = ((b.end - b.start) * P.slotMin) / 60;
    const late = b.late ? `<span class="prodsched-gantt-tip-late">late ${b.late_days} d</span>` : `<span class="prodsched-gantt-tip-ok">on time</span>`;
    tip.innerHTML =
      `<b>${esc(b.op_id)}</b> ${late}<br>` +
      `${esc(b.operation)} · ${esc(b.op_class || "(no class)")}${b.mixture ? " · " + esc(b.mixture) : ""}<br>` +
      `job ${esc(b.job)} · PO ${esc(b.po_nos.join(", "))}<br>` +
      `item ${esc(b.item)} · ${esc(b.width_mm)} mm · ${esc(b.length_m)} m<br>` +
      `${esc(b.machine)}: ${fmt(b.start)} → ${fmt(b.end)} (${hours.toFixed(1)} h)<br>` +
      (b.setup_slots ? `setup ${b.setup_slots} slots: ${esc(b.setup_reason)}<br>` : "") +
      `due ${esc(b.due)}`;
    tip.hidden = false;
    const tw = tip.offsetWidth;
    const th = tip.offsetHeight;
    tip.style.left = `${Math.max(4, x + 14 + tw > width ? x - tw - 14 : x + 14)}px`;
    tip.style.top = `${Math.max(4, Math.min(y + 14, heightPx() - th - 4))}px`;
  }

  let syncing = false;
  function syncView() {
    // both ends are read first and set without reacting to our own change events: a change
    // handler seeing the new start with the old end would otherwise move the view (and the end
    // set next would be that moved one)
    clearTimeout(syncTimer);
    syncTimer = setTimeout(() => {
      const { s, e } = view;
      syncing = true;
      try {
        model.set("view_start", s);
        model.set("view_end", e);
      } finally {
        syncing = false;
      }
      model.save_changes();
    }, 200);
  }

  function zoom(factor, atX) {
    const full = (P.hi - P.lo) * 1.5;
    const anchor = xs(atX ?? labelW + plotW() / 2);
    const span = Math.min(full, Math.max(2, (view.e - view.s) * factor));
    const t = (anchor - view.s) / (view.e - view.s);
    view = { s: anchor - t * span, e: anchor - t * span + span };
    schedule(true);
    syncView();
  }

  function select(opId) {
    model.set("selected_op", opId || "");
    model.save_changes();
    root.dataset.selectedOp = opId || "";
    schedule(false);
  }

  // ---- events
  let drag = null;
  const local = (ev) => {
    const r = stage.getBoundingClientRect();
    return [ev.clientX - r.left, ev.clientY - r.top];
  };
  const onWheel = (ev) => {
    const [x] = local(ev);
    if (x < labelW) return;
    ev.preventDefault();
    hover = null;
    tip.hidden = true;
    zoom(Math.exp(ev.deltaY * 0.0015), x);
  };
  const onDown = (ev) => {
    if (ev.button !== 0) return;
    const [x, y] = local(ev);
    const bar = editable() ? barAtLocal(x, y) : null;
    drag = { x, y, s: view.s, e: view.e, moved: false, bar, grab: bar ? xs(x) - bar.start : 0, target: null };
    stage.setPointerCapture?.(ev.pointerId);
  };
  const onMove = (ev) => {
    const [x, y] = local(ev);
    if (drag) {
      const dx = x - drag.x;
      if (Math.abs(dx) > 3 || Math.abs(y - drag.y) > 3) drag.moved = true;
      if (drag.moved && drag.bar) {
        drag.target = dropTarget(x, y);
        root.dataset.dragOp = drag.bar.op_id; // what is highlighted (for tests)
        refusal.hidden = true; // an earlier refusal no longer applies
        root.dataset.dragRows = drag.bar.eligible.map(([r]) => r).join(",");
        tip.hidden = true;
        stage.style.cursor = "grabbing";
        schedule(false);
        return;
      }
      if (drag.moved) {
        const ds = (dx / plotW()) * (drag.e - drag.s);
        view = { s: drag.s - ds, e: drag.e - ds };
        tip.hidden = true;
        schedule(true);
        return;
      }
    }
    const b = barAtLocal(x, y);
    stage.style.cursor = b ? (editable() ? "move" : "pointer") : drag ? "grabbing" : "grab";
    if (b !== hover) {
      hover = b;
      schedule(false);
    }
    showTip(b, x, y);
  };
  const onUp = (ev) => {
    if (!drag) return;
    const [x, y] = local(ev);
    if (drag.moved && drag.bar) {
      const b = drag.bar;
      const t = dropTarget(x, y);
      drag = null;
      delete root.dataset.dragOp;
      delete root.dataset.dragRows;
      propose(b, t); // Python answers: a refusal (shown again) or a new pin
      schedule(false);
      return;
    }
    if (drag.moved) syncView();
    else select(barAtLocal(x, y)?.op_id || "");
    drag = null;
  };
  const onLeave = () => {
    hover = null;
    tip.hidden = true;
    schedule(false);
  };
  stage.addEventListener("wheel", onWheel, { passive: false });
  stage.addEventListener("pointerdown", onDown);
  stage.addEventListener("pointermove", onMove);
  stage.addEventListener("pointerup", onUp);
  stage.addEventListener("pointerleave", onLeave);
  stage.addEventListener("dblclick", () => {
    fitView();
    schedule(true);
    syncView();
  });
  btnIn.addEventListener("click", () => zoom(0.5));
  btnOut.addEventListener("click", () => zoom(2));
  btnFit.addEventListener("click", () => {
    fitView();
    schedule(true);
    syncView();
  });

  // ---- model
  const onData = () => {
    P = prepare(model.get("data") || {});
    hover = null;
    setupHeader();
    measureLabels();
    applyModelView();
    schedule(true);
  };
  const onView = () => {
    if (syncing) return;
    const s = model.get("view_start");
    const e = model.get("view_end");
    if (s === view.s && e === view.e) return;
    applyModelView();
    schedule(true);
  };
  const onSelected = () => {
    root.dataset.selectedOp = model.get("selected_op") || "";
    const b = P.byId.get(model.get("selected_op"));
    if (b && (b.end < view.s || b.start > view.e)) {
      const span = view.e - view.s;
      view = { s: (b.start + b.end) / 2 - span / 2, e: (b.start + b.end) / 2 + span / 2 };
      schedule(true);
    }
    schedule(false);
  };
  const onRowH = () => schedule(true);
  const onPins = () => schedule(false);
  const onEditable = () => {
    root.dataset.editable = editable() ? "1" : "";
  };
  model.on("change:data", onData);
  model.on("change:view_start", onView);
  model.on("change:view_end", onView);
  model.on("change:selected_op", onSelected);
  model.on("change:row_height", onRowH);
  model.on("change:pins", onPins);
  model.on("change:now_slot", onPins);
  model.on("change:drop_refusal", showRefusal);
  model.on("change:editable", onEditable);
  onEditable();
  showRefusal();

  const ro = new ResizeObserver(() => {
    const w = Math.floor(root.clientWidth);
    if (w > 0 && w !== width) {
      width = w;
      schedule(true);
    }
  });
  ro.observe(root);
  width = Math.floor(root.clientWidth) || 800;
  onData();

  root.prodschedGantt = {
    opIds: () => P.bars.map((b) => b.op_id),
    view: () => ({ start: view.s, end: view.e }),
    barAt: (clientX, clientY) => {
      const r = stage.getBoundingClientRect();
      return barAtLocal(clientX - r.left, clientY - r.top)?.op_id || null;
    },
    barRect: (opId) => {
      const b = P.byId.get(opId);
      const c = b && clipX(b.start, b.end);
      if (!c) return null;
      const r = stage.getBoundingClientRect();
      const rh = rowH();
      const bh = Math.round(rh * 0.72);
      return { x: r.left + c[0], y: r.top + AXIS_H + b.row * rh + Math.round((rh - bh) / 2), width: c[1] - c[0], height: bh };
    },
    select,
    setView: (s, e) => {
      view = { s, e };
      schedule(true);
      syncView();
    },
    slotX: (slot) => stage.getBoundingClientRect().left + sx(slot),
    rowY: (row) => stage.getBoundingClientRect().top + AXIS_H + (row + 0.5) * rowH(),
    rowOf,
    eligible: (opId) => (P.byId.get(opId)?.eligible || []).map(([row, slots]) => ({ row, slots, machine: P.data.machines[row]?.machine })),
  };

  return () => {
    ro.disconnect();
    cancelAnimationFrame(frame);
    clearTimeout(syncTimer);
    model.off("change:data", onData);
    model.off("change:view_start", onView);
    model.off("change:view_end", onView);
    model.off("change:selected_op", onSelected);
    model.off("change:row_height", onRowH);
    model.off("change:pins", onPins);
    model.off("change:now_slot", onPins);
    model.off("change:drop_refusal", showRefusal);
    model.off("change:editable", onEditable);
  };
}

export default { render };
