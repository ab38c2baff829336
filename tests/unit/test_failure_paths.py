"""A model's failure message reaches every user as the job's `error`: the server's file paths do not (the security
review found AlphaFold2's "uniref90 database not found at /data/alphafold/uniref90/uniref90.fasta" shown whole).
And what the message tells the metrics: an out-of-memory apart from other model failures."""

from __future__ import annotations

import pytest
from tritonclient.utils import InferenceServerException

from jobservice.failures import FAILURE_CAUSES, OUT_OF_MEMORY, FailureKind, JobFailure, without_server_paths
from jobservice.inference import ModelFailure, ModelOutOfMemory, ModelProcessStopped
from jobservice.triton_inference import classify, classify_intake

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("message", "shown"), [
    ("alphafold2 failed: uniref90 database not found at /data/alphafold/uniref90/uniref90.fasta",
     "alphafold2 failed: uniref90 database not found at <server path>"),
    ("esmfold failed: FileNotFoundError: [Errno 2] No such file or directory: '/var/lib/phonos/x.npz'",
     "esmfold failed: FileNotFoundError: [Errno 2] No such file or directory: '<server path>'"),
    ("diffdock failed: cannot open /tmp/phonos-ab12/ligand.sdf (/home/lab/.cache)",
     "diffdock failed: cannot open <server path> (<server path>)"),
])
def test_server_paths_are_replaced(message: str, shown: str) -> None:
    assert without_server_paths(message) == shown


@pytest.mark.parametrize("message", [
    "esmfold failed: RuntimeError: CUDA out of memory (tried 2.00 GiB)",
    "see https://github.com/google-deepmind/alphafold/issues/1 and msa_mode single_sequence/a3m",
    "pLDDT 0.7 / 1.0 at 1/2 of the residues; ratio 3/4",
    "a lone slash / here, a root / and ~/relative/path",
])
def test_everything_else_is_left_as_it_is(message: str) -> None:
    assert without_server_paths(message) == message


# What the job service can read of an out-of-memory: Triton carries only a code (INTERNAL) and a message.
@pytest.mark.parametrize(("message", "oom"), [
    ("out of memory folding 1 sequence(s) of up to 900 residues (chunk_size off); use a smaller chunk_size", True),
    ("esmfold failed: OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB", True),  # torch, uncaught
    ("esmfold failed: RuntimeError: DefaultCPUAllocator: can't allocate memory: you tried to allocate 4 GB", True),
    ("diffdock failed: MemoryError: ", True),  # the host, Python's own
    ("alphafold2 failed: XlaRuntimeError: RESOURCE_EXHAUSTED: Out of memory while trying to allocate 9 GiB", True),
    ("diffdock failed: OSError: [Errno 12] Cannot allocate memory", True),  # the host, an OS call
    ("esmfold failed: RuntimeError: scripted model failure", False),
    ("esmfold failed: IndexError: index 7 is out of range", False),
    ("echo failed: RuntimeError: the memory map of the weights is corrupt", False),
    ("esmfold sent a broken result: missing summary", False),
])
def test_an_out_of_memory_is_told_from_other_model_failures_by_its_message(message: str, oom: bool) -> None:
    failure = classify(InferenceServerException(msg=message, status="StatusCode.INTERNAL"))
    assert isinstance(failure, ModelFailure) and isinstance(failure, ModelOutOfMemory) == oom
    assert JobFailure(FailureKind.MODEL_ERROR, message, out_of_memory=oom).cause == ("out_of_memory" if oom
                                                                                     else "model_error")


def test_out_of_memory_is_a_cause_of_model_errors_only() -> None:
    """A charged or other refunded failure keeps its code as its cause, whatever flag it was built with."""
    assert JobFailure(FailureKind.INVALID_INPUT, "x", out_of_memory=True).cause == "invalid_input"
    assert FAILURE_CAUSES[-1] == OUT_OF_MEMORY and set(FAILURE_CAUSES[:-1]) == {str(k) for k in FailureKind}


@pytest.mark.parametrize("status", ["StatusCode.INTERNAL", "StatusCode.UNKNOWN"])
def test_a_stub_process_that_died_is_the_servers_side_not_a_model_error(status: str) -> None:
    """Triton's python backend ends the call of an instance whose stub died (the server segfaulting around it) with
    "Stub process '<instance>' is not healthy.": the job runs again, counted (jobservice/dispatch.py), where it failed
    as a model error. An error arriving on the stream itself (classify_intake) is not the input's fault either."""
    message = "Stub process 'diffdock_0_0' is not healthy."
    assert isinstance(classify(InferenceServerException(msg=message, status=status)), ModelProcessStopped)
    assert isinstance(classify_intake(InferenceServerException(msg=message)), ModelProcessStopped)
    assert isinstance(classify(InferenceServerException(msg="diffdock failed: RuntimeError: bad", status=status)),
                      ModelFailure)


def test_a_refunded_failure_s_message_has_one_stop_before_its_credits() -> None:
    """A model's message ending in its own full stop read "... is not healthy.; credits were refunded."."""
    assert JobFailure(FailureKind.MODEL_ERROR, "esmfold failed: it broke.").message == (
        "esmfold failed: it broke; credits were refunded.")
    assert JobFailure(FailureKind.INVALID_INPUT, "the ligand is wrong.").message.startswith(
        "the ligand is wrong. The model rejected the input")


def test_every_requeue_reason_is_in_the_contract_and_said_on_the_job_page() -> None:
    """A new reason (model_restarted) must reach the API's allowed values and the dashboard's words."""
    from jobservice.jobs import RequeueReason
    from tests.support import REPO

    proto = (REPO / "protos" / "phonos" / "v1" / "phonos.proto").read_text()
    allowed = proto.split("optional string requeue_reason = 20")[1].split("\n")[0]
    page = (REPO / "gateway" / "static" / "js" / "pages" / "job.js").read_text().split("const REQUEUE_REASONS")[1]
    for reason in RequeueReason:
        assert f'"{reason}"' in allowed and f"\n  {reason}: '" in page.split("};")[0], reason
