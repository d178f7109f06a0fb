#!/usr/bin/env bash
# Serve the peer benchmark's model with modelport: register it in a fresh data directory, then serve.
#   serve_modelport.sh PORT MODEL_FILE [modelport config set options...]
# Started by peer_bench.py through --extra (see benchmarks/run.py); PORT and MODEL_FILE are its placeholders.
# MODEL_FILE is an ONNX file or a joblib/pickle file (registered with --trust: it runs code when loaded).
# MODELPORT_BENCH_SIGNATURE=FILE registers it with that signature JSON (e.g. to name a joblib model's input
# "input-0" as the peer_bench request bodies do).
set -euo pipefail
port=$1 model=$2
shift 2
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${MODELPORT_BIN:-$here/.venv/bin}
export MODELPORT_HOME=${MODELPORT_HOME:-$(mktemp -d -t modelport-bench-XXXXXX)}
export MODELPORT_GRPC__PORT=${MODELPORT_GRPC__PORT:-0}
trust=()
case $model in *.joblib | *.pkl | *.pickle) trust=(--trust) ;; esac
if [ -n "${MODELPORT_BENCH_SIGNATURE:-}" ]; then trust+=(--signature "$MODELPORT_BENCH_SIGNATURE"); fi
"$bin/modelport" register "$model" --name clf ${trust[@]+"${trust[@]}"} --json > /dev/null
if [ $# -gt 0 ]; then "$bin/modelport" config set clf "$@" > /dev/null; fi
exec "$bin/modelport" serve --host 127.0.0.1 --port "$port" --log-level warning
