#!/usr/bin/env bash
# The Python package as a user without Rust gets it: one abi3 wheel
# (`maturin build --release`, stripped, its manylinux tag checked by
# auditwheel), installed into a fresh venv whose PATH has no cargo or rustc,
# and the pytest suite run against that installed wheel, from outside the
# source tree. The build venv (VENV, default target/ci-venv) gets the same
# wheel, for the baselines .ci/run runs after this. The tests also run the
# CLI (target/debug/cpuwall unless CPUWALL is set).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
venv=${VENV:-target/ci-venv}
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
venv=$(cd "$venv" && pwd)
# What the tests import: scikit-learn and the boosted libraries (parity),
# skl2onnx/onnxruntime (ONNX), scipy (sparse input), psutil (cpuwall.study),
# dask + distributed at matching versions (cpuwall.dask on a LocalCluster).
test_deps=(pytest scikit-learn pandas joblib scipy psutil skl2onnx onnxruntime xgboost-cpu lightgbm onnxmltools
    "dask[dataframe]==2026.11.0" "distributed==2026.11.0")
"$venv/bin/pip" install -q --disable-pip-version-check maturin auditwheel "${test_deps[@]}"
[ -x "${CPUWALL:-target/debug/cpuwall}" ] || cargo build -q
cli=${CPUWALL:-$repo/target/debug/cpuwall}

echo "-- maturin build --release (the wheel)"
rm -rf target/wheels
started=$(date +%s)
(cd python && "$venv/bin/maturin" build --release -q -o "$repo/target/wheels")
wheel=$(ls target/wheels/cpuwall-*-cp39-abi3-*.whl)
echo "$(basename "$wheel"): built in $(( $(date +%s) - started )) s, $(du -k "$wheel" | cut -f1) KiB"
"$venv/bin/auditwheel" show "$wheel" >target/wheels/auditwheel.txt
grep -q 'consistent with\|platform tag' target/wheels/auditwheel.txt
grep -Eo '"manylinux_[0-9]+_[0-9]+_x86_64"' target/wheels/auditwheel.txt \
    || { cat target/wheels/auditwheel.txt; echo "the wheel is not manylinux"; exit 1; }
# Stripped: the release profile's line tables stay out of the extension.
so_kib=$("$venv/bin/python" -c 'import sys, zipfile
print(sum(i.file_size for i in zipfile.ZipFile(sys.argv[1]).infolist() if i.filename.endswith("_native.abi3.so")) // 1024)' "$wheel")
[ "$so_kib" -gt 0 ] && [ "$so_kib" -lt 10240 ] || { echo "the extension is $so_kib KiB: missing, or not stripped?"; exit 1; }
echo "the extension: $so_kib KiB"
"$venv/bin/pip" install -q --disable-pip-version-check --force-reinstall --no-deps "$wheel"

echo "-- a fresh venv without Rust: pip install the wheel, pytest against it"
tv=$repo/target/wheel-venv
rm -rf "$tv"
python3 -m venv "$tv"
"$tv/bin/pip" install -q --disable-pip-version-check "$wheel" "${test_deps[@]}"
# PATH without any directory that holds cargo or rustc.
clean=$tv/bin
IFS=: read -ra dirs <<<"$PATH"
for d in "${dirs[@]}"; do
    [ -e "$d/cargo" ] || [ -e "$d/rustc" ] || clean=$clean:$d
done
away=$(mktemp -d)
trap 'rm -rf "$away"' EXIT
cd "$away"
env PATH="$clean" "$tv/bin/python" - <<'PY'
import shutil, cpuwall
assert shutil.which("cargo") is None and shutil.which("rustc") is None, "Rust is on PATH"
assert "site-packages" in cpuwall.__file__, cpuwall.__file__
print(f"cpuwall {cpuwall.__version__} from {cpuwall.__file__}, ISA {cpuwall.isa()}, no cargo or rustc on PATH")
PY
env PATH="$clean" CPUWALL="$cli" "$tv/bin/python" -m pytest -q -p no:cacheprovider "$repo/python/tests"
