"""The parent side of a worker: start it, feed it programs, survive its death.

:class:`TargetWorker` owns one worker subprocess for one target. It sends a batch
of programs and yields events as they arrive. When the worker dies (a signal, an
exit) or stops answering within the per-program timeout, the program that was
running is known -- results come back one program at a time -- and becomes a
:class:`Failure` with the signal or exit code and the tail of the worker's
stderr (Go panic trace, Rust abort message, Python fault handler stack). The
worker is then restarted, and the rest of the batch is run on the new one. The
harness never dies with its target, and never loses the input that killed it.

A hung worker is first sent SIGUSR1 (its fault handler dumps the Python stack,
which names the contract function that did not return), then SIGKILL.

Programs run without streamed steps go through the native runner in the worker
(one call per program): the Python stack then shows the runner, not the
contract call. The worker publishes the step in flight in a small file shared
with this side (``progress_fd``), so such a failure still carries the step
that was running (:attr:`Failure.steps_done`), from which triage names the call.

With ``rss_limit_mb``, the worker's resident memory is checked (psutil) while the
parent waits for it; a worker above the limit is killed and the program that was
running becomes an ``oom`` failure, like a crash: its input is kept and the worker
restarted.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import Any, Iterator

from fuzzharness.contract.header import ABI_MAJOR, ABI_MINOR, PROJECT_ROOT, Status
from fuzzharness.contract.registry import TargetSpec
from fuzzharness.errors import AbiMismatch, TargetNotBuilt, WorkerError
from fuzzharness.execution import wire
from fuzzharness.execution.environment import decide
from fuzzharness.oracles.leaks import CheckedTrace
from fuzzharness.oracles.sanitizer import worker_environment
from fuzzharness.programs.interpreter import encode_native, packed_statuses, unpack
from fuzzharness.programs.sequential import Program

__all__ = ["TargetWorker", "Failure", "DEFAULT_TIMEOUT", "run_batch", "BatchRun", "probe"]

DEFAULT_TIMEOUT = 10.0
#: How much of a dead worker's stderr is kept and parsed. An escaped Rust panic prints its own
#: message, then a ~40-frame backtrace of the abort, then Python's fault handler: 16 KiB lost
#: the first message, and with it the crash site of the signature.
_STDERR_TAIL_BYTES = 65536
_START_TIMEOUT = 30.0
#: The progress value meaning "no step in flight" (fuzzharness.contract.bindings.NO_STEP).
NO_STEP = (1 << 64) - 1
#: Extra time allowed per contract call of a long program (Go under load: ~20 us a call, checked).
SECONDS_PER_CALL = 50e-6
#: How much of a panicking program's stderr is kept (the message and a backtrace).
PANIC_OUTPUT_BYTES = 8192
PANIC = Status.PANIC
_RSS_POLL = 0.25  #: seconds between RSS checks while waiting for a worker


@dataclass(frozen=True)
class Failure:
    """A worker that died or hung while running one program."""

    kind: str  # "crash", "hang" or "oom" (RSS above the limit)
    returncode: int | None  # negative = killed by that signal; None for a hang
    signal_name: str | None
    stderr_tail: str
    #: how many steps completed before it died (= the index of the step in flight): with
    #: stream_ops from the streamed steps, otherwise from the worker's progress file
    steps_done: int | None

    def describe(self) -> str:
        if self.kind == "hang":
            return "no answer within the timeout (hang)"
        if self.kind == "oom":
            return "resident memory above the limit (killed)"
        if self.signal_name:
            return f"killed by {self.signal_name}"
        return f"exited with status {self.returncode}"


def _signal_name(returncode: int | None) -> str | None:
    if returncode is None or returncode >= 0:
        return None
    try:
        return signal.Signals(-returncode).name
    except ValueError:
        return f"signal {-returncode}"


class TargetWorker:
    """One worker subprocess running programs on one target's library."""

    def __init__(
        self,
        spec: TargetSpec,
        variant: str = "release",
        *,
        timeout: float = DEFAULT_TIMEOUT,
        mutant: int = 0,
        env: dict[str, str] | None = None,
        rss_limit_mb: int | None = None,
        purpose: str = "hunt",
    ) -> None:
        self.spec = spec
        #: "hunt" (backtraces off) or "replay" (on): see fuzzharness.execution.environment
        self.purpose = purpose
        self.variant = variant
        self.timeout = timeout
        self.mutant = mutant
        self.extra_env = env or {}
        self.rss_limit_mb = rss_limit_mb
        self._oom: str | None = None
        self.library = spec.library(variant)
        self.testing = spec.variant(variant).testing
        self.sanitizer = spec.variant(variant).sanitizer
        if mutant and not self.testing:
            raise TargetNotBuilt(f"target {spec.name!r} variant {variant!r} has no mutant injection")
        self.proc: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        #: fresh processes started because a program hit a caught panic (PANIC status)
        self.restarts_after_panic = 0
        self.abi: tuple[int, int] | None = None
        self._buffer = bytearray()
        self._stderr = tempfile.TemporaryFile()
        self._progress = tempfile.TemporaryFile()

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        spec = {
            "library": str(self.library),
            "testing": self.testing,
            "deferred": int(self.spec.deferred),
            "immediate": int(self.spec.immediate),
            "mutant": self.mutant,
            "sanitizer": self.sanitizer,
            # a libFuzzer coverage build loads only after libFuzzer (fuzzharness.lanes.coverage)
            "coverage": self.spec.variant(self.variant).coverage_of is not None,
            "progress_fd": self._progress.fileno(),
        }
        if self.spec.members is not None:  # a cross-runtime pair: both libraries, attached
            spec["pair"] = {role: {"library": str(member.library(self.variant)), "name": member.name,
                                   "testing": member.variant(self.variant).testing}
                            for role, member in self.spec.members.items()}  # fmt: skip
        # The environment is decided, not inherited (fuzzharness.execution.environment); a
        # sanitizer variant adds its runtime preload and its options (sanitizer.py); the
        # run's own settings (``env``) come last.
        env = decide(self.purpose).env
        env.update(worker_environment(self.sanitizer, env))
        env.update(self.extra_env)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
        self._stderr.seek(0)
        self._stderr.truncate()
        os.pwrite(self._progress.fileno(), NO_STEP.to_bytes(8, "little"), 0)
        self._buffer = bytearray()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "fuzzharness.execution.worker", json.dumps(spec)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=env,
            start_new_session=True,
            pass_fds=(self._progress.fileno(),),
        )
        _widen_pipe(self.proc.stdout)
        message = self._recv(_START_TIMEOUT)
        if message is None or message[0] != "hello":
            detail = message[1] if message else self._stderr_tail() or "no answer"
            if message is None and self._oom is not None:
                detail, self._oom = f"{self._oom} while starting; raise the RSS limit", None
            self.stop()
            raise WorkerError(f"worker for {self.spec.name} ({self.library}) did not start: {detail}")
        self.abi = tuple(message[1]["abi"])
        if self.abi[0] != ABI_MAJOR:
            self.stop()
            raise AbiMismatch(
                f"target {self.spec.name!r} ({self.library}) implements contract ABI "
                f"{self.abi[0]}.{self.abi[1]}, this harness speaks {ABI_MAJOR}.{ABI_MINOR}: "
                "major versions must match; rebuild the target or update the harness"
            )

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            try:
                wire.send(proc.stdin, ("exit",))
                proc.wait(timeout=2)
            except (OSError, subprocess.TimeoutExpired, ValueError):
                self._kill(proc)
        for stream in (proc.stdin, proc.stdout):
            if stream:
                stream.close()

    def close(self) -> None:
        self.stop()
        self._stderr.close()
        self._progress.close()

    def __enter__(self) -> "TargetWorker":
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- running -------------------------------------------------------------------------

    def run(self, batch: list[tuple[Any, Program]], stream_ops: bool = False, kind: str = "run",
            packed: bool = False, frame: bytes | None = None) -> Iterator[tuple]:  # fmt: skip
        """Run a batch; yields ``("result", key, trace)``, ``("step", key, i, obs)`` (with
        stream_ops) and ``("failure", key, Failure)``. After a failure the worker is
        restarted and the remaining programs are run. ``kind="stress"`` runs
        concurrent programs on the native runner (results are ConcurrentRun values).
        ``packed``: a program run in one native call comes back as a packed trace
        (:func:`~fuzzharness.programs.interpreter.run_program_packed`; one with a caught
        panic is unpacked here, to carry the panic output). ``frame``: the request for
        the whole batch, already encoded (:func:`run_batch` encodes it once for every worker)."""
        pending = list(batch)
        results: dict[Any, Any] = {}
        while pending:
            if self.proc is None:
                self.start()
            if frame is not None and len(pending) == len(batch):
                self.send_frame(frame)
            else:
                self.send((kind, pending, stream_ops, packed) if packed else (kind, pending, stream_ops))
            steps_done: int | None = 0 if stream_ops else None
            while pending:
                message = self._recv(self._timeout_for(pending[0][1]))
                if message is None or message[0] in ("internal-error",):
                    if message is not None:
                        self.stop()
                        raise WorkerError(f"worker for {self.spec.name} hit a harness bug:\n{message[1]}")
                    key, _ = pending.pop(0)
                    if steps_done is None and kind == "run":
                        steps_done = self._step_in_flight()
                    yield ("failure", key, self._failure(steps_done))
                    break
                if message[0] == "step":
                    steps_done = message[2] + 1
                    yield message
                elif message[0] == "result":
                    key, program = pending.pop(0)
                    if key != message[1]:
                        raise WorkerError(f"worker answered for {message[1]!r}, expected {key!r}")
                    steps_done = 0 if stream_ops else None
                    if kind == "run":
                        trace = message[2]
                        if isinstance(trace, tuple):  # packed: unpacked only if a call panicked
                            if PANIC not in packed_statuses(trace):
                                results[key] = trace
                                yield message
                                continue
                            trace = unpack(program, trace)
                        message = ("result", key, self._with_panic_output(trace))
                    results[key] = message[2]
                    yield message
                elif message[0] == "leak":
                    self._attach_leak(results, message)
                elif message == ("tainted",):
                    self._after_panic()
                    break
            else:
                # Sanitizer workers check for leaks after the batch (leaks.py): a leak
                # report is attached to the trace of the program it is pinned on.
                while (message := self._recv(max(self.timeout, 60.0) if self.sanitizer else self.timeout)) is not None and message[0] == "leak":
                    self._attach_leak(results, message)
                if message == ("tainted",):
                    self._after_panic()
                elif message != ("done",):
                    raise WorkerError(f"worker for {self.spec.name} did not close the batch")
                else:
                    self._stderr.seek(0)
                    self._stderr.truncate()

    def _timeout_for(self, program: Any) -> float:
        """The time a program may take before it is a hang: the per-program timeout, plus
        :data:`SECONDS_PER_CALL` for each contract call of a long program (a repeat of
        70,000 iterations, a table of 2^17 filled), so a long lifetime is not a false hang."""
        calls = getattr(program, "calls", 0)
        return self.timeout + (calls * SECONDS_PER_CALL if isinstance(calls, int) and calls > 1000 else 0.0)

    def _with_panic_output(self, trace: Any) -> Any:
        """A trace in which a call panicked, with what the worker wrote to stderr since
        the batch began (the worker exits after such a program, so it is that program's)."""
        if not any(getattr(obs, "status", None) == PANIC for obs in trace):
            return trace
        checked = trace if isinstance(trace, CheckedTrace) else CheckedTrace(trace)
        checked.panic_output = self._stderr_tail()[-PANIC_OUTPUT_BYTES:] or None
        return checked

    @staticmethod
    def _attach_leak(results: dict[Any, Any], message: tuple) -> None:
        if hasattr(results.get(message[1]), "lsan_report"):
            results[message[1]].lsan_report = message[2]

    def _after_panic(self) -> None:
        """The worker saw a caught panic and exited (see fuzzharness.execution.worker):
        the rest of the batch runs in a fresh process, so no program inherits state a
        panic may have poisoned."""
        self.restarts_after_panic += 1
        self.stop()

    def request(self, message: Any, timeout: float) -> Any | None:
        """Send one request and wait for its single reply (None if the worker died or hung)."""
        if self.proc is None:
            self.start()
        self.send(message)
        return self._recv(timeout)

    def send(self, message: Any) -> None:
        self.send_frame(wire.encode_frame(message))

    def send_frame(self, frame: bytes) -> None:
        """Send an encoded frame (:func:`fuzzharness.execution.wire.encode_frame`)."""
        assert self.proc is not None and self.proc.stdin is not None
        try:
            self.proc.stdin.write(frame)
            self.proc.stdin.flush()
        except BrokenPipeError:
            pass  # the worker died; the next receive reports it

    def _step_in_flight(self) -> int | None:
        """The step the native runner published last (None: none in flight)."""
        raw = os.pread(self._progress.fileno(), 8, 0)
        value = int.from_bytes(raw, "little") if len(raw) == 8 else NO_STEP
        return None if value == NO_STEP else value

    def _failure(self, steps_done: int | None) -> Failure:
        proc = self.proc
        assert proc is not None
        if self._oom is not None:
            self._kill(proc)
            failure = Failure("oom", proc.returncode, _signal_name(proc.returncode),
                              self._stderr_tail() + f"\nfuzzharness: {self._oom}\n", steps_done)  # fmt: skip
            self._oom = None
            self._discard()
            return failure
        returncode = proc.poll()
        if returncode is None:
            # Alive but silent: a hang. Ask for the Python stacks, then kill.
            try:
                os.kill(proc.pid, signal.SIGUSR1)
                time.sleep(0.3)
            except ProcessLookupError:
                pass
            returncode = proc.poll()
            if returncode is None:
                self._kill(proc)
                failure = Failure("hang", None, None, self._stderr_tail(), steps_done)
                self._discard()
                return failure
        failure = Failure("crash", returncode, _signal_name(returncode), self._stderr_tail(), steps_done)
        self._discard()
        return failure

    def _discard(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            self._kill(proc)
            for stream in (proc.stdin, proc.stdout):
                if stream:
                    stream.close()
        self.restarts += 1

    @staticmethod
    def _kill(proc: subprocess.Popen[bytes]) -> None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        proc.wait()

    def _stderr_tail(self) -> str:
        self._stderr.flush()
        size = self._stderr.seek(0, os.SEEK_END)
        self._stderr.seek(max(0, size - _STDERR_TAIL_BYTES))
        return self._stderr.read().decode("utf-8", "replace")

    def _over_rss_limit(self) -> bool:
        """True (and the reason recorded) when the worker's RSS is above the limit."""
        import psutil

        assert self.proc is not None
        try:
            rss = psutil.Process(self.proc.pid).memory_info().rss
        except psutil.Error:
            return False
        if rss > self.rss_limit_mb * (1 << 20):
            self._oom = f"worker RSS {rss >> 20} MiB exceeded the limit of {self.rss_limit_mb} MiB"
            return True
        return False

    def _recv(self, timeout: float) -> Any | None:
        """One frame, or None if the worker died or sent nothing for ``timeout`` s."""
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while True:
            if len(self._buffer) >= wire.HEADER.size:
                length = wire.decode_length(self._buffer[: wire.HEADER.size])
                end = wire.HEADER.size + length
                if len(self._buffer) >= end:
                    frame = bytes(self._buffer[wire.HEADER.size : end])
                    del self._buffer[:end]
                    return wire.pickle.loads(frame)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            if self.rss_limit_mb:
                if self._over_rss_limit():
                    return None
                ready, _, _ = select.select([fd], [], [], min(remaining, _RSS_POLL))
                if not ready:
                    continue
            else:
                ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                return None
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                self.proc.wait()
                return None
            self._buffer += chunk


#: Bytes the pipe from a worker holds (Linux F_SETPIPE_SZ; the default is 64 KiB): a
#: batch's results fit, so a worker never waits for a job busy checking the previous
#: batch (its reader thread gets the GIL only between the checker's time slices).
PIPE_BYTES = 1 << 20
_F_SETPIPE_SZ = 1031


def _widen_pipe(stream: Any) -> None:
    """Grow a pipe to :data:`PIPE_BYTES` where the system allows (best effort)."""
    try:
        import fcntl

        fcntl.fcntl(stream.fileno(), getattr(fcntl, "F_SETPIPE_SZ", _F_SETPIPE_SZ), PIPE_BYTES)
    except (OSError, ImportError, ValueError):
        pass  # not Linux, or above /proc/sys/fs/pipe-max-size: the default pipe works, slower


# --------------------------------------------------------------------------- batches


def run_batch(workers: dict[str, TargetWorker], batch: list[tuple[Any, Program]],
              packed: bool = False) -> dict[Any, dict[str, Any]]:  # fmt: skip
    """Run a batch on every worker concurrently; outcomes per program key and target
    (``packed``: packed traces where the worker ran a program in one native call)."""
    return BatchRun(workers, batch, packed).wait()


class BatchRun:
    """A batch running on every worker at once (one thread per worker), started at
    construction, so the caller can generate the next batch or check the previous one
    meanwhile (``fuzz`` pipelines them); :meth:`wait` returns the outcomes. The batch is
    serialized once for all workers. ``packed`` (ignored for sanitizer variants): packed
    traces, and the programs the runner runs in one call sent encoded."""

    def __init__(self, workers: dict[str, TargetWorker], batch: list[tuple[Any, Program]], packed: bool = False) -> None:
        self.outcomes: dict[Any, dict[str, Any]] = {key: {} for key, _ in batch}
        self._errors: list[BaseException] = []
        # Sanitizer workers wrap every trace for LeakSanitizer and rerun programs: they get
        # Programs and answer with observations (see fuzzharness.execution.worker).
        packed = packed and not any(worker.sanitizer for worker in workers.values())
        if packed:  # programs the runner runs in one call travel encoded (no object per op)
            request = ("run", [(key, encode_native(program) or program) for key, program in batch], False, True)
        else:
            request = ("run", batch, False)
        frame = wire.encode_frame(request)
        self._threads = [threading.Thread(target=self._drive, args=(name, worker, batch, packed, frame), daemon=True)
                         for name, worker in workers.items()]  # fmt: skip
        for t in self._threads:
            t.start()

    def _drive(self, name: str, worker: TargetWorker, batch: list, packed: bool, frame: bytes) -> None:
        outcomes = self.outcomes
        try:
            for event in worker.run(batch, packed=packed, frame=frame):
                if event[0] in ("result", "failure"):
                    outcomes[event[1]][name] = event[2]
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            self._errors.append(exc)

    def wait(self) -> dict[Any, dict[str, Any]]:
        """The outcomes, once every worker finished the batch (re-raises a worker's error)."""
        for t in self._threads:
            t.join()
        if self._errors:
            raise self._errors[0]
        return self.outcomes


def probe(worker: TargetWorker, program: Program, timeout: float) -> Any:
    """Re-run ``program`` in probe mode (fh_info of every handle before the epilogue),
    to name a leaked resource (fuzzharness.oracles.leaks); None if the worker did not answer."""
    reply = worker.request(("probe", program), timeout)
    return reply[1] if reply is not None and reply[0] == "probe" else None
