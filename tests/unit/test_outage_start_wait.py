"""Triton still loading a model when the job service starts is no outage: "waiting for Triton to load <model>" at
INFO, not the warning "model server unavailable; jobs of the model wait" (a false alarm on every normal start, which
also named no model); once the model was served, losing it is the warning, naming the model
(jobservice/outage.py)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import pytest

from jobservice.inference import READY
from jobservice.outage import Outages

pytestmark = pytest.mark.unit


class Health:
    """A model server whose health of every model is `state`."""

    def __init__(self) -> None:
        self.state = "UNAVAILABLE"

    async def health(self, models: Sequence[str]) -> dict[str, str]:
        return {name: self.state for name in models}


async def _until_open(outages: Outages, model: str) -> None:
    async with asyncio.timeout(10):
        await outages.gate(model).wait_open()


def test_the_start_up_wait_for_a_model_is_no_outage_warning_but_a_later_outage_is(
        caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        server = Health()
        outages = Outages({"esmfold": "esmfold"}, server, jobs=None, window_s=3600,  # type: ignore[arg-type]
                          owner=None, probe_s=0.01)
        try:
            outages.close("esmfold", "connection refused")  # the first job, before Triton has loaded the model
            outages.watch("esmfold")
            server.state = READY
            await _until_open(outages, "esmfold")
            server.state = "UNAVAILABLE"
            outages.close("esmfold", "Triton stopped")  # a real outage now
            outages.watch("esmfold")
            server.state = READY
            await _until_open(outages, "esmfold")
        finally:
            await outages.close_all()

    with caplog.at_level(logging.INFO, logger="jobservice.outage"):
        asyncio.run(scenario())
    said = [(r.levelname, r.getMessage(), r.__dict__.get("action")) for r in caplog.records]
    assert said == [
        ("INFO", "waiting for Triton to load esmfold; jobs of the model wait", "dispatch.model_loading"),
        ("INFO", "Triton loaded esmfold; dispatch starts", "dispatch.model_loaded"),
        ("WARNING", "model server unavailable for esmfold; jobs of the model wait", "dispatch.outage"),
        ("INFO", "model server back for esmfold; dispatch resumes", "dispatch.outage_over"),
    ]
    outage = next(r for r in caplog.records if r.levelname == "WARNING")
    assert outage.__dict__["model"] == "esmfold" and outage.__dict__["reason"] == "Triton stopped"


def test_a_model_that_answered_a_call_then_goes_away_is_an_outage(caplog: pytest.LogCaptureFixture) -> None:
    outages = Outages({"esmfold": "esmfold"}, Health(), jobs=None, window_s=3600,  # type: ignore[arg-type]
                      owner=None)
    outages.answered("esmfold")
    with caplog.at_level(logging.INFO, logger="jobservice.outage"):
        outages.close("esmfold", "connection refused")
    assert [(r.levelname, r.__dict__["action"]) for r in caplog.records] == [("WARNING", "dispatch.outage")]


class NoJobs:
    """The job store's side of a window that ran out: no job was waiting."""

    def __init__(self) -> None:
        self.asked = 0
        self.thrice = asyncio.Event()  # the watcher has looked again after the window, more than once

    async def fail_waiting(self, model: str, failure: object, owner: str | None = None) -> list[object]:
        self.asked += 1
        if self.asked >= 3:
            self.thrice.set()
        return []


def test_a_model_never_loaded_for_the_whole_window_is_warned_once(caplog: pytest.LogCaptureFixture) -> None:
    """A model Triton never loads (its load failed, a wrong name, PHONOS_TRITON_URL naming nothing) was said only as
    "waiting for Triton to load" at INFO, for ever: an operator alerting on warnings never heard of it."""
    async def scenario() -> None:
        jobs = NoJobs()
        outages = Outages({"esmfold": "esmfold"}, Health(), jobs=jobs, window_s=0.05,  # type: ignore[arg-type]
                          owner=None, probe_s=0.01)
        try:
            outages.close("esmfold", "connection refused")
            outages.watch("esmfold")
            async with asyncio.timeout(10):
                await jobs.thrice.wait()
        finally:
            await outages.close_all()

    with caplog.at_level(logging.INFO, logger="jobservice.outage"):
        asyncio.run(scenario())
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert [(r.getMessage(), r.__dict__["action"], r.__dict__["model"]) for r in warnings] == [
        ("Triton has not loaded esmfold after 0.05 s (connection refused); jobs of the model fail: see Triton's log",
         "dispatch.outage", "esmfold")]  # once, however long it lasts
