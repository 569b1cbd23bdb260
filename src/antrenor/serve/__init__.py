"""`antrenor serve`: the HTTP server of a tuned model (OpenAI-compatible API, /v1/classify), its backends
(PyTorch, ONNX Runtime), batching and the request log it writes (records/request_log.py)."""
