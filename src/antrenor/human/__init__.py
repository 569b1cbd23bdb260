"""`antrenor human`: blind Likert ratings of model answers by people (task.py, server.py, store.py), and
the statistics and report on them (statistics.py, agreement.py, report.py)."""
