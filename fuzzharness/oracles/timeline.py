"""Timelines: a non-linearizable partition drawn so that a person can follow it.

For one partition of a checked history (:class:`~fuzzharness.oracles.linearizability.PartitionResult`)
this module renders:

* :func:`render_text` -- the partition's ops in invoke order, one row each, in a
  column per thread, with relative invoke/return times in microseconds; each op
  is marked with its position in the longest linearizable prefix (``L3``), or
  ``!!`` for the op that cannot be placed after that prefix, or ``..`` for an op
  left pending; then the model state after the prefix;
* :func:`render_html` -- a self-contained HTML page (no scripts fetched, no
  external files) in the spirit of Porcupine's visualizer: one lane per thread,
  each op a bar from invoke to return, coloured by the same marks, with a
  tooltip naming op, result and times; the same table below it.

Both only read their inputs; nothing here judges the history.
"""

from __future__ import annotations

import html
from typing import Callable

from fuzzharness.oracles.linearizability import Model, PartitionResult

__all__ = ["render_text", "render_html", "marks"]


def marks(part: PartitionResult) -> dict[int, str]:
    """Index into ``part.operations`` -> ``L<n>`` / ``!!`` / ``..``."""
    out = {i: ".." for i in range(len(part.operations))}
    for position, i in enumerate(part.longest, 1):
        out[i] = f"L{position}"
    if part.stuck is not None:
        out[part.stuck] = "!!"
    return out


def _rows(part: PartitionResult, model: Model, label: Callable[[int], str]):
    ops = part.operations
    t0 = min((op.call for op in ops), default=0)
    order = sorted(range(len(ops)), key=lambda i: (ops[i].call, ops[i].ret))
    m = marks(part)
    for i in order:
        op = ops[i]
        yield i, op, (op.call - t0) / 1000, (op.ret - t0) / 1000, m[i], model.describe_operation(op.input, op.output), label(op.id)


