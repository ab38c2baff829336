"""What happens to a fold after its forward pass, off the model instance: Amber relax, then the files.

The Triton instance hands each finished fold to a `Finisher` and goes back to its queue for the next
batch. The result files (PDB, mmCIF, JSON, the plots, the zip) are built in a FileWorkers
process; a relax (when the request asks for one) first waits in a thread here while DeepMind's
minimisation runs in its own worker process (phonos_models.common.relax), one relax at a time per
instance, as AlphaFold2 relaxes one job at a time. `done` receives the request's `ModelResult`, or the
exception that ended it (`Cancelled` from a cancelled relax, `BrokenProcessPool` from a worker that
died, a bug), exactly once, from a thread of this process.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from phonos_config.relax import RelaxSettings
from phonos_models.common import plots
from phonos_models.common.file_workers import FileWorkers
from phonos_models.common.instance import ModelInstance
from phonos_models.common.progress import Progress, Report, ShouldStop, ignore
from phonos_models.common.relax import RelaxOutcome
from phonos_models.common.result_files import ModelResult
from phonos_models.common.weights import WeightsInfo
from phonos_models.esmfold import files
from phonos_models.esmfold.result import FoldResult

Done = Callable[[ModelResult | BaseException], None]


class Finisher:
    def __init__(self, weights: WeightsInfo, instance: ModelInstance, relax_settings: RelaxSettings, file_workers: int) -> None:
        self.weights = weights
        self.instance = instance  # the load, once: provenance, not one of the job's timings
        self.relax_settings = relax_settings
        self.files = FileWorkers(file_workers, warm_up=plots.warm_up)
        self._relaxing = ThreadPoolExecutor(1, thread_name_prefix="esmfold-relax")
        self._closing = threading.Event()

    def finish(self, result: FoldResult, relax_mode: str, done: Done, should_stop: ShouldStop = lambda: False,
               report: Report = ignore) -> None:
        """Relax (unless `relax_mode` is none) and build the files of `result`; returns at once."""
        if relax_mode == "none":  # first: asking the relax writes the whole PDB, 3-7 ms of the instance's thread
            self._build(result, relax_mode, None, done)
        elif (refused := files.refused_relax(result, relax_mode, self.weights)) is not None:
            # nothing to relax: no waiting for another job's relax to hear so
            report(Progress("relax", 0, 1, "Amber relax failed"))
            self._build(result, relax_mode, refused, done)
        else:
            # The relax time limit runs from here: waiting for another job's relax counts against it.
            self._relaxing.submit(self._relax_then_build, result, relax_mode, done, should_stop, report,
                                  time.perf_counter())

    def _relax_then_build(self, result: FoldResult, relax_mode: str, done: Done, should_stop: ShouldStop,
                          report: Report, started: float) -> None:
        def stop() -> bool:  # the request was cancelled, or the model is being unloaded
            return self._closing.is_set() or should_stop()

        try:
            outcome = files.relax(result, relax_mode, self.weights, self.relax_settings, stop, report, started)
        except Exception as exc:  # Cancelled, or a bug: the request's answer either way
            done(exc)
            return
        self._build(result, relax_mode, outcome, done)

    def _build(self, result: FoldResult, relax_mode: str, outcome: RelaxOutcome | None, done: Done) -> None:
        handed = time.perf_counter()
        try:
            future = self.files.submit(files.build, result, self.weights, self.instance, relax_mode, outcome)
        except Exception as exc:
            done(exc)
            return

        def built(future: Future[ModelResult]) -> None:
            try:
                answer = future.result()
            except Exception as exc:  # raised in the worker, or the pool broke
                done(exc)
                return
            timings = answer.metadata["timings"]
            # queued behind other jobs' files, plus moving the fold and the files between processes
            timings["files_wait_s"] = round(max(0.0, time.perf_counter() - handed - timings["files_s"]), 4)
            done(answer)

        future.add_done_callback(built)

    def close(self) -> None:
        """Answer every handed-over request, then stop the workers. Relaxes still running or waiting are
        cancelled (a relax may take minutes); files being built are finished."""
        self._closing.set()
        self._relaxing.shutdown(wait=True)
        self.files.close()
