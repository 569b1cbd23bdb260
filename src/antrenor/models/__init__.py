"""The shared model layer every stage uses: the registry of aliases and embedded models (registry.py, embedded.py),
loading HF folders and adapters safely (loading.py), chat templates and assistant masks (chat.py), batched
generation (generation.py), scoring (scoring.py, pair_scoring.py), precision (precision.py), model versions
(version.py), ONNX Runtime sessions (onnx_runtime.py), and memory estimates and recommendations (memory.py,
recommend.py: `antrenor models`). It imports no stage."""
