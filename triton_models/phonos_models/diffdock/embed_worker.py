"""The ligand's 3D embedding in a child process that a cancel or an overrun kills.

RDKit's ETKDG and MMFF are native calls with no way to interrupt them. Run in a thread, a cancelled job's
call went on until RDKit's own timeout (up to PHONOS_DIFFDOCK_LIGAND_EMBED_S, 120 s) and held a core the
whole time; a process can be killed at once. One long-lived process per model instance (started when the
instance loads, or on the first ligand of a pipeline used directly; replaced after a kill) costs ~1 ms per
ligand; a fresh process per ligand would cost a Python start (~0.5-1.5 s) every time
(`bench/diffdock_ligand_embed.py` prints both figures).

The child runs the very function the parent would (`conformer.embed_conformer`), on the molecule's RDKit
binary and the same seed, so its conformer is bit for bit the one embedding in process gives. Started
with `spawn` from a real Python (`file_workers.python_executable`): the model process holds torch's and
Triton's threads, which `fork` would copy in an unknown state. The child exits when its parent is gone.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from rdkit import Chem

from phonos_models.common.errors import Cancelled
from phonos_models.common.file_workers import python_executable

from .pipe_validate import LigandError

log = logging.getLogger("phonos.diffdock.embed_worker")
_POLL_S = 0.05  # how often the parent looks at the job's cancel/compute-limit flag while the child embeds
# Past the budget, RDKit's own timeout ends the child's call; this much longer and the parent kills it
# (MMFF has no timeout, only its 200 iterations).
_GRACE_S = 2.0
_PARENT_POLL_S = 0.5
# Pickled molecules keep every property (e.g. a name or CIP labels) and float64 coordinates (RDKit's binary
# stores float32 coordinates by default: the written SDF differed from the in-process one in the 4th decimal).
_PICKLE_PROPS = Chem.PropertyPickleOptions.AllProps | Chem.PropertyPickleOptions.CoordsAsDouble


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(_PARENT_POLL_S)
    os._exit(0)


def _serve(conn: Connection, parent: int) -> None:
    """Child: answer (mol binary, seed, budget s) with ("ok", mol binary, used_random) or an error."""
    from .conformer import embed_conformer  # no torch in the child

    threading.Thread(target=_watch_parent, args=(parent,), daemon=True, name="parent-watch").start()
    while True:
        try:
            binary, seed, budget_s = conn.recv()
        except EOFError:
            return
        try:
            heavy, used_random = embed_conformer(Chem.Mol(binary), seed, budget_s=budget_s)
            reply: tuple[Any, ...] = ("ok", heavy.ToBinary(_PICKLE_PROPS), used_random)
        except LigandError as exc:
            reply = ("ligand", str(exc))
        except Exception as exc:  # reported in the parent as a model failure, with its type
            reply = ("error", f"{type(exc).__name__}: {exc}")
        conn.send(reply)


class EmbedWorker:
    """One child process embedding ligands, one at a time; `close()` stops it."""

    def __init__(self, python: str = "") -> None:
        self._python = python
        self._lock = threading.Lock()
        self._process: Any = None  # multiprocessing.context.SpawnProcess
        self._conn: Connection | None = None

    def embed(self, mol: Chem.Mol, seed: int, budget_s: float, should_stop: Callable[[], bool],
              exceeded: Callable[[], Exception]) -> tuple[Chem.Mol, bool]:
        """`conformer.embed_conformer(mol, seed, budget_s=budget_s)` in the child. `Cancelled` (the child
        killed) when `should_stop()` turns true; `exceeded()` raised (the child killed) if the child runs
        `_GRACE_S` past the budget; the child's `LigandError` re-raised as one."""
        with self._lock:
            conn = self._start()
            try:
                conn.send((mol.ToBinary(_PICKLE_PROPS), seed, budget_s))
            except OSError:  # the child died since the last ligand: one more start
                self._kill("died")
                conn = self._start()
                conn.send((mol.ToBinary(_PICKLE_PROPS), seed, budget_s))
            deadline = time.monotonic() + budget_s + _GRACE_S
            while not conn.poll(_POLL_S):
                if should_stop():
                    self._kill("cancelled")
                    raise Cancelled("stopped while embedding the ligand in 3D")
                if time.monotonic() > deadline:
                    self._kill("overran its budget")
                    raise exceeded()
                if not self._process.is_alive() and not conn.poll():
                    code = self._process.exitcode
                    self._kill("died")
                    raise RuntimeError(f"the ligand embedding process exited (status {code})")
            try:
                reply = conn.recv()
            except (EOFError, OSError):  # closed, or reset by a child that died
                self._kill("died")
                raise RuntimeError("the ligand embedding process exited while embedding") from None
        if reply[0] == "ok":
            return Chem.Mol(reply[1]), bool(reply[2])
        if reply[0] == "ligand":
            raise LigandError(reply[1])
        raise RuntimeError(f"ligand embedding failed: {reply[1]}")

    def start(self) -> None:
        """Start the child now (its imports take ~1-2 s) rather than in the first request."""
        with self._lock:
            self._start()

    def pid(self) -> int | None:
        """The live child's process id (tests and diagnostics)."""
        process = self._process
        return process.pid if process is not None and process.is_alive() else None

    def _start(self) -> Connection:
        if self._process is not None and self._process.is_alive() and self._conn is not None:
            return self._conn
        context = multiprocessing.get_context("spawn")
        context.set_executable(python_executable(self._python))
        parent_end, child_end = context.Pipe(duplex=True)
        process = context.Process(target=_serve, args=(child_end, os.getpid()), daemon=True,
                                  name="phonos-ligand-embed")
        process.start()
        child_end.close()
        self._process, self._conn = process, parent_end
        return parent_end

    def _kill(self, why: str) -> None:
        process, conn = self._process, self._conn
        self._process = self._conn = None
        if conn is not None:
            conn.close()
        if process is not None:
            if process.is_alive():
                process.kill()
            process.join()
            log.info("ligand embedding process stopped: %s", why, extra={"action": "diffdock.embed_worker.kill"})

    def close(self) -> None:
        with self._lock:
            process, conn = self._process, self._conn
            self._process = self._conn = None
        if conn is not None:
            conn.close()  # the child's recv() ends with EOFError and it returns
        if process is not None:
            process.join(5)
            if process.is_alive():
                process.kill()
                process.join()
