#!/usr/bin/env bash
# Re-run every committed report at one commit, on this machine, with one
# command: the study's training and sweep (with scikit-learn measured by
# baselines/sklearn_sweep.py), the forest against its peers, the Python
# package, boosted trees (XGBoost, LightGBM, HistGradientBoosting) against
# their peers, serving against FastAPI, and the CNN ensemble against
# TensorFlow; then README's table of figures from those reports.
#
#   bash tools/regenerate-reports.sh          # ~65-75 min on a 2-core machine
#   QUICK=1 bash tools/regenerate-reports.sh  # a few minutes, into a temporary folder: checks the pipeline
#
# Sizes are short but honest: every figure is a median over interleaved
# rounds on this machine, and each report says its sizes, commit, date, CPU
# and ISA. Run it on a quiet machine (nothing else compiling or measuring),
# from a clean tree: the reports are stamped with the commit they measured.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then R=${REPORTS:-$(mktemp -d)}; else R=reports; fi

if [ "$QUICK" != 1 ] && [ -n "$(git status --porcelain -- src Cargo.toml Cargo.lock baselines tools python)" ]; then
    echo "error: uncommitted changes in src/, baselines/, tools/ or python/: commit first, the reports are stamped with the commit" >&2
    exit 2
fi

if [ "$QUICK" = 1 ]; then
    SWEEP_ROWS=10..1e4; SWEEP_MIN=20ms; PEER_ROWS=2e4; PEER_ROUNDS=1; PY_ROWS=2e4; PY_ROUNDS=2
    DASK_ROWS=2e5; RAY_ROWS=1e5; CLUSTER_ROUNDS=1
    GBDT_ROWS=2e4; GBDT_SMALL_ROWS=2e3; GBDT_TREES=20
    STEP=0.3s; WARMUP=0.1s; CONNS=16; CNN_IMAGES=64; CNN_TRAIN=64; CNN_REPEATS=1
else
    SWEEP_ROWS=10..1e6; SWEEP_MIN=200ms; PEER_ROWS=1e6; PEER_ROUNDS=3; PY_ROWS=1e6; PY_ROUNDS=5
    DASK_ROWS=1e7; RAY_ROWS=1e6; CLUSTER_ROUNDS=6
    GBDT_ROWS=1e6; GBDT_SMALL_ROWS=1e5; GBDT_TREES=300
    STEP=1s; WARMUP=0.5s; CONNS=128; CNN_IMAGES=2000; CNN_TRAIN=2000; CNN_REPEATS=2
fi

echo "== building cpuwall (release)"
cargo build --release --quiet
cw=${CARGO_TARGET_DIR:-$PWD/target}/release/cpuwall

venv=${VENV:-target/report-venv}
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
echo "== Python peers into $venv"
"$venv/bin/pip" install -q --disable-pip-version-check scikit-learn joblib numpy psutil onnxruntime skl2onnx \
    tl2cgen treelite fastapi uvicorn tensorflow-cpu xgboost-cpu lightgbm onnxmltools threadpoolctl "llvmlite<0.45" lleaves \
    "dask[dataframe]==2026.11.0" "distributed==2026.11.0" "ray[data]==2.60.0"
venv=$(cd "$venv" && pwd)
py=$venv/bin/python

echo "== the Python package, built into $venv (release)"
"$venv/bin/pip" install -q --disable-pip-version-check maturin
(cd python && VIRTUAL_ENV="$venv" "$venv/bin/maturin" develop --release -q)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
started=$(date +%s)
step() { echo "== [$(( $(date +%s) - started ))s] $*"; }

# 1. The study: training report, scikit-learn's sweep, cpuwall's sweep of
#    the same models, and the report that sets them side by side.
step "training (the study's data and grids)"
mkdir -p $R/sklearn-study
(cd "$work" && "$cw" train --out models >/dev/null)
cp "$work/models/training-report.md" $R/sklearn-study/training.md

step "scikit-learn's sweep ($SWEEP_ROWS rows)"
"$py" baselines/sklearn_sweep.py --rows "$SWEEP_ROWS" --min-time "${SWEEP_MIN%ms}e-3" \
    --out $R/sklearn-study/sklearn_sweep.csv >"$work/sk.log" 2>&1 || { tail -30 "$work/sk.log"; exit 1; }
step "cpuwall's sweep ($SWEEP_ROWS rows)"
"$cw" sweep --models nb,lr,svc,rf --rows "$SWEEP_ROWS" --min-time "$SWEEP_MIN" \
    --models-dir "$work/models" --out $R/sklearn-study/sweep.json >/dev/null 2>"$work/sweep.log" \
    || { tail -30 "$work/sweep.log"; exit 1; }
"$cw" report $R/sklearn-study/sweep.json --baseline $R/sklearn-study/sklearn_sweep.csv \
    -o $R/sklearn-study/sweep.md >/dev/null

