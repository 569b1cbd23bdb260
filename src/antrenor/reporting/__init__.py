"""Small public helpers every report uses: atomic file writes (files.py), charts (charts.py), report blocks
rendered as HTML and Markdown (blocks.py), and the statistics behind confidence intervals and p-values
(stats.py). It imports no stage."""
