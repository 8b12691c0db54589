#!/usr/bin/env bash
# Gateway overhead at fixed rates: oha (cargo install --locked oha) with --latency-correction
# against (1) the fake member directly, (2) selectllm serve in passthrough mode, (3) selectllm
# serve with a lexical checkpoint and s=3 fan-out (maxconf:3) over three instant fake members
# (one fake process). Added latency = gateway percentile minus direct percentile at the same rate.
#
# usage: scripts/bench-gateway.sh [RATES...]     default rates: 500 1000 2000
# env:   DURATION (default 10s), SELECTLLM_BIN (default: cargo build --release)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
RATES=("${@:-500 1000 2000}")
read -r -a RATES <<<"${RATES[*]}"
DURATION=${DURATION:-10s}
WORK=${CARGO_TARGET_DIR:-$ROOT/target}/bench-gateway
mkdir -p "$WORK"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

command -v oha >/dev/null || cargo install --locked oha
if [ -z "${SELECTLLM_BIN:-}" ]; then
  cargo build --release --quiet -p selectllm
  SELECTLLM_BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/selectllm
fi
CKPT=$WORK/ckpt-local-3-gsm8k
[ -f "$CKPT/manifest.json" ] || "$SELECTLLM_BIN" train --dataset local-3-gsm8k --classifier lexical --out "$CKPT" >/dev/null

"$SELECTLLM_BIN" fake-server >"$WORK/fake.url" &
PIDS+=($!)
for _ in $(seq 100); do [ -s "$WORK/fake.url" ] && break; sleep 0.1; done
FAKE=$(head -1 "$WORK/fake.url")

CONF=$WORK/gateway.toml
{
  printf '[server]\nlisten = "127.0.0.1:0"\nmax_in_flight = 100000\n\n[router]\ncheckpoint = "%s"\npolicy = "maxconf:3"\ntask = "gsm8k"\n' "$CKPT"
  for m in smollm2-135m qwen2.5-coder-0.5b qwen2.5-coder-1.5b; do
    printf '\n[[member]]\nname = "%s"\nbase_url = "%s"\nmodel = "%s"\nprompt = "chat-cot"\nmax_concurrency = 1024\nretries = 0\n' "$m" "$FAKE" "$m"
  done
} >"$CONF"
"$SELECTLLM_BIN" serve --config "$CONF" 2>"$WORK/serve.log" &
PIDS+=($!)
ADDR=
for _ in $(seq 100); do
  ADDR=$(sed -n 's/.*listening on \(http:\/\/[0-9.:]*\).*/\1/p' "$WORK/serve.log" | head -1)
  [ -n "$ADDR" ] && break; sleep 0.1
done
[ -n "$ADDR" ] || { cat "$WORK/serve.log"; exit 1; }

body() { printf '{"model":"%s","messages":[{"role":"user","content":"Natalia sold clips to 48 of her friends in April, and then half as many clips in May. How many clips did Natalia sell altogether?"}]}' "$1"; }
run() { # run NAME URL MODEL RATE
  oha --no-tui --output-format json -z "$DURATION" -q "$4" --latency-correction -c 256 \
    -m POST -H 'content-type: application/json' -d "$(body "$3")" "$2" >"$WORK/$1-$4.json"
  python3 - "$WORK/$1-$4.json" "$1" "$4" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); p = r["latencyPercentiles"]; s = r["summary"]
codes = r.get("statusCodeDistribution", {})
print(f'{sys.argv[2]:<12} rate {sys.argv[3]:>5}/s  achieved {s["requestsPerSec"]:8.1f}/s  p50 {p["p50"]*1e3:7.3f} ms  p99 {p["p99"]*1e3:7.3f} ms  statuses {codes}')
PY
}
echo "fake member: $FAKE   gateway: $ADDR   duration $DURATION per run; $(nproc) cores, shared"
for rate in "${RATES[@]}"; do
  run direct "$FAKE/chat/completions" smollm2-135m "$rate"
  run passthrough "$ADDR/v1/chat/completions" smollm2-135m "$rate"
  run fanout3 "$ADDR/v1/chat/completions" selectllm/auto "$rate"
done
