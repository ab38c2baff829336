"""DiffDock (ICLR 2023 / DiffDock-S / DiffDock-L code paths) re-implemented in plain PyTorch + e3nn.

Loads the official `model_parameters.yml` + state dicts unchanged. Never imports Triton.
"""
