"""Campaign reports: one JSON model, rendered for people, for code scanning and for CI.

:func:`build_report` turns a campaign's journal state into one JSON-ready dict;
:func:`write_all` renders it, each file written atomically, into ``--out``:

* ``report.json``       -- everything below, for tools;
* ``report.md``         -- the summary a person reads in a minute: verdict, new and
  known findings with their minimal programs and repro commands, per-lane table and,
  for a campaign on a Dask cluster, the per-worker table and the cluster's execs/s;
* ``report.html``       -- self-contained (plots are inline SVG drawn by matplotlib):
  the same, plus execs/s and coverage/corpus size over time;
* ``report.sarif``      -- SARIF 2.1.0 for code scanning: one rule per finding kind,
  one result per finding, located at project source frames (the ASan/Go/Rust
  frames in the shims when the finding has them, else the shim export of the
  contract function that misbehaved, with the contract declaration as a related
  location); ``baselineState`` says new or unchanged;
* ``report.junit.xml``  -- JUnit XML: one testcase per lane (error = failure,
  unavailable or interrupted = skipped) and one per finding (new = failure, known = skipped).

Every format shows the same lane status (:func:`lane_status`) and exit code (:func:`exit_code`).
Text from finding files is untrusted: control characters are escaped wherever it is shown.
"""

from __future__ import annotations

import html
import io
import json
import re
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from fuzzharness import __version__
from fuzzharness.contract.header import PROJECT_ROOT
from fuzzharness.findings.durable import write_atomic
from fuzzharness.findings.store import FindingKind

__all__ = ["build_report", "write_all", "to_markdown", "to_html", "to_sarif", "to_junit", "REPORT_FILES"]

REPORT_FILES = ("report.json", "report.md", "report.html", "report.sarif", "report.junit.xml")
SCHEMA = "fuzzharness-campaign-report/1"
_SHIM_EXPORTS = {"rust": ("rust_shim/src/ffi.rs", r"fn {name}\("), "go": ("go_shim/exports.go", r"^func {name}\(")}
_DECLS = "targets/include/fuzzharness_decls.h"


def _read(path: Path) -> str | None:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return None


def _finding_entry(state: Any, fid: str, record: dict[str, Any], findings_dir: Path) -> dict[str, Any]:
    directory = findings_dir / fid
    saved: dict[str, Any] = {}
    try:
        saved = json.loads((directory / "finding.json").read_text())
    except (OSError, ValueError):
        pass
    program = _read(directory / "program.fh")
    program_min = _read(directory / "program.min.fh")
    minimized = state.minimized.get(fid) or {}
    if not minimized:
        try:
            minimized = json.loads((directory / "minimized.json").read_text())
        except (OSError, ValueError):
            minimized = {}
    targets = saved.get("targets") or record.get("targets") or []
    variant, mutant = saved.get("variant", state.config.variant), int(saved.get("mutant", 0) or 0)
    repro = f"fuzzharness repro {directory}"
    repro_min = None
    if program_min is not None:
        repro_min = f"fuzzharness repro {directory / 'program.min.fh'} --targets {','.join(targets)} --variant {variant}"
        if mutant:
            repro_min += f" --mutant {mutant}"
        if program_min.lstrip().startswith("# fuzzharness concurrent"):
            repro_min += " --times 10"  # a concurrent replay depends on the scheduler
    return {
        "id": fid,
        "kind": saved.get("kind", record.get("kind")),
        "targets": targets,
        "variant": variant,
        "mutant": mutant,
        "summary": saved.get("summary", record.get("summary", "")),
        "signature": saved.get("signature", []),
        "new": fid not in state.known_at_start,
        "count": record.get("count", 1),
        "lanes": record.get("lanes", []),
        "first_seen_elapsed": round(float(record.get("elapsed", 0.0)), 1),
        "path": str(directory),
        "program": program,
        "program_ops": _ops(program),
        "program_min": program_min,
        "program_min_ops": _ops(program_min),
        "minimized": minimized,
        "repro": repro,
        "repro_min": repro_min,
        "locations": _locations(saved, targets),
    }


