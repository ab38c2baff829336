"""Triton python-backend adapter for ESMFold. All science is in `phonos_models.esmfold`.

Settings: the config's `parameters` give defaults for the PHONOS_ESMFOLD_* variables; the same
variable in the server's environment wins, even when empty. Every request gets a progress response per
trunk pass, then exactly one final response (the result-files envelope, or a typed error: see
phonos_triton.adapter); a bad or cancelled request gets its error without failing the rest of its
dynamic batch.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# This checkout's packages first, before any installed copy (Triton's python stub ignores PYTHONPATH).
sys.path[:0] = [str(Path(__file__).resolve().parents[3]), str(Path(__file__).resolve().parents[2])]

import torch
from phonos_models.common.progress import Progress
from phonos_models.esmfold.batching import FoldJob, make_job, plan_batches
from phonos_models.esmfold.files import model_result
from phonos_models.esmfold.loading import LoadedModel, load_model
from phonos_models.esmfold.predict import fold_batch
from phonos_triton import adapter

from phonos_config.esmfold import MAX_RECYCLES, EsmFoldSettings

log = logging.getLogger("phonos.triton.esmfold")


class TritonPythonModel:
    def initialize(self, args: dict[str, str]) -> None:
        self.settings = EsmFoldSettings.from_env(adapter.model_env(args, "PHONOS_ESMFOLD_"))
        torch.set_num_threads(self.settings.num_threads)  # instances share the cores
        device = adapter.instance_device(args)
        s = self.settings
        self.loaded: LoadedModel = load_model(s.weights_dir, s.tiny_seed, device, s.random_architecture)
        log.info("esmfold loaded %s on %s in %.2f s", self.loaded.weights.short, device, self.loaded.load_s)

    def execute(self, requests: Sequence[Any]) -> None:
        answering = adapter.responders(requests, log, batched=True)
        try:
            self._execute(requests, answering)
        finally:
            adapter.finish_unanswered(answering, "esmfold")

    def _execute(self, requests: Sequence[Any], answering: list[adapter.Responder]) -> None:
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
                self._run(requests, live, jobs, answering)

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
        )

    def _run(self, requests: Sequence[Any], members: list[int], jobs: dict[int, FoldJob],
             answering: list[adapter.Responder]) -> None:
        # Stop the forward pass only when every request sharing it has been cancelled.
        def should_stop() -> bool:
            return all(requests[i].is_cancelled() for i in members)

        def report(update: Progress) -> None:  # one forward pass: every member is at the same pass
            for i in members:
                answering[i].progress(update)

        try:
            results = fold_batch(self.loaded.model, [jobs[i] for i in members], should_stop, report)
        except Exception as exc:  # one failed forward pass answers each of its requests
            for i in members:
                answering[i].finish(adapter.failure_response(exc, "esmfold", log))
            return
        for i, result in zip(members, results, strict=True):
            if requests[i].is_cancelled():
                answering[i].finish(adapter.error_response("request cancelled", "CANCELLED"))
            else:
                started = time.perf_counter()
                fold = model_result(result, self.loaded.weights, self.loaded.load_s)
                fold.metadata["timings"]["files_s"] = round(time.perf_counter() - started, 4)  # every result file
                answering[i].finish(adapter.result_response(fold, batched=True))

    def finalize(self) -> None:
        self.loaded = None  # type: ignore[assignment]
