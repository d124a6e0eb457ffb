#!/usr/bin/env bash
# Set up shelfwise on a fresh machine: a virtual environment in .venv with everything installed.
#   bash scripts/setup.sh          the package and its runtime dependencies
#   bash scripts/setup.sh --dev    also the test tools and the optional Spark extra
# torch comes from the CPU build pinned in pyproject.toml (torch==2.13.0), never a CUDA download.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
extras=""
if [ "${1:-}" = "--dev" ]; then
  extras="[dev,spark]"  # the Spark engine tests run in CI (local mode, Java 17)
fi
.venv/bin/python -m pip install --quiet -e ".${extras}"
if [ "${1:-}" = "--dev" ] && [ ! -x /usr/bin/chromium ]; then
  # headless Chromium for the dashboard's browser tests, from Debian's packages (they skip without it)
  bash scripts/browser.sh || echo "WARNING: scripts/browser.sh could not install chromium; the dashboard's browser tests will skip" >&2
fi
.venv/bin/python -c "import torch, shelfwise; assert not torch.version.cuda, 'a CUDA build of torch was installed'; print('shelfwise', shelfwise.__version__, 'torch', torch.__version__)"