def _ops(text: str | None) -> int | None:
    if text is None:
        return None
    # Concurrent programs: their schedule, setup: and thread N: lines are not ops.
    headers = ("config", "schedule", "setup:", "thread ")
    return sum(1 for line in text.splitlines()
               if line.split("#", 1)[0].strip() and not line.startswith(headers))  # fmt: skip


def _find_line(rel: str, pattern: str) -> int | None:
    text = _read(PROJECT_ROOT / rel)
    if text is None:
        return None
    rx = re.compile(pattern, re.M)
    for number, line in enumerate(text.splitlines(), 1):
        if rx.search(line):
            return number
    return None


def _resolve(location: str) -> tuple[str, int] | None:
    """``src/ffi.rs:413`` (or ``exports.go:190:3``) -> a project file and line, if it is one."""
    m = re.search(r"([\w./-]+\.(?:rs|go|c|h)):(\d+)", location)
    if not m:
        return None
    path, line = m.group(1), int(m.group(2))
    path = re.sub(r"^.*?/(rust_shim|go_shim)/", r"\1/", path)
    for candidate in (path, f"rust_shim/{path}", f"go_shim/{path}"):
        if (PROJECT_ROOT / candidate).is_file() and not candidate.startswith("/"):
            return candidate, line
    return None


def _locations(saved: dict[str, Any], targets: list[str]) -> list[dict[str, Any]]:
    """Project source locations of a finding: frames first, else the shim export."""
    details = saved.get("details") or {}
    out: list[dict[str, Any]] = []
    report = details.get("report") or {}
    for frame in [*(report.get("frames") or []), *(report.get("allocated_by") or [])]:
        where = _resolve(str(frame))
        if where and {"uri": where[0], "line": where[1]} not in out:
            out.append({"uri": where[0], "line": where[1], "frame": str(frame)})
        if len(out) >= 3:
            break
    if out:
        return out
    function = (details.get("divergence") or {}).get("function") or (details.get("problem") or {}).get("function")
    if not function:
        for site in details.get("crash_site") or []:
            if m := re.search(r"in fh call (\w+)", site):
                function = m.group(1)
    if function:
        name = function if function.startswith("fh_") else f"fh_{function}"
        for target in targets:
            if target in _SHIM_EXPORTS:
                rel, pattern = _SHIM_EXPORTS[target]
                line = _find_line(rel, pattern.format(name=re.escape(name)))
                if line:
                    out.append({"uri": rel, "line": line, "frame": f"{name} ({target} export)"})
        line = _find_line(_DECLS, rf"\b{re.escape(name)}\(")
        if line:
            out.append({"uri": _DECLS, "line": line, "frame": f"{name} (contract)", "related": True})
    if not out:
        out.append({"uri": _DECLS, "line": 1, "frame": "the contract", "related": False})
    return out


def build_report(state: Any, out: Path, queue: Path, final: bool, elapsed: float) -> dict[str, Any]:
    from fuzzharness.findings.corpus import entries

    findings_dir = Path(out) / "findings"
    findings = [_finding_entry(state, fid, rec, findings_dir) for fid, rec in state.findings.items()]
    findings.sort(key=lambda f: (not f["new"], f["first_seen_elapsed"]))
    # Two signatures with the same minimal program (e.g. one bug seen by the plain and the ASan
    # build) are most likely one bug: say so beside the later one.
    by_program: dict[tuple, str] = {}
    for f in findings:
        f["same_program_as"] = None
        if f["program_min"]:
            key = (tuple(f["targets"]), f["program_min"].strip())
            first = by_program.setdefault(key, f["id"])
            f["same_program_as"] = first if first != f["id"] else None
    lanes = {}
    total_execs = 0
    for name, stats in state.lanes.items():
        rate = stats["execs"] / stats["seconds"] if stats["seconds"] else 0.0
        total_execs += stats["execs"]
        lanes[name] = {**stats, "seconds": round(stats["seconds"], 1), "scheduled": round(stats["scheduled"], 1),
                       "execs_per_second": round(rate, 1), "errors": stats["errors"][-5:],
                       "status": lane_status(stats)}  # fmt: skip
    new = [f for f in findings if f["new"]]
    bench = None
    try:
        bench = json.loads((Path(out) / "bench.json").read_text())
    except (OSError, ValueError):
        pass
    return {
        "schema": SCHEMA,
        "campaign": state.campaign_id,
        "generated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "status": "complete" if final else ("interrupted" if state.interrupted else "running"),
        "targets": state.config.targets,
        "variant": state.config.variant,
        "mutant": state.config.mutant,
        "seed": state.seed,
        "jobs": state.config.jobs,
        "duration": state.config.duration,
        "elapsed": round(elapsed, 1),
        "resumes": state.resumes,
        "until_first_finding": state.config.until_first_finding,
        "execs": total_execs,
        "execs_per_second": round(total_execs / elapsed, 1) if elapsed else 0.0,
        "corpus": {"queue": str(queue), "entries": len(entries(queue))},
        "lanes": lanes,
        "timeline": state.timeline,
        "findings": findings,
        "new": [f["id"] for f in new],
        "known": [f["id"] for f in findings if not f["new"]],
        "exit_code": exit_code(bool(new), state.interrupted, final, total_execs),
        "bench": bench,
        "cluster": _cluster(state, elapsed, total_execs),
    }


