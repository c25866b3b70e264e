#!/usr/bin/env bash
# Reproduce reports/serving.md on this machine: the same scikit-learn models
# (nb, lr, rf fitted on the study's data) served by cpuwall (imported through
# tools/export_sklearn.py) and by FastAPI + uvicorn (baselines/sklearn_server.py),
# each measured by `cpuwall load` with the load generator on the same machine.
#
#   bash baselines/serving.sh            # python3 with scikit-learn, joblib, fastapi, uvicorn
#   PYTHON=/path/to/venv/bin/python STEP=3s bash baselines/serving.sh
#   (CPUWALL=path/to/cpuwall skips the release build; OUT=dir writes elsewhere)
#
# Writes reports/serving/*.json (every run) and reports/serving.md + plots.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
STEP=${STEP:-3s}          # measured time per rate step
CONNS=${CONNS:-128}       # open-loop connections (most requests in flight)
WARMUP=${WARMUP:-1s}      # load sent before each measured step
OUT=${OUT:-reports/serving}
if [ -z "${CPUWALL:-}" ]; then
  CPUWALL=target/release/cpuwall
  cargo build --release --quiet
fi
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
mkdir -p "$OUT"
rm -f "$OUT"/*.json

"$PY" baselines/sklearn_server.py train "$WORK/sk"
for m in nb lr rf; do
  "$PY" tools/export_sklearn.py "$WORK/sk/$m.joblib" "$WORK/$m.json"
  "$CPUWALL" import "$WORK/$m.json" --out "$WORK/$m.cpuwall" 2>/dev/null
done
MODELS="nb=$WORK/nb.cpuwall,lr=$WORK/lr.cpuwall,rf=$WORK/rf.cpuwall"

wait_up() { for _ in $(seq 100); do curl -sf "$1/health" >/dev/null && return 0; sleep 0.2; done; echo "server at $1 did not start" >&2; exit 1; }

# cpuwall, one configuration: name, then serve options.
cpuwall_server() {
  local name=$1; shift
  "$CPUWALL" serve --model "$MODELS" --port 8090 "$@" 2>"$WORK/serve-$name.log" &
  local pid=$!; PIDS+=("$pid")
  wait_up http://127.0.0.1:8090
  for m in nb lr rf; do
    "$CPUWALL" load --url http://127.0.0.1:8090 --model "$m" --find-max --p99 10ms --rate 5000 \
      --connections "$CONNS" --duration "$STEP" --warmup "$WARMUP" --label "cpuwall $name" --out "$OUT/cpuwall-$name-$m.json" >/dev/null
    if [ "$name" = batching ]; then
      "$CPUWALL" load --url http://127.0.0.1:8090 --model "$m" --concurrency 1 --duration "$STEP" --warmup "$WARMUP" \
        --label "cpuwall $name" --out "$OUT/cpuwall-$name-$m-1conn.json" >/dev/null
      # The same server through the Open Inference Protocol (KServe v2 JSON).
      "$CPUWALL" load --protocol v2 --url http://127.0.0.1:8090 --model "$m" --find-max --p99 10ms --rate 5000 \
        --connections "$CONNS" --duration "$STEP" --warmup "$WARMUP" --label "cpuwall $name" --out "$OUT/cpuwall-$name-v2-$m.json" >/dev/null
      "$CPUWALL" load --protocol v2 --url http://127.0.0.1:8090 --model "$m" --concurrency 1 --duration "$STEP" --warmup "$WARMUP" \
        --label "cpuwall $name" --out "$OUT/cpuwall-$name-v2-$m-1conn.json" >/dev/null
    fi
  done
  kill -TERM "$pid"; wait "$pid" || true
}

# The load generator takes one core; one thread answering connections leaves
# the other to the server (two threads ping-pong on two cores; both are shown).
cpuwall_server batching --io-threads 1
cpuwall_server no-batching --io-threads 1 --max-batch 1
cpuwall_server batching-2-threads

# The baseline: 2 uvicorn workers, measured at a 10x looser p99.
"$PY" baselines/sklearn_server.py serve "$WORK/sk" --port 8081 --workers 2 &
BPID=$!; PIDS+=("$BPID")
wait_up http://127.0.0.1:8081
for m in nb lr rf; do
  "$CPUWALL" load --url http://127.0.0.1:8081 --model "$m" --find-max --p99 100ms --rate 100 \
    --connections "$CONNS" --duration "$STEP" --warmup "$WARMUP" --server-pid "$BPID" \
    --label "FastAPI + scikit-learn (uvicorn, 2 workers)" --out "$OUT/fastapi-$m.json" >/dev/null
  "$CPUWALL" load --url http://127.0.0.1:8081 --model "$m" --concurrency 1 --duration "$STEP" --warmup "$WARMUP" \
    --server-pid "$BPID" --label "FastAPI + scikit-learn (uvicorn, 2 workers)" \
    --out "$OUT/fastapi-$m-1conn.json" >/dev/null
done
kill -TERM "$BPID"; wait "$BPID" || true

"$CPUWALL" report "$OUT"/*.json -o "$OUT.md"
