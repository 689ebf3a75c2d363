"""What a person sees while ``fuzz`` runs and when it ends: a live progress line
(rich) and the closing summary. Only presentation lives here."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

__all__ = ["FuzzProgress", "print_summary", "make_console"]

#: Width used when output is not a terminal (CI logs, pipes): wide enough for every table.
PIPE_WIDTH = 160


def make_console(stderr: bool = False) -> Console:
    """A rich console; when it writes to a pipe or a file it is wide enough that
    tables are not truncated in CI logs."""
    console = Console(stderr=stderr)
    if not console.is_terminal:
        console = Console(stderr=stderr, width=PIPE_WIDTH)
    return console


class FuzzProgress:
    """A rich progress bar over the time (or run) budget, with ops/s, programs and findings."""

    def __init__(self, options: Any, enabled: bool = True) -> None:
        self.options = options
        self.enabled = enabled
        self.console = make_console(stderr=True)
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]fuzz[/] {task.description}"),
            BarColumn(),
            TimeElapsedColumn(),
            console=self.console,
            transient=False,
            refresh_per_second=4,
        )
        self.total = options.runs or options.seconds or 1
        self.task = self.progress.add_task(self._describe(0, 0, 0, 0, 0), total=self.total)

    @staticmethod
    def _describe(programs: int, ops: int, seconds: float, findings: int, restarts: int) -> str:
        rate = ops / seconds if seconds else 0
        return f"{programs} programs  {ops} ops  {rate:,.0f} ops/s  findings: {findings}  restarts: {restarts}"

    def update(self, summary: Any, elapsed: float) -> None:
        if not self.enabled:
            return
        done = summary.programs if self.options.runs else min(elapsed, self.total)
        self.progress.update(
            self.task,
            completed=done,
            description=self._describe(summary.programs, summary.ops, elapsed, len(summary.findings), summary.restarts),
        )

    def __enter__(self) -> "FuzzProgress":
        if self.enabled:
            self.progress.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.enabled:
            self.progress.stop()


def print_summary(summary: Any) -> None:
    console = make_console()
    console.print(
        f"fuzzed {', '.join(summary.targets)} ({summary.variant}) for {summary.seconds:.1f} s with "
        f"{summary.jobs} job(s), seed {summary.seed}: {summary.programs} programs, {summary.ops} ops checked "
        f"({summary.ops_per_second:,.0f} ops/s), {summary.restarts} worker restart(s)",
        highlight=False,
    )
    if getattr(summary, "cross_checked", 0) or getattr(summary, "cross_skipped", 0):
        console.print(
            f"cross-runtime pair vs single-runtime targets: compared on {summary.cross_checked} programs; "
            f"{summary.cross_skipped} not compared (the pair model and the single model expect different "
            "traces, e.g. a NOT_HELD release; each target was still checked against its own model)",
            highlight=False,
        )
    for error in summary.errors:
        console.print(f"[red]error:[/] {error}", highlight=False)
    if not summary.findings:
        console.print("[green]no findings[/]")
        return
    table = Table(title=f"{len(summary.findings)} finding(s)")
    for col in ("kind", "new", "hits", "summary", "saved at"):
        table.add_column(col, overflow="fold")
    for f in summary.findings:
        table.add_row(f["kind"], "new" if f["new"] else "known", str(f["count"]), f["summary"], f["path"])
    console.print(table)
    console.print("replay one with: fuzzharness repro <saved at>", highlight=False)
