"""Graceful preemption: SIGTERM (a cluster's preemption notice) or Ctrl-C ends a run at a step boundary.

The first signal only sets a flag; the loop finishes the step it is in, writes ``last.pt`` at that
step and raises :class:`Preempted`; the CLI then exits with ``128 + signal number`` (143 for SIGTERM,
130 for SIGINT), the shell's convention, so a job script can tell "preempted, resume me" from
success (0) and errors (1, 2). A second signal gets the previous handler back (Ctrl-C twice aborts at
once). DataLoader workers ignore both signals: the main process decides when to stop, and a worker
killed by a terminal's Ctrl-C would otherwise break the batch the last step still needs.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

import torch

from sassl.train import distributed as D

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
EXIT_SIGTERM = 128 + signal.SIGTERM  # 143
EXIT_SIGINT = 128 + signal.SIGINT  # 130


class Preempted(Exception):
    """The run stopped on a signal after checkpointing ``step`` to ``checkpoint``."""

    def __init__(self, signum: int, step: int, checkpoint: str | None) -> None:
        self.signum, self.step, self.checkpoint = signum, step, checkpoint
        name = signal.Signals(signum).name
        super().__init__(f"{name} received: stopped at step {step}, checkpoint {checkpoint}; "
                         "continue with --resume")

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


class StopSignals:
    """Context manager catching SIGTERM/SIGINT as a request to stop (main thread only; elsewhere,
    e.g. a notebook's worker thread, signals keep their usual effect and ``requested`` stays None)."""

    def __init__(self) -> None:
        self.requested: int | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.requested = signum
        self._restore()

    def _restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}

    def __enter__(self) -> "StopSignals":
        if threading.current_thread() is threading.main_thread():
            self._previous = {sig: signal.signal(sig, self._handle) for sig in STOP_SIGNALS}
        return self

    def __exit__(self, *exc: object) -> None:
        self._restore()

    def agreed(self, device: torch.device) -> int | None:
        """The signal to stop on, agreed by all processes (one tiny all-reduce per step under DDP, so
        every rank stops after the same step; any rank's signal stops all)."""
        if not D.is_distributed():
            return self.requested
        flag = torch.tensor([self.requested or 0], device=device)
        torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
        return int(flag) or None


def ignore_stop_signals(worker_id: int = 0) -> None:
    """DataLoader ``worker_init_fn``: workers leave SIGTERM/SIGINT to the main process."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
