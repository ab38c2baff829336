"""PHONOS_TRITON_API_SECRET and the shm guard, without a server (tests/launcher/test_triton_locked.py runs one)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from launcher import serve as serve_module
from launcher import shm_guard
from launcher.shm_guard import RegionGuard, make_private
from phonos_config.service import ServiceSettings
from phonos_config.triton_access import GRPC_HEADER, HEADER, grpc_headers, http_headers, restriction_flags
from tests.support import wait_until

pytestmark = pytest.mark.unit

SECRET = "s3cret-value_for.tests~0123456789"


def test_the_secret_is_read_checked_and_never_shown() -> None:
    settings = ServiceSettings.from_env({"PHONOS_TRITON_API_SECRET": SECRET})
    assert settings.triton_api_secret == SECRET
    assert SECRET not in repr(settings) and SECRET not in str(settings)
    assert ServiceSettings.from_env({}).triton_api_secret == ""


@pytest.mark.parametrize("value", ["short", "has a space in it, too long", "colon:in:it:0123456789", "a=b-0123456789abc"])
def test_a_secret_the_flags_cannot_carry_is_refused_without_quoting_it(value: str) -> None:
    with pytest.raises(ValueError, match="PHONOS_TRITON_API_SECRET must be") as refused:
        ServiceSettings.from_env({"PHONOS_TRITON_API_SECRET": value})
    assert value not in str(refused.value)


@pytest.mark.parametrize("value", ["change-me-to-a-random-secret", "CHANGE-ME-0123456789abcdef"])
def test_the_manifests_placeholder_is_refused(value: str) -> None:
    """deploy/kubernetes/triton.yaml's placeholder applied as it is: Triton's locked APIs would open to anyone who
    read the manifest. Refused at start, naming it a placeholder."""
    with pytest.raises(ValueError, match="PHONOS_TRITON_API_SECRET is the example manifest's placeholder"):
        ServiceSettings.from_env({"PHONOS_TRITON_API_SECRET": value})


def test_the_flags_lock_every_api_but_health_and_metadata() -> None:
    http, grpc = restriction_flags(SECRET)
    apis = "inference,shared-memory,model-config,model-repository,statistics,trace,logging"
    assert http == f"--http-restricted-api={apis}:{HEADER}={SECRET}"
    assert grpc == f"--grpc-restricted-protocol={apis}:{HEADER}={SECRET}"
    assert "health" not in apis and "metadata" not in apis


def test_no_secret_no_flags_no_header() -> None:
    """A separately run Triton without the flags keeps working: nothing is sent."""
    assert restriction_flags("") == [] and grpc_headers("") == {} and http_headers("") == {}
    assert grpc_headers(SECRET) == {GRPC_HEADER: SECRET} and http_headers(SECRET) == {HEADER: SECRET}


def test_serve_hands_its_triton_secret_to_the_job_service(tmp_path: Path) -> None:
    settings = ServiceSettings(data_dir=tmp_path)
    triton = serve_module.TritonChild(["esmfold"], serve_module.TritonPorts.pick(), settings, {})
    other = serve_module.TritonChild(["esmfold"], serve_module.TritonPorts.pick(), settings, {})
    assert len(triton.api_secret) >= 32 and triton.api_secret != other.api_secret  # made afresh per start
    env = serve_module.jobservice_env(settings, triton)
    assert ServiceSettings.from_env(env).triton_api_secret == triton.api_secret


def _file(directory: Path, name: str, mode: int = 0o644) -> Path:
    path = directory / name
    path.write_bytes(b"\0" * 64)
    path.chmod(mode)
    return path


def test_make_private_changes_only_our_regions_and_follows_no_link(tmp_path: Path) -> None:
    ours, theirs = _file(tmp_path, "region_ab12_1"), _file(tmp_path, "region_other_1")
    target = _file(tmp_path, "target", 0o644)
    (tmp_path / "region_ab12_link").symlink_to(target)  # planted under our prefix: never followed
    assert make_private(tmp_path, "region_ab12_") == ["region_ab12_1"]
    assert stat.S_IMODE(ours.stat().st_mode) == 0o600
    assert stat.S_IMODE(theirs.stat().st_mode) == 0o644 and stat.S_IMODE(target.stat().st_mode) == 0o644
    assert make_private(tmp_path, "region_ab12_") == []  # private already: nothing to do


@pytest.mark.parametrize("inotify", [True, False], ids=["inotify", "polling"])
def test_the_guard_makes_regions_that_appear_later_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            inotify: bool) -> None:
    """Woken by inotify (the idle guard polled every 20 ms: ~1.5% of a core), or polling where it cannot be had."""
    if inotify:
        events = shm_guard.watch(tmp_path)
        assert events is not None, "no inotify here: the guard would poll"
        os.close(events)
        monkeypatch.setattr(shm_guard, "RESCAN_S", 60.0)  # only an event can wake it within the test
    guard = RegionGuard(tmp_path, "region_", poll_s=0.01 if not inotify else shm_guard.POLL_S, inotify=inotify).start()
    try:
        _file(tmp_path, "other_late")  # not ours: left as it is
        late = _file(tmp_path, "region_late")
        wait_until(lambda: stat.S_IMODE(late.stat().st_mode) == 0o600, 5, 0.01)
        os.chmod(late, 0o644)  # Boost's fchmod after its create: put back at the next look
        wait_until(lambda: stat.S_IMODE(late.stat().st_mode) == 0o600, 5, 0.01)
        os.rename(_file(tmp_path, "elsewhere"), tmp_path / "region_moved")  # moved in under our prefix
        wait_until(lambda: stat.S_IMODE((tmp_path / "region_moved").stat().st_mode) == 0o600, 5, 0.01)
        assert stat.S_IMODE((tmp_path / "other_late").stat().st_mode) == 0o644
    finally:
        guard.stop()
    assert not guard._thread.is_alive()  # woken from its wait by stop(), not after RESCAN_S
