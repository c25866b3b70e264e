#!/usr/bin/env bash
# The Python package's tests: a venv (target/ci-venv unless VENV is set)
# with maturin, pytest, scikit-learn, pandas, skl2onnx, xgboost-cpu and
# lightgbm (the boosted-tree parity tests); the package built
# into it (`maturin develop`, the dev profile cargo test already built:
# opt-level 2, seconds on top of it); then pytest over python/tests, which
# also runs the CLI (target/debug/cpuwall unless CPUWALL is set).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${VENV:-target/ci-venv}
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install -q --disable-pip-version-check maturin pytest scikit-learn pandas joblib skl2onnx onnxruntime xgboost-cpu lightgbm onnxmltools
[ -x "${CPUWALL:-target/debug/cpuwall}" ] || cargo build -q
venv_abs=$(cd "$venv" && pwd)
(cd python && VIRTUAL_ENV="$venv_abs" "$venv_abs/bin/maturin" develop --profile dev -q)
CPUWALL=${CPUWALL:-$PWD/target/debug/cpuwall} "$venv/bin/python" -m pytest -q python/tests
