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


def render_html(part: PartitionResult, model: Model, title: str, label: Callable[[int], str] = str) -> str:
    """A self-contained HTML page showing the partition on per-thread lanes."""
    rows = list(_rows(part, model, label))
    clients = sorted({op.client for op in part.operations})
    lane_h, top, left, width = 34, 30, 90, 1400
    end = max((r[3] for r in rows), default=1.0) or 1.0
    scale = (width - left - 20) / end
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{top + lane_h * len(clients) + 20}">']
    for lane, c in enumerate(clients):
        y = top + lane * lane_h
        svg.append(f'<text x="4" y="{y + 20}" font-size="13">{html.escape(_client_name(c, clients))}</text>')
        svg.append(f'<line x1="{left}" y1="{y + lane_h - 2}" x2="{width - 10}" y2="{y + lane_h - 2}" stroke="#eee"/>')
    for _, op, start_us, end_us, mark, text, lab in rows:
        y = top + clients.index(op.client) * lane_h
        x = left + start_us * scale
        w = max((end_us - start_us) * scale, 2)
        colour = _COLOURS["L"] if mark.startswith("L") else _COLOURS[mark]
        tip = html.escape(f"{lab}\n{text}\ninvoke {start_us:.2f} us, return {end_us:.2f} us, {mark}")
        svg.append(
            f'<g><title>{tip}</title><rect x="{x:.1f}" y="{y + 4}" width="{w:.1f}" height="{lane_h - 10}" '
            f'fill="{colour}" stroke="#333" stroke-width="{2 if mark == "!!" else 0.5}" opacity="0.85"/>'
            f'<text x="{x + 2:.1f}" y="{y + 19}" font-size="10">{html.escape(mark)}</text></g>'
        )
    svg.append("</svg>")
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
{"".join(svg)}
{stuck}
<p>Model state after the prefix:<br><code>{states}</code></p>
{"".join(table)}
</body></html>
"""
