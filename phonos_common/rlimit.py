"""The process's open-files limit raised to what it may be (its hard limit), as servers commonly do at start.

systemd (and many shells) start a service with a soft RLIMIT_NOFILE of 1,024 under a hard limit of hundreds of
thousands: kept at 1,024, a few hundred client connections and the job service's own files (SQLite, results,
Triton channels) compete for the same thousand descriptors, and accept() and file writes fail for everyone."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

# The most the soft limit is raised to. Some container runtimes set a hard limit near 2^30: a soft limit that high
# makes software that loops over every possible descriptor (closing them before an exec, or sizing a table by
# sysconf(_SC_OPEN_MAX)) crawl, and Triton and its stubs inherit it. 2^20 is Linux's default fs.nr_open.
CEILING = 1 << 20


def raise_open_files_limit() -> tuple[int, int] | None:
    """Set the soft RLIMIT_NOFILE to the hard one (at most CEILING); the (soft, hard) limits in force after, logged,
    or None where the platform has no such limit (Windows)."""
    try:
        import resource
    except ImportError:  # not POSIX
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # An unlimited hard limit cannot be the soft one on every kernel (Linux caps it at fs.nr_open; macOS at
    # OPEN_MAX): CEILING then, and smaller values in turn where the kernel refuses it.
    target = CEILING if hard == resource.RLIM_INFINITY else min(hard, CEILING)
    if soft != resource.RLIM_INFINITY and soft < target:
        failure: Exception | None = None
        for value in (target, 1 << 16, 10_240):
            if value <= soft or value > target:
                continue
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (value, hard))
            except (ValueError, OSError) as exc:
                failure = exc
                continue
            log.info("open-files limit raised from %d to %d (hard %s)", soft, value, _text(hard),
                     extra={"action": "process.open_files_limit", "soft": value, "hard": hard})
            return value, hard
        log.warning("open-files limit stays %d (hard %s): raising it failed: %s", soft, _text(hard), failure)
        return soft, hard
    # Nothing changed: not worth a line among `phonos serve`'s start-up lines.
    log.debug("open-files limit %s (hard %s)", _text(soft), _text(hard),
              extra={"action": "process.open_files_limit", "soft": soft, "hard": hard})
    return soft, hard


def _text(limit: int) -> str:
    import resource

    return "unlimited" if limit == resource.RLIM_INFINITY else str(limit)
