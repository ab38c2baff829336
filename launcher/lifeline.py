"""Children of `phonos serve` that end when it ends, however it ends.

`phonos serve` starts tritonserver and the job service in sessions of their own (so a Ctrl-C in the
terminal reaches only the launcher, which stops them in order). On SIGTERM or Ctrl-C it stops them
itself; but a launcher killed with SIGKILL (the OOM killer, `kill -9`, a systemd stop timeout) runs no
code, and its children used to live on: the orphaned job service kept the data-directory lock and the
API port, so the next `phonos serve` was refused ("another job service is using ...") until someone
found and killed them by hand. Linux's parent-death signal closes that gap: the kernel sends the child
SIGTERM when its parent dies, and the child's usual graceful stop runs.
"""

from __future__ import annotations

import ctypes
import os
import signal
from collections.abc import Callable

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def end_with_this_process(sig: signal.Signals = signal.SIGTERM) -> Callable[[], None]:
    """A `preexec_fn` for subprocess.Popen: the child gets `sig` when this process dies.

    The signal survives the child's exec (it is reset only for set-uid programs). The kernel ties it to
    the *thread* that forks: spawn from a thread that lives as long as the process (the launcher spawns
    and restarts its children from the main thread). Everything the child runs between fork and exec is
    resolved here, in the parent, so the child only makes two system calls.
    """
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()

    def arm() -> None:
        prctl(PR_SET_PDEATHSIG, int(sig))
        if os.getppid() != parent:  # the parent died before the signal was armed: nobody will send it
            os._exit(1)

    return arm