def lane_status(stats: dict[str, Any]) -> str:
    """The one status of a lane that every report format shows: ``unavailable`` (could not
    run), ``error`` (a slice failed: never ``ok``), ``interrupted`` (its slices were all
    interrupted before an exec), else ``ok``."""
    if stats["status"] != "ok":
        return str(stats["status"])
    if stats["errors"]:
        return "error"
    if stats.get("interrupted") and not stats["execs"]:
        return "interrupted"
    return "ok"


def exit_code(new: bool, interrupted: bool, final: bool, execs: int) -> int:
    """The campaign's exit code: 1 new findings, 5 interrupted, 4 nothing checked (no exec), else 0."""
    if new:
        return 1
    if interrupted:
        return 5
    if final and execs == 0:
        return 4
    return 0


def _cluster(state: Any, elapsed: float, total_execs: int) -> dict[str, Any] | None:
    """The per-worker table of a campaign on a cluster (None for a campaign on this machine).

    A worker's ``execs/s`` is over the seconds its slices ran; ``lost`` counts the slices
    that started there and ended elsewhere or never (its death); the cluster's total is
    every execution over the campaign's elapsed time, as the campaign's own figure."""
    if not state.config.scheduler:
        return None
    rows = []
    for address, w in sorted(state.workers.items(), key=lambda item: (str(item[1].get("name")), item[0])):
        busy = float(w["seconds"])
        rows.append({"worker": address, "name": w.get("name"), "host": w.get("host"), "slices": w["slices"],
                     "minimizations": w["minimizations"],
                     "lost": max(0, w["started"] - w["slices"] - w["minimizations"]), "seconds": round(busy, 1),
                     "execs": w["execs"], "execs_per_second": round(w["execs"] / busy, 1) if busy else 0.0,
                     "hits": w["hits"], "first_found": w["first_found"]})  # fmt: skip
    return {"scheduler": state.config.scheduler, "workers": rows, "execs": total_execs,
            "execs_per_second": round(total_execs / elapsed, 1) if elapsed else 0.0}  # fmt: skip


_WORKER_HEAD = ["worker", "host", "slices", "lost", "minimizations", "busy s", "execs", "execs/s", "hits", "first found"]


def _worker_rows(report: dict[str, Any]) -> list[list[str]]:
    return [[f"{w['name']} ({w['worker']})" if w.get("name") else w["worker"], str(w.get("host") or "-"),
             str(w["slices"]), str(w["lost"]), str(w["minimizations"]), f"{w['seconds']:.0f}", f"{w['execs']:,}",
             f"{w['execs_per_second']:,.1f}", str(w["hits"]), str(w["first_found"])]
            for w in report["cluster"]["workers"]]  # fmt: skip


def _cluster_total(report: dict[str, Any]) -> str:
    c = report["cluster"]
    return (f"Cluster {c['scheduler']}: {len(c['workers'])} worker(s), {c['execs']:,} execs in {report['elapsed']:.0f} s: "
            f"{c['execs_per_second']:,.1f} execs/s in total.")  # fmt: skip


