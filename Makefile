# SegStudio developer targets. `make run` and `make test` set everything up.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
# Datumaro (test-only) pins older Pillow/OpenCV than SegStudio: its own venv,
# which tests/core/test_formats_datumaro.py runs as a subprocess.
DM_VENV ?= .venv-datumaro
DM_STAMP := $(DM_VENV)/.installed-stamp
DM_REQUIREMENTS := tests/external/requirements-datumaro.txt
export QT_QPA_PLATFORM ?= offscreen

.PHONY: run test test-all test-gpu bench screenshot bundle clean-venv datumaro-venv

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip setuptools wheel
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

$(DM_STAMP): $(DM_REQUIREMENTS)
	test -x $(DM_VENV)/bin/python || $(PYTHON) -m venv $(DM_VENV)
	$(DM_VENV)/bin/python -m pip install -q -r $(DM_REQUIREMENTS)
	touch $(DM_STAMP)

datumaro-venv: $(DM_STAMP)

# Opens the app on FOLDER (default: the bundled sample images).
run: QT_QPA_PLATFORM=
run: $(STAMP)
	$(PY) -m segstudio $(FOLDER)

test: $(STAMP) $(DM_STAMP)
	SEGSTUDIO_REQUIRE_DATUMARO=1 QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

# Includes the slow tests (long training runs, big images).
test-all: $(STAMP) $(DM_STAMP)
	SEGSTUDIO_REQUIRE_DATUMARO=1 QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q -m "" $(PYTEST_ARGS)

# On a machine with CUDA: AMP training, CPU-vs-CUDA agreement, a real OOM back-off
# (skipped without CUDA; deselected by `make test`).
test-gpu: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q -p no:cacheprovider -m gpu $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) -m benchmarks.bench_models --models unet-bn,vgg16-unet-bn --batch-sizes 1,8 --repeats 2
	QT_QPA_PLATFORM=offscreen $(PY) -m benchmarks.bench_brush
	QT_QPA_PLATFORM=offscreen $(PY) -m benchmarks.bench_file_list
	QT_QPA_PLATFORM=offscreen $(PY) -m benchmarks.bench_prefill

screenshot: $(STAMP)
	bash packaging/screenshot.sh

bundle: $(STAMP)
	$(PY) -m pip install -q pyinstaller
	$(PY) -m PyInstaller --noconfirm --distpath dist --workpath build/pyinstaller packaging/pyinstaller/segstudio.spec

clean-venv:
	rm -rf $(VENV) $(DM_VENV)
