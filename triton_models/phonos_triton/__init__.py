"""What every Triton `model.py` adapter shares. Imports `triton_python_backend_utils`, so only the
Triton python stub loads it; the science it calls lives in `phonos_models`."""
