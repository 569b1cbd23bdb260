"""The tune stage: hyperparameter search over a pipeline's train section, with optuna (the `tune` extra).

config.py (the `tune` section), space.py (search space vs the train config), plan.py (every check
before any model loads), pruning.py (the Trainer callback), pipeline_yaml.py (reading the YAML and
writing best_pipeline.yaml), report.py (trials.csv, tune_report.md, best.json), run.py (the study).
"""