# --------------------------------------------------------------------------- markdown


def _verdict(report: dict[str, Any]) -> str:
    n_new, n_known = len(report["new"]), len(report["known"])
    if n_new:
        return f"**{n_new} NEW finding(s)**, {n_known} known"
    return f"no new findings ({n_known} known)"


def _lane_rows(report: dict[str, Any]) -> list[list[str]]:
    rows = []
    for name, s in report["lanes"].items():
        status = s["status"] + (f": {s['reason']}" if s.get("reason") else "")
        rows.append([name, status, str(s["slices"]), f"{s['seconds']:.0f}", f"{s['execs']:,}",
                     f"{s['execs_per_second']:,.1f}", str(s["findings"]),
                     "-" if s.get("coverage") is None else str(s["coverage"]), str(s.get("corpus_added", 0))])  # fmt: skip
    return rows


_LANE_HEAD = ["lane", "status", "slices", "seconds", "execs", "execs/s", "hits", "coverage", "corpus added"]


def to_markdown(report: dict[str, Any]) -> str:
    lines = [
        f"# fuzzharness campaign {report['campaign']}",
        "",
        f"{_verdict(report)} - exit code {report['exit_code']} - status: {report['status']}",
        "",
        f"Targets {', '.join(report['targets'])} ({report['variant']}"
        + (f", mutant {report['mutant']}" if report["mutant"] else "")
        + (f"), on the Dask cluster {report['cluster']['scheduler']}" if report.get("cluster") else f"), {report['jobs']} jobs")
        + f", {report['elapsed']:.0f} s of {report['duration']:.0f} s"
        + (f", resumed {report['resumes']} time(s)" if report["resumes"] else "")
        + f", seed {report['seed']}. {report['execs']:,} execs, {report['execs_per_second']:,.1f} execs/s with all"
        f" lanes; corpus: {report['corpus']['entries']} entries.",
        "",
    ]
    for title, new in (("New findings", True), ("Known findings", False)):
        chosen = [f for f in report["findings"] if f["new"] == new]
        lines += [f"## {title} ({len(chosen)})", ""]
        for f in chosen:
            lines += [f"### [{f['kind']}] {f['id']}", "", f"{f['summary']}", "",
                      f"- hits: {f['count']} (lanes: {', '.join(f['lanes']) or '-'}); first seen at {f['first_seen_elapsed']} s",
                      f"- replay: `{f['repro']}`"]  # fmt: skip
            if f["repro_min"]:
                lines.append(f"- replay the minimal program: `{f['repro_min']}`")
            if f.get("same_program_as"):
                lines.append(f"- same minimal program as {f['same_program_as']}: most likely the same bug")
            where = ", ".join(f"{loc['uri']}:{loc['line']}" for loc in f["locations"])
            lines.append(f"- where: {where}")
            program = f["program_min"] or f["program"]
            if program:
                label = (f"minimal program ({f['program_min_ops']} ops, from {f['program_ops']})" if f["program_min"]
                         else f"program ({f['program_ops']} ops, not minimized: {f['minimized'].get('note') or f['minimized'].get('error') or 'pending'})")  # fmt: skip
                lines += ["", label + ":", "", "```", program.rstrip(), "```"]
            lines.append("")
    lines += ["## Lanes", "", "| " + " | ".join(_LANE_HEAD) + " |", "|" + "---|" * len(_LANE_HEAD)]
    lines += ["| " + " | ".join(r) + " |" for r in _lane_rows(report)]
    if report.get("cluster"):
        lines += ["", "## Workers", "", _cluster_total(report), "", "| " + " | ".join(_WORKER_HEAD) + " |",
                  "|" + "---|" * len(_WORKER_HEAD)]  # fmt: skip
        lines += ["| " + " | ".join(r) + " |" for r in _worker_rows(report)]
    if report.get("bench"):
        lines += ["", "## execs/s: all lanes vs each lane alone", "", "| run | execs | seconds | execs/s |", "|---|---|---|---|"]
        for row in report["bench"]["rows"]:
            lines.append(f"| {row['run']} | {row['execs']:,} | {row['seconds']:.0f} | {row['execs_per_second']:,.1f} |")
    lines.append("")
    return "\n".join(lines)


