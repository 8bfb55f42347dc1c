"""Running the ``openjepa`` command in a child process forked from the test process (the imports are paid once):
exit status, stdout and stderr as a user sees them, and the sha256 of every file under a folder. Commands and
spawned ranks bounded in time, so that a hang fails its test instead of stalling the suite."""

from __future__ import annotations

import hashlib
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.multiprocessing as mp


@dataclass
class Outcome:
    code: int
    out: str
    err: str


def run_cli(argv: list[str], timeout: float = 300.0) -> Outcome:
    """``openjepa ARGV`` in a forked child: its exit status, stdout and stderr. A child still running after
    ``timeout`` seconds is killed (status -9)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        sys.stdout.flush(), sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the child: the CLI's own entry point with fresh stdout/stderr
            code = 98
            try:
                os.dup2(out.fileno(), 1), os.dup2(err.fileno(), 2)
                sys.stdout = open(1, "w", closefd=False, buffering=1)
                sys.stderr = open(2, "w", closefd=False, buffering=1)
                logging.root.handlers.clear()
                torch.set_num_threads(1)
                from openjepa.cli import main

                main([str(a) for a in argv])
                code = 0
            except SystemExit as done:
                code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
            except BaseException:  # noqa: BLE001 - reported to the parent as status 99 with the traceback
                traceback.print_exc()
                code = 99
            finally:
                sys.stdout.flush(), sys.stderr.flush()
                os._exit(code)
        deadline = time.monotonic() + timeout
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                status = -9 << 8
                break
            time.sleep(0.02)
        code = os.waitstatus_to_exitcode(status) if status >= 0 else -9
        out.seek(0), err.seek(0)
        return Outcome(code, out.read().decode(errors="replace"), err.read().decode(errors="replace"))


def run_bounded(cmd: list[str], timeout: float = 600.0, env: dict | None = None) -> None:
    """Run ``cmd`` (its stdout discarded) in a session of its own; after ``timeout`` seconds kill the session (a
    torchrun agent and its workers) and fail. A non-zero exit fails with the end of its stderr."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, start_new_session=True)
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        _, err = proc.communicate()
        raise AssertionError(f"still running after {timeout:.0f} s: {cmd}\n{err.decode(errors='replace')[-3000:]}")
    assert proc.returncode == 0, f"exit {proc.returncode}: {cmd}\n{err.decode(errors='replace')[-3000:]}"


def spawn_bounded(fn, args: tuple, nprocs: int, timeout: float = 300.0) -> None:
    """``torch.multiprocessing.spawn`` of ``fn(rank, *args)``, failing (the processes killed) after ``timeout``
    seconds instead of waiting for ever."""
    context = mp.spawn(fn, args=args, nprocs=nprocs, join=False)
    deadline = time.monotonic() + timeout
    while not context.join(timeout=1.0):
        if time.monotonic() > deadline:
            for process in context.processes:
                process.kill()
            raise AssertionError(f"spawned ranks still running after {timeout:.0f} s")


def hashes(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` (hidden caches included), by path relative to ``root``."""
    found = {}
    for path in sorted(Path(root).rglob("*")):
        if path.is_file():
            found[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def changed(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """Files of ``before`` that are gone or whose contents differ in ``after``."""
    return [name for name, digest in before.items() if after.get(name) != digest]
