"""`antrenor monitor`: drift between production traffic (the request log) and the training data: signals
(drift.py), inputs (reference.py), the report (report.py), a sample to label (labelling.py); run.py ties
them together. Retraining runs stages, so it lives in pipeline/retrain.py."""
