"""Training-half tools that produce deployable artefacts: ONNX export (and later pruning, quantisation)."""
