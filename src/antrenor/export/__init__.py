"""`antrenor export`: a tuned model as a deployable folder (merged weights, ONNX, int8, model card)."""
