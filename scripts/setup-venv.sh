#!/bin/sh
# A virtual environment of the project's own (.venv) with the Python peers
# and loaders used by benchmarks and loader tests: zipnn, safetensors, numpy,
# ml_dtypes. Needs network access to PyPI.
set -eu
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check "$@" \
    numpy safetensors ml_dtypes zipnn
