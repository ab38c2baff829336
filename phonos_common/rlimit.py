"""The process's open-files limit raised to what it may be (its hard limit), as servers commonly do at start.

systemd (and many shells) start a service with a soft RLIMIT_NOFILE of 1,024 under a hard limit of hundreds of
thousands: kept at 1,024, a few hundred client connections and the job service's own files (SQLite, results,
Triton channels) compete for the same thousand descriptors, and accept() and file writes fail for everyone."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def raise_open_files_limit() -> tuple[int, int] | None:
    """Set the soft RLIMIT_NOFILE to the hard one; the (soft, hard) limits in force after, logged, or None where
    the platform has no such limit (Windows)."""
    try:
        import resource
    except ImportError:  # not POSIX
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # An unlimited hard limit cannot be the soft one on every kernel (Linux caps it at fs.nr_open): keep a
    # generous finite value then.
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as exc:
            log.warning("open-files limit stays %d (hard %s): raising it failed: %s", soft, _text(hard), exc)
            return soft, hard
        log.info("open-files limit raised from %d to %d (the hard limit)", soft, target,
                 extra={"action": "process.open_files_limit", "soft": target, "hard": hard})
        return target, hard
    log.info("open-files limit %s (hard %s)", _text(soft), _text(hard),
             extra={"action": "process.open_files_limit", "soft": soft, "hard": hard})
    return soft, hard


def _text(limit: int) -> str:
    import resource

    return "unlimited" if limit == resource.RLIM_INFINITY else str(limit)
