"""AlphaFold2 (DeepMind's JAX model, ColabFold's `alphafold-colabfold` package) for phonos.

Layers, bottom up: `architecture` (configs, presets, tiny config) → `weights`
(DeepMind npz layout, tiny random weights, content hashes) → `features` (MSA and
sequence features padded to a length bucket) → `runner` (compiled model, own
recycle loop, float32 outputs) → `msa` / `search` (user A3M, jackhmmer) →
`outputs` (PDB, mmCIF, scores) → `pipeline` (one request end to end).
Nothing here imports Triton.
"""
