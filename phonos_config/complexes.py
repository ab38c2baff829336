"""How the public API writes a complex: one sequence with ':' chain breaks ("SEQA:SEQB", ColabFold's
notation). Defined once for the job-service specs and the models."""

from __future__ import annotations

CHAIN_BREAK = ":"
