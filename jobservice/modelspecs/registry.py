"""The models this deployment serves, in the order /v1/models lists them."""

from __future__ import annotations

import importlib
from collections.abc import Iterable

from jobservice.modelspecs.base import ModelSpec

# Model id → module with `build_spec() -> ModelSpec`.
SPEC_MODULES = {
    "esmfold": "jobservice.modelspecs.esmfold",
    "alphafold2": "jobservice.modelspecs.alphafold2",
    "diffdock": "jobservice.modelspecs.diffdock",
    # Diagnostics only (bench/service_overhead.py); not in the default PHONOS_MODELS.
    "echo": "jobservice.modelspecs.echo",
}
DEFAULT_MODELS = ("esmfold", "alphafold2", "diffdock")


def check_model_ids(model_ids: Iterable[str]) -> None:
    """ValueError naming the first id no spec is known for: checked before a job service creates anything (its
    data directory, a fresh database), which a bad PHONOS_MODELS left behind when build_specs found it later."""
    for model_id in model_ids:
        if model_id not in SPEC_MODULES:
            # The served models only: `echo` is a diagnostic a user never asks for.
            raise ValueError(f"unknown model {model_id!r} in PHONOS_MODELS; known: {', '.join(DEFAULT_MODELS)}")


def build_specs(model_ids: Iterable[str] = DEFAULT_MODELS) -> dict[str, ModelSpec]:
    specs: dict[str, ModelSpec] = {}
    model_ids = tuple(model_ids)
    check_model_ids(model_ids)
    for model_id in model_ids:
        module_name = SPEC_MODULES[model_id]
        module = importlib.import_module(module_name)
        spec: ModelSpec = module.build_spec()
        if spec.info.id != model_id:
            raise RuntimeError(f"{module_name} builds a spec for {spec.info.id!r}, expected {model_id!r}")
        specs[model_id] = spec
    return specs


def triton_models(model_ids: Iterable[str] = DEFAULT_MODELS) -> list[str]:
    """Every Triton model the served specs need, dependencies first (e.g. an embedding model)."""
    names: list[str] = []
    for spec in build_specs(model_ids).values():
        for name in (*getattr(spec, "triton_dependencies", ()), spec.triton_model):
            if name not in names:
                names.append(name)
    return names
