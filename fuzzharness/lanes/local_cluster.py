"""A Dask scheduler and N workers on this machine, as the ``dask`` command's own processes.

For trying a campaign on a cluster (``make cluster-up``), for the tests that kill a worker
mid-campaign, and for the benchmark that sets the cluster path beside the local one. The
processes are the real ``dask scheduler`` and ``dask worker`` programs, each in a process
group of its own, all bound to 127.0.0.1; the scheduler picks a free port and writes its
address to a scheduler file that the workers (and :attr:`LocalDaskCluster.address`) read.
Everything they write (logs, the scheduler file, each worker's ``--local-directory``, the
pid file of ``up``) stays under one directory.

Guarantees: :meth:`LocalDaskCluster.start` returns only when the scheduler answers and every
worker has registered (else it stops what it started and raises); :meth:`LocalDaskCluster.stop`
ends every process it started, by process group, and nothing else.

Command line (the Makefile's ``cluster-up`` / ``cluster-down``)::

    python -m fuzzharness.lanes.local_cluster up --workers 2 --dir build/cluster [--port 8786]
    python -m fuzzharness.lanes.local_cluster down --dir build/cluster
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from fuzzharness.contract.header import PROJECT_ROOT
from fuzzharness.errors import FuzzHarnessError, InvalidArgument

__all__ = ["LocalDaskCluster", "main"]

#: events the scheduler keeps per topic: a resumed campaign replays its slices' events from there
EVENT_LOG_LENGTH = 100_000
PID_FILE = "cluster.json"


def _dask_command(*args: str) -> list[str]:
    """``dask scheduler ...`` / ``dask worker ...`` of this interpreter's environment."""
    script = Path(sys.executable).with_name("dask")
    if script.is_file():
        return [str(script), *args]
    return [sys.executable, "-m", f"distributed.cli.dask_{args[0]}", *args[1:]]


