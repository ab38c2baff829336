"""Result files written whole or not at all.

A download is written under a hidden name beside its target (`.<name>.part`) and renamed onto the target once every
byte is written (not flushed to the disk: a power cut may still lose it, as with any unsynced write). Ctrl-C, a full disk or a killed process mid-write then leave no half file under the result's name:
one that `fold --out` would take for an earlier run's result (and keep, naming the new one after the job id), and
that a viewer would open as a truncated structure.

No command replaces a different file that is already there (`holds`): running the same command again finds its
own file and leaves it, so a re-run is harmless, and another job's file of the same name is never lost.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path


def write_whole(target: Path, content: bytes) -> None:
    """`target.write_bytes(content)`, but atomic: the target is the whole content or as it was before. A target
    that is a symbolic link is written through it, as write_bytes did (the rename would replace the link)."""
    if target.is_symlink():
        target = target.resolve()
    if not target.parent.is_dir():  # said by the folder the caller named, not by the ".name.part" file made in it
        raise FileNotFoundError(errno.ENOENT, "no such folder to save in", str(target.parent))
    part = target.with_name(f".{target.name}.part")
    try:
        with part.open("wb") as handle:
            handle.write(content)
        os.replace(part, target)  # one rename: readers see the old file or the new one, never a part
    except BaseException:  # KeyboardInterrupt too: the part is litter, whatever stopped the write
        part.unlink(missing_ok=True)
        raise


def holds(target: Path, content: bytes) -> bool:
    """`target` is a file with exactly `content`: the same job's same file, saved by an earlier run of the command
    (a result never changes once the job is done), so saving it again would change nothing."""
    try:
        return target.is_file() and target.stat().st_size == len(content) and target.read_bytes() == content
    except OSError:  # unreadable: not known to be the same, so not taken for it
        return False
