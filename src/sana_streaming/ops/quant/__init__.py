"""Mixed-precision quantization applied from outside the model: ``quantize_(model, policy)``."""