def render_text(part: PartitionResult, model: Model, label: Callable[[int], str] = str, window: int = 60) -> str:
    """The partition as a table (at most ``window`` rows, centred on the stuck op)."""
    rows = list(_rows(part, model, label))
    clients = sorted({op.client for op in part.operations})
    if part.stuck is not None and len(rows) > window:
        centre = next(k for k, r in enumerate(rows) if r[0] == part.stuck)
        start = max(0, min(centre - window // 2, len(rows) - window))
        rows_shown = rows[start : start + window]
        note = f"(rows {start + 1}..{start + len(rows_shown)} of {len(rows)}, around the op that cannot be placed)\n"
    else:
        rows_shown, note = rows[:window], (f"(first {window} of {len(rows)} rows)\n" if len(rows) > window else "")
    width = 44
    header = f"{'invoke us':>10} {'return us':>10}  mark  " + "".join(f"{_client_name(c, clients):<{width}}" for c in clients)
    lines = [f"partition {part.key}: {part.result.value}; {len(part.operations)} ops, "
             f"longest linearizable prefix {len(part.longest)} ops", note.rstrip("\n"), header]  # fmt: skip
    for _, op, start_us, end_us, mark, text, _lab in rows_shown:
        cells = "".join(f"{(text if c == op.client else ''):<{width}.{width - 2}}" for c in clients)
        lines.append(f"{start_us:>10.2f} {end_us:>10.2f}  {mark:<4}  {cells.rstrip()}")
    if part.stuck is not None:
        stuck = part.operations[part.stuck]
        lines.append("")
        lines.append(f"cannot be placed: {_client_name(stuck.client, clients)}: {model.describe_operation(stuck.input, stuck.output)}")
    lines.append("model state after the prefix: " + " | ".join(sorted(model.describe_state(s) for s in part.states)))
    return "\n".join(line for line in lines if line is not None) + "\n"


#: Client number of the epilogue's ops (after every thread joined); see concurrent_model.
EPILOGUE_CLIENT = 1000


def _client_name(client: int, clients: list[int]) -> str:
    return "epilogue" if client >= EPILOGUE_CLIENT else f"T{client}"


_COLOURS = {"L": "#7fc97f", "!!": "#e41a1c", "..": "#bbbbbb"}


#: Ops of the linearizable prefix shown before the stuck op in the zoomed view.
ZOOM_PREFIX_OPS = 6
#: Narrowest bar (px) of the zoomed view: the op that cannot be placed is always visible.
MIN_BAR = 20
#: A mark is written on a bar only if it fits (px per character); else the tooltip has it.
_CHAR_PX = 7


def zoom_window(part: PartitionResult, rows: list) -> tuple[float, float]:
    """The interesting window (us): the op that cannot be placed, every op overlapping it,
    and the last :data:`ZOOM_PREFIX_OPS` ops of the linearizable prefix; the whole run
    when nothing is stuck."""
    if not rows:
        return 0.0, 1.0
    if part.stuck is None:
        return 0.0, max(r[3] for r in rows) or 1.0
    stuck = next(r for r in rows if r[0] == part.stuck)
    lo, hi = stuck[2], stuck[3]
    for r in rows:
        if r[2] <= stuck[3] and r[3] >= stuck[2]:  # overlaps the stuck op
            lo, hi = min(lo, r[2]), max(hi, r[3])
    prefix = [r for r in rows if r[0] in set(part.longest[-ZOOM_PREFIX_OPS:])]
    for r in prefix:
        lo, hi = min(lo, r[2]), max(hi, r[3])
    margin = max((hi - lo) * 0.05, 0.01)
    return max(0.0, lo - margin), hi + margin


def _lanes_svg(rows: list, clients: list[int], window: tuple[float, float], width: int, element_id: str,
               highlight: tuple[float, float] | None = None) -> str:  # fmt: skip
    """One lane per thread, each op a bar; ops outside ``window`` are left out."""
    lane_h, top, left = 34, 24, 90
    lo, hi = window
    scale = (width - left - 20) / ((hi - lo) or 1.0)
    height = top + lane_h * len(clients) + 10
    svg = [f'<svg id="{element_id}" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">']
    for lane, c in enumerate(clients):
        y = top + lane * lane_h
        svg.append(f'<text x="4" y="{y + 20}" font-size="13">{html.escape(_client_name(c, clients))}</text>')
        svg.append(f'<line x1="{left}" y1="{y + lane_h - 2}" x2="{width - 10}" y2="{y + lane_h - 2}" stroke="#eee"/>')
    svg.append(f'<text x="{left}" y="14" font-size="11" fill="#555">{lo:.2f} us</text>')
    svg.append(f'<text x="{width - 10}" y="14" font-size="11" fill="#555" text-anchor="end">{hi:.2f} us</text>')
    if highlight is not None:
        hx = left + (highlight[0] - lo) * scale
        hw = max((highlight[1] - highlight[0]) * scale, 3)
        svg.append(f'<rect x="{hx:.1f}" y="{top - 4}" width="{hw:.1f}" height="{lane_h * len(clients) + 6}" '
                   f'fill="none" stroke="#1f78b4" stroke-width="2" stroke-dasharray="4 2"/>')  # fmt: skip
    stuck_svg = []
    for _, op, start_us, end_us, mark, text, lab in rows:
        if end_us < lo or start_us > hi:
            continue
        y = top + clients.index(op.client) * lane_h
        x = left + (max(start_us, lo) - lo) * scale
        w = max((min(end_us, hi) - max(start_us, lo)) * scale, MIN_BAR if mark == "!!" else 2)
        x = min(x, width - 10 - w)  # a widened bar at the right edge stays on the page
        colour = _COLOURS["L"] if mark.startswith("L") else _COLOURS[mark]
        tip = html.escape(f"{lab}\n{text}\ninvoke {start_us:.2f} us, return {end_us:.2f} us, {mark}")
        ident = f' id="{element_id}-stuck" class="stuck"' if mark == "!!" else ""
        label = (f'<text x="{x + 2:.1f}" y="{y + 19}" font-size="10">{html.escape(mark)}</text>'
                 if w >= _CHAR_PX * len(mark) + 4 else "")  # fmt: skip
        bar = (f'<g{ident}><title>{tip}</title><rect x="{x:.1f}" y="{y + 4}" width="{w:.1f}" height="{lane_h - 10}" '
               f'fill="{colour}" stroke="#333" stroke-width="{2 if mark == "!!" else 0.5}" opacity="{1 if mark == "!!" else 0.85}"/>'
               f"{label}</g>")  # fmt: skip
        (stuck_svg if mark == "!!" else svg).append(bar)
    svg += stuck_svg  # drawn last: never hidden under another bar
    svg.append("</svg>")
    return "".join(svg)


def render_html(part: PartitionResult, model: Model, title: str, label: Callable[[int], str] = str) -> str:
    """A self-contained HTML page showing the partition on per-thread lanes: the window
    that matters (the op that cannot be placed, what overlaps it and the end of the
    linearizable prefix) zoomed to the page's width, then the whole run with that
    window outlined, then the table."""
    rows = list(_rows(part, model, label))
    clients = sorted({op.client for op in part.operations})
    width = 1400
    end = max((r[3] for r in rows), default=1.0) or 1.0
    window = zoom_window(part, rows)
    zoomed = _lanes_svg(rows, clients, window, width, "zoom")
    overview = _lanes_svg(rows, clients, (0.0, end), width, "overview", highlight=window if part.stuck is not None else None)
    table = ["<table><tr><th>invoke us</th><th>return us</th><th>mark</th><th>thread</th><th>op -> result</th></tr>"]
    for _, op, start_us, end_us, mark, text, _lab in rows:
        style = ' style="background:#fdd"' if mark == "!!" else ""
        table.append(
            f"<tr{style}><td>{start_us:.2f}</td><td>{end_us:.2f}</td><td>{html.escape(mark)}</td>"
            f"<td>{html.escape(_client_name(op.client, clients))}</td><td><code>{html.escape(text)}</code></td></tr>"
        )
    table.append("</table>")
    stuck = ""
    if part.stuck is not None:
        s = part.operations[part.stuck]
        stuck = f"<p><b>Cannot be placed</b> after the prefix: <code>{html.escape(model.describe_operation(s.input, s.output))}</code></p>"
    states = "<br>".join(html.escape(model.describe_state(s)) for s in part.states)
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:1em}} table{{border-collapse:collapse;font-size:12px}}
td,th{{border:1px solid #ccc;padding:2px 6px}} code{{font-size:12px}}</style></head>
<body><h2>{html.escape(title)}</h2>
<p>Partition <code>{html.escape(str(part.key))}</code>: <b>{html.escape(part.result.value)}</b>.
{len(part.operations)} ops; the longest linearizable prefix has {len(part.longest)} ops
(green, numbered L1.. in linearization order); red <b>!!</b> is the op that cannot be placed after it;
grey ops were not reached. Hover a bar for details.</p>
<h3>The window that matters: {window[0]:.2f} us .. {window[1]:.2f} us</h3>
{zoomed}
{stuck}
<h3>The whole run ({end:.2f} us; the window above outlined)</h3>
{overview}
<p>Model state after the prefix:<br><code>{states}</code></p>
{"".join(table)}
</body></html>
"""