# --------------------------------------------------------------------------- html


def _svg_plots(report: dict[str, Any]) -> list[str]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import MaxNLocator
    except ImportError:  # pragma: no cover - matplotlib is a dependency
        return ["<p>(matplotlib is not installed: no plots)</p>"]
    timeline = report["timeline"]
    svgs = []
    fig, ax = plt.subplots(figsize=(7, 3))
    lanes = sorted({p["lane"] for p in timeline})
    for lane in lanes:
        pts = [(p["elapsed"], p["execs"] / p["seconds"]) for p in timeline if p["lane"] == lane and p["seconds"]]
        if pts:
            ax.plot(*zip(*pts), marker="o", label=lane)
    total, cumulative = 0, []
    for p in timeline:
        total += p["execs"]
        if p["elapsed"]:
            cumulative.append((p["elapsed"], total / p["elapsed"]))
    if cumulative:
        ax.plot(*zip(*cumulative), linestyle="--", color="black", label="all lanes")
    ax.set_xlabel("campaign time (s)")
    ax.set_ylabel("execs/s")
    ax.set_title("execs/s per lane slice, and all lanes together")
    ax.set_ylim(bottom=0)
    if lanes:
        ax.legend(fontsize="small", loc="upper left")
    _from_zero(ax, report)
    svgs.append(_svg(fig, plt))
    fig, ax = plt.subplots(figsize=(7, 3))
    corpus = [(p["elapsed"], p["corpus"]) for p in timeline if p.get("corpus") is not None]
    if corpus:
        ax.plot(*zip(*corpus), marker=".", label="corpus entries")
    coverage = [(p["elapsed"], p["coverage"]) for p in timeline if p.get("coverage") is not None]
    if coverage:
        ax2 = ax.twinx()
        ax2.plot(*zip(*coverage), color="tab:red", marker="o", label="coverage (edges)")
        ax2.set_ylabel("coverage")
        ax.set_title("corpus size and coverage over time")
    else:
        ax.set_title("corpus size over time (no coverage lane ran: no coverage data)")
    ax.set_xlabel("campaign time (s)")
    ax.set_ylabel("corpus entries")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # entries are counted: no fractional ticks
    ax.set_ylim(bottom=0)
    handles = [*ax.get_legend_handles_labels()[0]] + ([*ax2.get_legend_handles_labels()[0]] if coverage else [])
    if coverage:
        ax2.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax2.set_ylim(bottom=0)
    if handles:
        ax.legend(handles=handles, fontsize="small", loc="upper left")
    _from_zero(ax, report)
    svgs.append(_svg(fig, plt))
    return svgs


def _from_zero(ax: Any, report: dict[str, Any]) -> None:
    """x from the campaign's start (0) to its end, whatever the first slice's time."""
    ax.set_xlim(left=0, right=max(1.0, float(report.get("elapsed") or 0.0),
                                  *(float(p["elapsed"]) for p in report["timeline"])))  # fmt: skip


def _svg(fig: Any, plt: Any) -> str:
    buffer = io.StringIO()
    fig.tight_layout()
    fig.savefig(buffer, format="svg")
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg"):]


