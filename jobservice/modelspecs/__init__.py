"""One spec per served model: validation, tensors to Triton and back, result files."""