class LocalDaskCluster:
    """A scheduler and ``workers`` workers of ``threads`` threads each (see the module docstring)."""

    def __init__(self, directory: Path, workers: int = 2, threads: int = 1, port: int = 0, nanny: bool = False,
                 dashboard: bool = False) -> None:  # fmt: skip
        if workers < 1 or threads < 1:
            raise InvalidArgument(f"a local cluster needs at least one worker of one thread, got {workers} x {threads}")
        if not 0 <= port < 65536:
            raise InvalidArgument(f"port: {port} is not a TCP port")
        self.directory = Path(directory).resolve()
        self.workers, self.threads, self.port, self.nanny, self.dashboard = workers, threads, port, nanny, dashboard
        self.scheduler_file = self.directory / "scheduler.json"
        self.scheduler: subprocess.Popen | None = None
        self.worker_procs: list[subprocess.Popen] = []

    @property
    def address(self) -> str:
        try:
            return str(json.loads(self.scheduler_file.read_text())["address"])
        except (OSError, ValueError, KeyError):
            raise FuzzHarnessError(f"{self.scheduler_file}: the scheduler has not written its address") from None

    def _spawn(self, command: list[str], log: str) -> subprocess.Popen:
        env = {**os.environ, "DASK_DISTRIBUTED__ADMIN__LOW_LEVEL_LOG_LENGTH": str(EVENT_LOG_LENGTH),
               "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")]))}  # fmt: skip
        with open(self.directory / log, "ab") as fh:
            return subprocess.Popen(command, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                    cwd=self.directory, start_new_session=True)  # fmt: skip

    def start(self, timeout: float = 120.0) -> "LocalDaskCluster":
        self.directory.mkdir(parents=True, exist_ok=True)
        self.scheduler_file.unlink(missing_ok=True)
        dashboard = ["--dashboard-address", "127.0.0.1:0"] if self.dashboard else ["--no-dashboard"]
        self.scheduler = self._spawn(_dask_command("scheduler", "--host", "127.0.0.1", "--port", str(self.port),
                                                   "--scheduler-file", str(self.scheduler_file), *dashboard),
                                     "scheduler.log")  # fmt: skip
        try:
            deadline = time.monotonic() + timeout
            while not self.scheduler_file.is_file():
                if self.scheduler.poll() is not None or time.monotonic() > deadline:
                    raise FuzzHarnessError(f"the dask scheduler did not start: see {self.directory / 'scheduler.log'}")
                time.sleep(0.1)
            for i in range(self.workers):
                self.add_worker(f"worker-{i}")
            self.wait_for_workers(self.workers, max(1.0, deadline - time.monotonic()))
        except BaseException:
            self.stop()
            raise
        return self

    def add_worker(self, name: str) -> subprocess.Popen:
        local = self.directory / name
        local.mkdir(parents=True, exist_ok=True)
        nanny = ["--nanny"] if self.nanny else ["--no-nanny"]
        proc = self._spawn(_dask_command("worker", "--scheduler-file", str(self.scheduler_file), "--host", "127.0.0.1",
                                         "--nthreads", str(self.threads), "--name", name, "--local-directory",
                                         str(local), "--no-dashboard", *nanny), f"{name}.log")  # fmt: skip
        self.worker_procs.append(proc)
        return proc

    def wait_for_workers(self, count: int, timeout: float) -> None:
        from distributed import Client

        with Client(self.address, timeout=f"{timeout}s", set_as_default=False) as client:
            try:
                client.wait_for_workers(count, timeout=timeout)
            except TimeoutError:
                raise FuzzHarnessError(f"{count} dask worker(s) did not register within {timeout:.0f} s: see the "
                                       f"worker logs in {self.directory}") from None  # fmt: skip

    def kill_worker(self, index: int, sig: int = signal.SIGKILL) -> None:
        """End worker ``index`` (and its slices' process tree) as a machine that dies would."""
        _killpg(self.worker_procs[index], sig)

    def stop(self) -> None:
        for proc in [*self.worker_procs, self.scheduler]:
            if proc is not None and proc.poll() is None:
                _killpg(proc, signal.SIGTERM)
        for proc in [*self.worker_procs, self.scheduler]:
            if proc is None:
                continue
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                _killpg(proc, signal.SIGKILL)
                proc.wait(timeout=15)

    def __enter__(self) -> "LocalDaskCluster":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def _killpg(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _up(args: argparse.Namespace) -> int:
    pid_file = args.dir / PID_FILE
    if pid_file.is_file():
        raise InvalidArgument(f"{pid_file}: a local cluster was started here already ('down' first)")
    cluster = LocalDaskCluster(args.dir, args.workers, args.threads, args.port, nanny=True, dashboard=True).start()
    pids = {"scheduler": cluster.scheduler.pid, "workers": [p.pid for p in cluster.worker_procs],
            "address": cluster.address}  # fmt: skip
    pid_file.write_text(json.dumps(pids, indent=1) + "\n")
    print(f"dask scheduler at {cluster.address} with {args.workers} worker(s) of {args.threads} thread(s); "
          f"logs in {args.dir}\n  fuzzharness campaign --scheduler {cluster.address} ...")  # fmt: skip
    return 0


def _down(args: argparse.Namespace) -> int:
    pid_file = args.dir / PID_FILE
    try:
        pids = json.loads(pid_file.read_text())
    except (OSError, ValueError):
        raise InvalidArgument(f"{pid_file}: no local cluster was started here") from None
    for pid in [*pids.get("workers", []), pids.get("scheduler")]:
        if isinstance(pid, int):
            try:
                os.killpg(pid, signal.SIGTERM)  # each process leads its own group (start_new_session)
            except (ProcessLookupError, PermissionError):
                pass
    pid_file.unlink()
    print(f"stopped the local cluster of {args.dir}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fuzzharness.lanes.local_cluster",
                                     description="Start or stop a Dask scheduler and workers on 127.0.0.1.")  # fmt: skip
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start a scheduler and workers in the background")
    up.add_argument("--workers", type=int, default=2)
    up.add_argument("--threads", type=int, default=1, help="threads (slices at once) per worker (default 1)")
    up.add_argument("--port", type=int, default=8786, help="scheduler port (default 8786; 0: any free one)")
    up.add_argument("--dir", type=Path, default=Path("build/cluster"))
    down = sub.add_parser("down", help="stop what 'up' started")
    down.add_argument("--dir", type=Path, default=Path("build/cluster"))
    args = parser.parse_args(argv)
    try:
        return _up(args) if args.command == "up" else _down(args)
    except FuzzHarnessError as exc:
        print(f"local_cluster: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