def to_html(report: dict[str, Any]) -> str:
    e = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>fuzzharness campaign {e(report['campaign'])}</title>",
        "<style>body{font-family:sans-serif;max-width:1000px;margin:auto;padding:1em}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}"
        "pre{background:#f4f4f4;padding:6px;overflow-x:auto}.new{color:#b00}.known{color:#666}</style></head><body>",
        f"<h1>fuzzharness campaign {e(report['campaign'])}</h1>",
        f"<p><b>{e(_verdict(report).replace('**', ''))}</b> &mdash; exit code {report['exit_code']} &mdash; "
        f"status {e(report['status'])}</p>",
        f"<p>targets {e(', '.join(report['targets']))} ({e(report['variant'])}), "
        + (f"on the Dask cluster {e(report['cluster']['scheduler'])}, " if report.get("cluster") else f"{report['jobs']} jobs, ")
        + f"{report['elapsed']:.0f} s of {report['duration']:.0f} s, seed {report['seed']}, "
        f"{report['execs']:,} execs, <b>{report['execs_per_second']:,.1f} execs/s</b> with all lanes, "
        f"corpus {report['corpus']['entries']} entries.</p>",
    ]
    for title, new in (("New findings", True), ("Known findings", False)):
        chosen = [f for f in report["findings"] if f["new"] == new]
        parts.append(f"<h2>{title} ({len(chosen)})</h2>")
        for f in chosen:
            cls = "new" if new else "known"
            parts.append(f"<h3 class='{cls}'>[{e(f['kind'])}] {e(f['id'])}</h3><p>{e(f['summary'])}</p><ul>"
                         f"<li>hits {f['count']} (lanes {e(', '.join(f['lanes']))})</li>"
                         f"<li>replay: <code>{e(f['repro'])}</code></li>")  # fmt: skip
            if f["repro_min"]:
                parts.append(f"<li>replay the minimal program: <code>{e(f['repro_min'])}</code></li>")
            parts.append("<li>where: " + ", ".join(e(f"{loc['uri']}:{loc['line']}") for loc in f["locations"]) + "</li></ul>")
            if f["program_min"]:
                parts.append(f"<p>minimal program ({f['program_min_ops']} ops, from {f['program_ops']}):</p>"
                             f"<pre>{e(f['program_min'])}</pre>")  # fmt: skip
            elif f["program"]:
                parts.append(f"<details><summary>program ({f['program_ops']} ops, not minimized)</summary>"
                             f"<pre>{e(f['program'])}</pre></details>")  # fmt: skip
    parts.append("<h2>Lanes</h2><table><tr>" + "".join(f"<th>{e(h)}</th>" for h in _LANE_HEAD) + "</tr>")
    for row in _lane_rows(report):
        parts.append("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>")
    parts.append("</table>")
    if report.get("cluster"):
        parts.append(f"<h2>Workers</h2><p>{e(_cluster_total(report))}</p><table><tr>"
                     + "".join(f"<th>{e(h)}</th>" for h in _WORKER_HEAD) + "</tr>")  # fmt: skip
        for row in _worker_rows(report):
            parts.append("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>")
        parts.append("</table>")
    if report.get("bench"):
        parts.append("<h2>execs/s: all lanes vs each lane alone</h2><table><tr><th>run</th><th>execs</th>"
                     "<th>seconds</th><th>execs/s</th></tr>")  # fmt: skip
        for row in report["bench"]["rows"]:
            parts.append(f"<tr><td>{e(row['run'])}</td><td>{row['execs']:,}</td><td>{row['seconds']:.0f}</td>"
                         f"<td>{row['execs_per_second']:,.1f}</td></tr>")  # fmt: skip
        parts.append("</table>")
    parts.append("<h2>Over time</h2>")
    parts += _svg_plots(report)
    parts.append("</body></html>\n")
    return "\n".join(parts)


# --------------------------------------------------------------------------- SARIF


def to_sarif(report: dict[str, Any]) -> dict[str, Any]:
    kinds = sorted({f["kind"] for f in report["findings"] if f["kind"]})
    rules = []
    for kind in kinds:
        text = FindingKind[kind].value if kind in FindingKind.__members__ else kind
        rules.append({"id": kind, "name": kind, "shortDescription": {"text": text},
                      "defaultConfiguration": {"level": "error"}})  # fmt: skip
    results = []
    for f in report["findings"]:
        primary = [loc for loc in f["locations"] if not loc.get("related")] or f["locations"][:1]
        related = [loc for loc in f["locations"] if loc.get("related")]
        message = f"{f['summary']} (finding {f['id']}; replay: {f['repro']})"
        result = {
            "ruleId": f["kind"],
            "ruleIndex": kinds.index(f["kind"]),
            "level": "error",
            "message": {"text": message},
            "locations": [_sarif_location(loc) for loc in primary],
            "partialFingerprints": {"fuzzharnessSignature/v1": f["id"]},
            "baselineState": "new" if f["new"] else "unchanged",
            "properties": {"hits": f["count"], "lanes": f["lanes"], "targets": f["targets"],
                           "minimal_program": f["program_min"] or f["program"] or ""},  # fmt: skip
        }
        if related:
            result["relatedLocations"] = [{**_sarif_location(loc), "id": i} for i, loc in enumerate(related)]
        results.append(result)
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "fuzzharness", "version": __version__, "rules": rules}},
            "automationDetails": {"id": f"fuzzharness-campaign/{report['campaign']}"},
            "originalUriBaseIds": {"SRCROOT": {"description": {"text": "the fuzzharness project root"}}},
            "results": results,
        }],
    }  # fmt: skip