# 2. The forest against scikit-learn, ONNX Runtime and TL2cgen.
step "forest peers ($PEER_ROWS rows, $PEER_ROUNDS rounds)"
"$py" baselines/forest_peers.py --cpuwall "$cw" --features 10 --classes 2 --rows "$PEER_ROWS" \
    --rounds "$PEER_ROUNDS" --out-dir $R/forest-peers >>"$work/peers.log" 2>&1 || { tail -30 "$work/peers.log"; exit 1; }
"$py" baselines/forest_peers.py --cpuwall "$cw" --features 10 --classes 2 --rows "$PEER_ROWS" \
    --rounds "$PEER_ROUNDS" --proba --out-dir $R/forest-peers >>"$work/peers.log" 2>&1 || { tail -30 "$work/peers.log"; exit 1; }
"$py" baselines/forest_peers.py --cpuwall "$cw" --features 40 --classes 4 --rows "$PEER_ROWS" \
    --rounds "$(( PEER_ROUNDS > 2 ? 2 : PEER_ROUNDS ))" --out-dir $R/forest-peers >>"$work/peers.log" 2>&1 || { tail -30 "$work/peers.log"; exit 1; }

# 2b. Boosted trees: one model per library against its own predict, ONNX
#     Runtime, TL2cgen and lleaves; binary at full size, then 10% NaN and 4
#     classes on fewer rows (4 classes: 1,200 trees).
step "boosted trees ($GBDT_ROWS rows, $GBDT_TREES rounds)"
for lib in xgboost lightgbm hist_gradient_boosting; do
    for shape in "--classes 2 --rows $GBDT_ROWS" "--classes 2 --nan 0.1 --rows $GBDT_SMALL_ROWS" \
                 "--classes 4 --rows $GBDT_SMALL_ROWS"; do
        # shellcheck disable=SC2086
        "$py" baselines/gbdt_peers.py --cpuwall "$cw" --library $lib $shape --rounds-trees "$GBDT_TREES" \
            --rounds "$PEER_ROUNDS" --out-dir $R/gbdt-peers >>"$work/gbdt.log" 2>&1 || { tail -30 "$work/gbdt.log"; exit 1; }
    done
done

# 3. The Python package against scikit-learn, in one process.
step "Python package ($PY_ROWS rows, $PY_ROUNDS rounds)"
mkdir -p $R/python
"$py" baselines/python_predict.py --rows "$PY_ROWS" --rounds "$PY_ROUNDS" --cpuwall "$cw" \
    --out $R/python/results.json >$R/python/predict.md

# 3b. Regressors (linear and forest) against scikit-learn's predict, one core.
step "regressors ($PY_ROWS rows)"
"$py" baselines/regression_peers.py --rows "$PY_ROWS" --out $R/regression-peers.md >"$work/regression.log" 2>&1 \
    || { tail -30 "$work/regression.log"; exit 1; }

# 3c. On a cluster: Dask (LocalCluster, Parquet) and Ray Data (actor pool).
step "Dask ($DASK_ROWS rows) and Ray ($RAY_ROWS rows)"
"$py" baselines/dask_predict.py --rows "$DASK_ROWS" --rounds "$CLUSTER_ROUNDS" --out $R/dask/predict.md \
    >"$work/dask.log" 2>&1 || { tail -30 "$work/dask.log"; exit 1; }
"$py" baselines/ray_predict.py --rows "$RAY_ROWS" --rounds "$CLUSTER_ROUNDS" --out $R/ray/predict.md \
    >"$work/ray.log" 2>&1 || { tail -30 "$work/ray.log"; exit 1; }

# 4. Serving: cpuwall serve (native and v2) against FastAPI + scikit-learn.
step "serving (steps of $STEP)"
PYTHON="$py" CPUWALL="$cw" STEP="$STEP" WARMUP="$WARMUP" CONNS="$CONNS" OUT="$R/serving" \
    bash baselines/serving.sh >"$work/serving.log" 2>&1 || { tail -30 "$work/serving.log"; exit 1; }

# 5. The CNN ensemble's strategies against TensorFlow's.
step "CNN ensemble ($CNN_IMAGES images)"
mkdir -p $R/cnn-study
"$py" baselines/keras_ensembles.py --images "$CNN_IMAGES" --train-images "$CNN_TRAIN" \
    --repeats "$CNN_REPEATS" --out $R/cnn-study/tensorflow.json 2>"$work/tf.log" \
    || { tail -20 "$work/tf.log"; exit 1; }
"$cw" ensemble train --synthetic "$CNN_TRAIN" --out "$work/ensemble" >/dev/null 2>&1
"$cw" ensemble bench --models "$work/ensemble" --images "$CNN_IMAGES" --repeat "$CNN_REPEATS" \
    --out $R/cnn-study/results.json >/dev/null
"$cw" ensemble report --results $R/cnn-study/results.json --tensorflow $R/cnn-study/tensorflow.json \
    --out $R/cnn-study/report.md >/dev/null

# 6. README's table, from the reports just written.
if [ "$QUICK" = 1 ]; then
    step "done (quick): reports in $R, README left as it is"
    exit 0
fi
step "README's figures"
"$py" tools/readme_figures.py README.md

step "done: every report regenerated at $(git rev-parse --short=12 HEAD)"
