"""Science code of the phonos models; importable without Triton (never imports triton_python_backend_utils)."""
