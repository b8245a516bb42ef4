"""A live run's history on a timer: a daemon thread flushes it every flush_seconds, and once more at exit.

The training loop never waits for the disk (log_metrics only appends to memory), yet a process killed at any
moment, even after a long idle stretch, keeps every row logged before the last tick. The thread holds its run
by a weak reference only, so a run dropped without finish() (a notebook cell run again) ends its thread, and
it ends at once when the run is finished or failed. At interpreter exit (a script that ends without finish(),
an exception outside a with block) the runs still live are flushed one last time; a killed process has no exit,
which is why the timer exists. The run's own lock keeps a flush from reading a row log_metrics is merging.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import weakref
from typing import Protocol


class Flushable(Protocol):
    run_id: str

    def flush(self) -> None: ...


_LIVE: weakref.WeakSet[Flushable] = weakref.WeakSet()  # runs with a running timer
_PID = os.getpid()  # a forked child (a DataLoader worker) inherits _LIVE but must not write the parent's rows


class Flusher:
    """The timer of one run: started with the run, stopped by finish() or fail()."""

    def __init__(self, run: Flushable, seconds: float) -> None:
        self._run = weakref.ref(run)
        self._stop = threading.Event()
        _LIVE.add(run)
        thread = threading.Thread(
            target=_flush_every, args=(self._run, self._stop, seconds), name=f"gerhard-flush-{run.run_id}", daemon=True
        )
        thread.start()

    def stop(self) -> None:
        self._stop.set()
        run = self._run()
        if run is not None:
            _LIVE.discard(run)


def _flush_every(ref: weakref.ref[Flushable], stop: threading.Event, seconds: float) -> None:
    warned = False
    while not stop.wait(seconds):
        run = ref()
        if run is None:
            return
        try:
            run.flush()
        except OSError as e:  # the disk is full, the folder was moved: say so once, keep trying
            if not warned:
                print(f"gerhard: WARNING: cannot save the history of run {run.run_id}: {e}", file=sys.stderr)
                warned = True
        del run  # not held while waiting: a dropped run ends this thread


@atexit.register
def _flush_live_runs() -> None:
    if os.getpid() != _PID:
        return
    for run in list(_LIVE):
        try:
            run.flush()
        except Exception as e:  # exiting anyway: say what was not saved
            print(f"gerhard: WARNING: cannot save the history of run {run.run_id} at exit: {e}", file=sys.stderr)
