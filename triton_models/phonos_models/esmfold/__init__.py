"""ESMFold (transformers' `EsmForProteinFolding`, pure PyTorch) as importable science code.

Layers: `architecture` (tiny config) → `loading` (weights + provenance) →
`batching` (padding-aware grouping) → `predict` (tensors → per-sequence results)
→ `files` (PDB/mmCIF/JSON). Never imports `triton_python_backend_utils`.
"""