def _sarif_location(loc: dict[str, Any]) -> dict[str, Any]:
    return {"physicalLocation": {"artifactLocation": {"uri": loc["uri"], "uriBaseId": "SRCROOT"},
                                 "region": {"startLine": max(1, int(loc["line"]))}},
            "message": {"text": loc.get("frame", "")}}  # fmt: skip


# --------------------------------------------------------------------------- JUnit


def to_junit(report: dict[str, Any]) -> str:
    suites = ET.Element("testsuites", name=f"fuzzharness campaign {report['campaign']}")
    lanes = ET.SubElement(suites, "testsuite", name="campaign.lanes")
    counts = {"tests": 0, "failures": 0, "skipped": 0}
    for name, s in report["lanes"].items():
        case = ET.SubElement(lanes, "testcase", classname="campaign.lanes", name=name, time=f"{s['seconds']:.3f}")
        counts["tests"] += 1
        if s["status"] in ("unavailable", "interrupted"):
            ET.SubElement(case, "skipped", message=f"lane {s['status']}: {s['reason']}"[:1000])
            counts["skipped"] += 1
        elif s["status"] == "error":
            ET.SubElement(case, "failure", message=f"lane error: {'; '.join(s['errors'])}"[:1000], type="lane-error")
            counts["failures"] += 1
        ET.SubElement(case, "system-out").text = (f"slices {s['slices']}, execs {s['execs']}, "
                                                  f"{s['execs_per_second']} execs/s, hits {s['findings']}")  # fmt: skip
    lanes.attrib.update({k: str(v) for k, v in counts.items()}, errors="0")
    found = ET.SubElement(suites, "testsuite", name="campaign.findings")
    fcounts = {"tests": 0, "failures": 0, "skipped": 0}
    for f in report["findings"]:
        case = ET.SubElement(found, "testcase", classname=f"campaign.findings.{f['kind']}", name=f["id"], time="0")
        fcounts["tests"] += 1
        body = f"{f['summary']}\nreplay: {f['repro']}\n" + (f"minimal: {f['repro_min']}\n" if f["repro_min"] else "")
        body += (f["program_min"] or f["program"] or "")
        if f["new"]:
            failure = ET.SubElement(case, "failure", message=f["summary"][:1000], type=f["kind"])
            failure.text = body
            fcounts["failures"] += 1
        else:
            ET.SubElement(case, "skipped", message=f"known finding (seen before this campaign): {f['summary']}"[:1000])
            fcounts["skipped"] += 1
    found.attrib.update({k: str(v) for k, v in fcounts.items()}, errors="0")
    suites.attrib.update(tests=str(counts["tests"] + fcounts["tests"]), failures=str(counts["failures"] + fcounts["failures"]),
                         skipped=str(counts["skipped"] + fcounts["skipped"]), errors="0",
                         time=f"{report['elapsed']:.3f}")  # fmt: skip
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def write_all(report: dict[str, Any], out: Path) -> None:
    out = Path(out)
    write_atomic(out / "report.json", json.dumps(report, indent=1, default=str) + "\n")
    write_atomic(out / "report.md", to_markdown(report))
    write_atomic(out / "report.html", to_html(report))
    write_atomic(out / "report.sarif", json.dumps(to_sarif(report), indent=1) + "\n")
    write_atomic(out / "report.junit.xml", to_junit(report))
