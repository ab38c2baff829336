"""Triton python-backend adapter for ESMFold. All science is in `phonos_models.esmfold`.

Settings: the config's `parameters` give defaults for the PHONOS_ESMFOLD_* and PHONOS_RELAX_* variables;
the same variable in the server's environment wins, even when empty. Every request gets a progress
response per trunk pass (and for Amber relax, when asked), then exactly one final response (the
result-files envelope, or a typed error: see phonos_triton.adapter); a bad or cancelled request gets its
error without failing the rest of its dynamic batch.

After its forward pass each request is handed to a `Finisher` (phonos_models.esmfold.finishing), which
relaxes it if asked and builds its files in a worker process, then sends its final response from there:
`execute` returns as soon as the batch is folded, so the next batch's forward pass does not wait for
its result files or OpenMM (the model is decoupled, so a response may follow `execute`).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# This checkout's packages first, before any installed copy (Triton's python stub ignores PYTHONPATH).
sys.path[:0] = [str(Path(__file__).resolve().parents[3]), str(Path(__file__).resolve().parents[2])]

import torch
from phonos_models.common.progress import Progress
from phonos_models.common.result_files import ModelResult
from phonos_models.esmfold.batching import FoldJob, make_job, plan_batches
from phonos_models.esmfold.finishing import Finisher
from phonos_models.esmfold.loading import LoadedModel, load_model
from phonos_models.esmfold.predict import FoldResult, fold_batch
from phonos_triton import adapter, stub_exit

from phonos_config.esmfold import MAX_RECYCLES, EsmFoldSettings
from phonos_config.relax import RelaxSettings

log = logging.getLogger("phonos.triton.esmfold")


class TritonPythonModel:
    def initialize(self, args: dict[str, str]) -> None:
        self.settings = EsmFoldSettings.from_env(adapter.model_env(args, "PHONOS_ESMFOLD_"))
        torch.set_num_threads(self.settings.num_threads)  # instances share the cores
        device = adapter.instance_device(args)
        s = self.settings
        self.loaded: LoadedModel = load_model(s.weights_dir, s.tiny_seed, device, s.random_architecture)
        relax = RelaxSettings.from_env(adapter.model_env(args, "PHONOS_RELAX_"))
        self.finisher = Finisher(self.loaded.weights, self.loaded.instance, relax, s.file_workers)
        log.info("esmfold loaded %s on %s in %.2f s (%d result-file workers)", self.loaded.weights.short, device,
                 self.loaded.load_s, s.file_workers)

    def execute(self, requests: Sequence[Any]) -> None:
        answering = adapter.responders(requests, log, batched=True)
        handed: set[int] = set()  # requests the finisher answers, after execute returns
        try:
            self._execute(requests, answering, handed)
        finally:
            adapter.finish_unanswered([r for i, r in enumerate(answering) if i not in handed], "esmfold")

    def _execute(self, requests: Sequence[Any], answering: list[adapter.Responder], handed: set[int]) -> None:
        jobs: dict[int, FoldJob] = {}
        for index, request in enumerate(requests):
            try:
                jobs[index] = self._job(request)
            except Exception as exc:
                answering[index].finish(adapter.failure_response(exc, "esmfold", log))
        order = list(jobs)
        budget = self.settings.max_tokens_per_batch or None
        for batch in plan_batches([jobs[i] for i in order], max_tokens=budget):
            members = [order[k] for k in batch]
            live = [i for i in members if not requests[i].is_cancelled()]
            for i in set(members) - set(live):
                answering[i].finish(adapter.error_response("request cancelled", "CANCELLED"))
            if live:
                self._run(requests, live, jobs, answering, handed)

    def _job(self, request: Any) -> FoldJob:
        s = self.settings
        return make_job(
            adapter.input_text(request, "SEQUENCE"),
            adapter.input_int(request, "NUM_RECYCLES"),
            adapter.input_int(request, "CHUNK_SIZE"),
            max_length=s.max_length,
            auto_chunk_length=s.auto_chunk_length,
            auto_chunk_size=s.auto_chunk_size,
            max_chains=s.max_chains,
            max_recycles=MAX_RECYCLES,
            relax=adapter.input_text(request, "RELAX"),
        )

    def _run(self, requests: Sequence[Any], members: list[int], jobs: dict[int, FoldJob],
             answering: list[adapter.Responder], handed: set[int]) -> None:
        # Each request's compute limit counts from here, when its batch starts computing. It bounds the
        # forward pass; an Amber relax afterwards has its own limit (PHONOS_RELAX_TIMEOUT_S) and only
        # the caller's cancellation stops it early.
        clocks = {i: adapter.ComputeClock(requests[i]) for i in members}
        for clock in clocks.values():
            clock.start()

        # Stop the forward pass only when every request sharing it has been cancelled or is out of compute time.
        def should_stop() -> bool:
            return all(clocks[i].should_stop() for i in members)

        def report(update: Progress) -> None:  # one forward pass: every member is at the same pass
            for i in members:
                answering[i].progress(update)

        try:
            results = fold_batch(self.loaded.model, [jobs[i] for i in members], should_stop, report)
        except Exception as exc:  # one failed forward pass answers each of its requests
            for i in members:
                answering[i].finish(adapter.failure_response(exc, "esmfold", log, clocks[i]))
            return
        for i, result in zip(members, results, strict=True):
            if requests[i].is_cancelled():
                answering[i].finish(adapter.error_response("request cancelled", "CANCELLED"))
            else:
                handed.add(i)
                self._finish(requests[i], answering[i], result, jobs[i].relax)

    def _finish(self, request: Any, responder: adapter.Responder, result: FoldResult, relax: str) -> None:
        """Hand the fold to the finisher; its thread sends the final response."""
        def done(outcome: ModelResult | BaseException) -> None:
            try:
                if isinstance(outcome, BaseException):
                    responder.finish(adapter.failure_response(outcome, "esmfold", log))
                elif request.is_cancelled():
                    responder.finish(adapter.error_response("request cancelled", "CANCELLED"))
                else:
                    responder.finish(adapter.result_response(outcome, batched=True))
            finally:
                adapter.finish_unanswered([responder], "esmfold")

        try:
            self.finisher.finish(result, relax, done, request.is_cancelled, responder.progress)
        except Exception as exc:  # e.g. the pool is shut down: answer here rather than never
            done(exc)

    def finalize(self) -> None:
        self.finisher.close()  # every handed-over request gets its answer first
        self.loaded = None  # type: ignore[assignment]
        stub_exit.exit_stub()  # the stub's interpreter teardown is seconds of nothing (phonos_triton.stub_exit)
