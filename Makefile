# The README's two commands: `make demo` (set up, run the corpus job on the sample, train) and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
BENCH_VENV := .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.installed
OUT ?= out
RUNS ?= runs
NAME ?= sample
INPUT ?= data/sample/*.warc.gz
# The demo's training fits TRAIN_SECONDS on whatever machine runs it (at most STEPS steps, the
# warmup WARMUP of STEPS, both lowered in proportion to fit); TRAIN_FLAGS are the model and rate
# that reached the lowest val bits per byte in two minutes on 2 cores (bench/demo_sweep.py).
STEPS ?= 3000
WARMUP ?= 300
TRAIN_SECONDS ?= 120
TRAIN_FLAGS ?= --n-layer 2 --n-embd 256 --n-head 4 --lr 1e-3 --batch-size 4
DEMO_PROMPT ?= To install a package, you

.PHONY: setup setup-test constraints demo pipeline report crawl-sample train test test-fast lint format bench bench-crawl bench-trainer bench-scale project sample blocklists clean

# `make setup` installs what the demo runs: torch (the build scripts/torch_index.py picks for this
# machine; set TORCH_INDEX to choose) and the package. `make setup-test` adds the extras the tests,
# lint and benches use (dev, hf, tensorboard). Both install the versions in constraints.txt, which
# the suite passes with (`make constraints` rewrites it); `pip install .` alone takes the ranges.
setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt scripts/torch_index.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	args="$$($(PY) scripts/torch_index.py --record $(VENV)/torch-build.txt)" && \
		$(PY) -m pip install -q -c constraints.txt torch $$args
	$(PY) -m pip install -q -c constraints.txt -e .
	touch $(STAMP)

setup-test: $(TEST_STAMP)

$(TEST_STAMP): $(STAMP)
	$(PY) -m pip install -q -c constraints.txt -e ".[dev,hf,tensorboard]"
	touch $(TEST_STAMP)

# The versions of every package in the test environment (local build labels such as +cpu left
# out, so one file serves CPU and CUDA machines): run after changing a range in pyproject.toml.
constraints: $(TEST_STAMP)
	{ echo "# The versions the test suite passes with: make constraints rewrites this file."; \
	  $(PY) -m pip freeze --exclude-editable | sed -E 's/\+[A-Za-z0-9.]+$$//'; } > constraints.txt.tmp
	mv constraints.txt.tmp constraints.txt

CORPUS := $(VENV)/bin/corpus

demo: setup
	$(MAKE) pipeline
	$(MAKE) train
	$(MAKE) report
	@echo "the model's continuation of '$(DEMO_PROMPT)' after $(TRAIN_SECONDS) s of training:"
	@$(CORPUS) generate $(RUNS)/$(NAME) --prompt '$(DEMO_PROMPT)' --max-tokens 40 --temperature 0.7
	@echo "demo done: corpus in $(OUT)/$(NAME)/ (summary.json, manifest.json), run in $(RUNS)/$(NAME)/"

pipeline: setup
	$(CORPUS) build --input '$(INPUT)' --output $(OUT) --name $(NAME) --config configs/sample.toml

# One offline HTML file (and a Markdown summary) of the corpus run and its training run.
report: setup
	$(CORPUS) report $(OUT)/$(NAME) $(if $(wildcard $(RUNS)/$(NAME)/metrics.jsonl),--train $(RUNS)/$(NAME),)

# Crawl the sample's pages from a loopback server (robots.txt, politeness, WARC), then build a
# corpus from the crawl: crawl/sample/ and out/crawl-sample/.
crawl-sample: setup
	$(PY) -m scripts.crawl_sample

train: setup
	$(CORPUS) train --data $(OUT)/$(NAME) --out $(RUNS)/$(NAME) --max-steps $(STEPS) --warmup-steps $(WARMUP) \
		--time-budget $(TRAIN_SECONDS) $(TRAIN_FLAGS)

test: setup-test
	$(PY) -m pytest

# Everything but the tests marked slow (torchrun, Dask, kill-and-rerun, crawls, lm_eval, Chromium,
# whole jobs at many units), for iterating; `make test` is the full suite CI runs.
test-fast: setup-test
	$(PY) -m pytest -m "not slow"

lint: setup-test
	$(PY) -m ruff format --check .
	$(PY) -m ruff check .

format: setup-test
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

# datatrove (the peer) gets its own venv: it cannot be installed beside fasttext-predict.
$(BENCH_STAMP): bench/peer-requirements.txt
	test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install -q --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install -q -r bench/peer-requirements.txt
	touch $(BENCH_STAMP)

bench: setup-test $(BENCH_STAMP)
	$(PY) -m bench.run $(if $(QUICK),--quick,)
	$(PY) -m bench.crawl $(if $(QUICK),--hosts 20,)
	test -f $(OUT)/$(NAME)/manifest.json || $(MAKE) pipeline
	$(PY) -m bench.trainer --data $(OUT)/$(NAME)
	$(PY) -m bench.project --run $(OUT)/$(NAME) --write docs/architecture.md
	$(if $(QUICK),,$(PY) -m bench.scale)

# The trainer against transformers' GPT2LMHeadModel, its loader, 1 vs 2 ranks (a few minutes).
bench-trainer: setup-test $(BENCH_STAMP)
	test -f $(OUT)/$(NAME)/manifest.json || $(MAKE) pipeline
	$(PY) -m bench.trainer --data $(OUT)/$(NAME)

# The job projected to 100M and 10B documents from a finished run and the code's constants
# (tasks, bytes, memory per task, files, shards per stage), into docs/architecture.md.
project: setup
	test -f $(OUT)/$(NAME)/manifest.json || $(MAKE) pipeline
	$(PY) -m bench.project --run $(OUT)/$(NAME) --write docs/architecture.md

# The crawler against wget and Scrapy on 100 loopback virtual hosts (about 3 minutes).
bench-crawl: setup-test $(BENCH_STAMP)
	$(PY) -m bench.crawl

# The whole job at 250 MB and 1 GB against datatrove's pipeline (about 50 minutes on 2 cores).
bench-scale: setup-test $(BENCH_STAMP)
	$(PY) -m bench.scale

# UT1's adult domain blocklist (4.5M entries, CC BY-SA 4.0) into data/blocklists/ut1-adult/, from
# the datatrove wheel on PyPI; see scripts/fetch_ut1_blocklist.py for using it.
blocklists: setup
	$(PY) scripts/fetch_ut1_blocklist.py

# Rebuild the bundled sample (needs: apt-get install debian-reference-{en,de,fr,es,it,ja}).
sample: setup
	$(PY) scripts/build_sample_warc.py

clean:
	rm -rf $(OUT) $(RUNS) crawl .pytest_cache
