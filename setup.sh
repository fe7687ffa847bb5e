#!/usr/bin/env bash
# Create .venv and install iqalign with its tests' extras. Idempotent: a rerun is quick.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
# torch is pinned to the CPU build: an unpinned `torch` pulls a multi-GB CUDA build, and
# 2.13.0 (CPU) is the release this project is tested with.
.venv/bin/pip install -q "torch==${IQALIGN_TORCH_VERSION:-2.13.0}"
.venv/bin/pip install -q -e ".[test]"
