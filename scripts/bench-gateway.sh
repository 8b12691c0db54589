#!/usr/bin/env bash
# Gateway overhead at fixed rates: oha (cargo install --locked oha) with --latency-correction
# against (1) the fake member directly, (2) selectllm serve in passthrough mode, (3) selectllm
# serve with a lexical checkpoint and s=3 fan-out (maxconf:3) over three instant fake members
# (one fake process), (4) the LiteLLM proxy (PyPI litellm[proxy], pinned, in a venv under
# target/) passing through to the same fake member. Added latency = proxy percentile minus
# direct percentile at the same rate, every row measured in the same run.
#
# usage: scripts/bench-gateway.sh [RATES...]     default rates: 500 1000 2000
# env:   CLASSIFIER lexical (default) or minilm: the checkpoint's classifier (minilm also
#          prints `selectllm bench route` for it: the classifier's own time, one question and
#          batched); the gateway's RSS (now and peak) is printed at the end either way,
#        DURATION (default 10s), REPEAT (default 1: each rate's runs this many times, the rates
#          taken in turn, then the spread of the added p99 over the repeats), SELECTLLM_BIN (default: cargo build --release),
#        LITELLM_VERSION (default 1.108.7; LITELLM=0 skips it),
#        BATCH_WAIT_MS (the gateway's router.batch_wait_ms; default: the gateway's default),
#        ENCODER_PRECISION (router.encoder_precision, f32 or int8; default f32),
#        INLINE_MAX_US (router.inline_max_us; 0 sends every question through the classifier
#          thread's queue; default: the gateway's default),
#        PROBE (1: after each rate's oha runs, scripts/timing-probe.py sends the same load, one
#          request at a time, to the fake member and to the fan-out, and reads each answer's
#          Server-Timing: the added latency beyond each request's own classifier wait, per
#          request; default 1 with CLASSIFIER=minilm, else 0),
#        STREAM (1, the default: after the load, scripts/stream-probe.py times STREAM_N (300)
#          streamed answers one at a time, passthrough and s=3, to the first event and the end),
#        RUNTIMES (server.runtimes: 0, the default, one runtime with a worker per core; N: N
#          single-threaded runtimes),
#        GATEWAY_ENV (extra VAR=VALUE words for the gateway's environment only, e.g.
#          GATEWAY_ENV="TOKIO_WORKER_THREADS=1")
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
RATES=("${@:-500 1000 2000}")
read -r -a RATES <<<"${RATES[*]}"
DURATION=${DURATION:-10s}
REPEAT=${REPEAT:-1}
WORK=${CARGO_TARGET_DIR:-$ROOT/target}/bench-gateway
mkdir -p "$WORK"
rm -f "$WORK"/*-[0-9]*.json # figures of an earlier run must not enter this run's summary
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

command -v oha >/dev/null || cargo install --locked oha
LITELLM=${LITELLM:-1}
LITELLM_VERSION=${LITELLM_VERSION:-1.108.7}
LVENV=$WORK/litellm-venv
if [ "$LITELLM" = 1 ] && ! "$LVENV/bin/python" -c "import litellm" 2>/dev/null; then
  python3 -m venv "$LVENV"
  "$LVENV/bin/pip" install --quiet --disable-pip-version-check "litellm[proxy]==$LITELLM_VERSION"
fi
if [ -z "${SELECTLLM_BIN:-}" ]; then
  cargo build --release --quiet -p selectllm
  SELECTLLM_BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/selectllm
fi
CLASSIFIER=${CLASSIFIER:-lexical}
if [ "$CLASSIFIER" = lexical ]; then PROBE=${PROBE:-0}; else PROBE=${PROBE:-1}; fi
QUESTION="Natalia sold clips to 48 of her friends in April, and then half as many clips in May. How many clips did Natalia sell altogether?"
CKPT=$WORK/ckpt-local-3-gsm8k-$CLASSIFIER
[ -f "$CKPT/manifest.json" ] || "$SELECTLLM_BIN" train --dataset local-3-gsm8k --classifier "$CLASSIFIER" --out "$CKPT" >/dev/null

"$SELECTLLM_BIN" fake-server >"$WORK/fake.url" &
PIDS+=($!)
for _ in $(seq 300); do [ -s "$WORK/fake.url" ] && break; sleep 0.1; done
FAKE=$(head -1 "$WORK/fake.url")
[ -n "$FAKE" ] || { echo "the fake member did not start within 30 s"; exit 1; }

CONF=$WORK/gateway.toml
{
  printf '[server]\nlisten = "127.0.0.1:0"\nmax_in_flight = 100000\nruntimes = %s\n' "${RUNTIMES:-0}"
  printf '\n[router]\ncheckpoint = "%s"\npolicy = "maxconf:3"\ntask = "gsm8k"\n' "$CKPT"
  [ -z "${BATCH_WAIT_MS:-}" ] || printf 'batch_wait_ms = %s\n' "$BATCH_WAIT_MS"
  [ -z "${INLINE_MAX_US:-}" ] || printf 'inline_max_us = %s\n' "$INLINE_MAX_US"
  printf 'encoder_precision = "%s"\n' "${ENCODER_PRECISION:-f32}"
  for m in smollm2-135m qwen2.5-coder-0.5b qwen2.5-coder-1.5b; do
    printf '\n[[member]]\nname = "%s"\nbase_url = "%s"\nmodel = "%s"\nprompt = "chat-cot"\nmax_concurrency = 1024\nretries = 0\n' "$m" "$FAKE" "$m"
  done
} >"$CONF"
env ${GATEWAY_ENV:-} "$SELECTLLM_BIN" serve --config "$CONF" 2>"$WORK/serve.log" &
SERVE=$!
PIDS+=($SERVE)
ADDR=
for _ in $(seq 100); do
  ADDR=$(sed -n 's/.*listening on \(http:\/\/[0-9.:]*\).*/\1/p' "$WORK/serve.log" | head -1)
  [ -n "$ADDR" ] && break; sleep 0.1
done
[ -n "$ADDR" ] || { cat "$WORK/serve.log"; exit 1; }

LITE=
if [ "$LITELLM" = 1 ]; then
  LPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  printf 'model_list:\n  - model_name: smollm2-135m\n    litellm_params:\n      model: openai/smollm2-135m\n      api_base: %s\n      api_key: none\nlitellm_settings:\n  telemetry: false\n' "$FAKE" >"$WORK/litellm.yaml"
  # a local key (LiteLLM refuses to start without one); no network: the bundled cost map
  LITELLM_MASTER_KEY=sk-bench-local-0123456789abcdef LITELLM_LOCAL_MODEL_COST_MAP=True LITELLM_LOG=ERROR \
    "$LVENV/bin/litellm" --config "$WORK/litellm.yaml" --host 127.0.0.1 --port "$LPORT" --num_workers 1 >"$WORK/litellm.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 300); do curl -sf "127.0.0.1:$LPORT/health/liveliness" >/dev/null && break; sleep 0.2; done
  LITE=http://127.0.0.1:$LPORT
fi

body() { printf '{"model":"%s","messages":[{"role":"user","content":"%s"}]}' "$1" "$QUESTION"; }
run() { # run NAME URL MODEL RATE  (figures in $WORK/NAME-$key.json; key: the rate, .N on repeat N)
  oha --no-tui --output-format json -z "$DURATION" -q "$4" --latency-correction -c 256 \
    -m POST -H 'content-type: application/json' -H 'authorization: Bearer sk-bench-local-0123456789abcdef' \
    -d "$(body "$3")" "$2" >"$WORK/$1-$key.json"
  python3 - "$WORK/$1-$key.json" "$1" "$key" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); p = r["latencyPercentiles"]; s = r["summary"]
codes = r.get("statusCodeDistribution", {})
print(f'{sys.argv[2]:<12} rate {sys.argv[3]:>5}/s  achieved {s["requestsPerSec"]:8.1f}/s  p50 {p["p50"]*1e3:7.3f} ms  p99 {p["p99"]*1e3:7.3f} ms  statuses {codes}')
PY
}
rss() { awk -v k="$1" '$1 == k":" {printf "%.0f MB", $2 / 1024}' "/proc/$SERVE/status"; }
echo "fake member: $FAKE   gateway: $ADDR ($CLASSIFIER classifier, encoder ${ENCODER_PRECISION:-f32})   litellm: ${LITE:-skipped}   duration $DURATION per run; $(nproc) cores, shared"
echo "gateway RSS after start: $(rss VmRSS)"
if [ "$CLASSIFIER" != lexical ]; then
  "$SELECTLLM_BIN" bench route --checkpoint "$CKPT" --dataset local-3-gsm8k --n 60 \
    --encoder-precision "${ENCODER_PRECISION:-f32}"
  # the classifier alone on the question the load sends (its p50 / p99 one at a time)
  "$SELECTLLM_BIN" bench route --checkpoint "$CKPT" --dataset local-3-gsm8k --n 200 \
    --encoder-precision "${ENCODER_PRECISION:-f32}" --question "$QUESTION"
fi
busy() { curl -sf "$ADDR/metrics" | awk '$1 == "selectllm_classifier_busy_seconds_total" {print $2}'; }
# a histogram's buckets now (le count per line), to diff around a run: buckets METRIC
buckets() { curl -sf "$ADDR/metrics" | sed -n "s/^$1_bucket{le=\"\([^\"]*\)\"} \([0-9]*\)\$/\1 \2/p"; }
waits() { buckets selectllm_classifier_wait_seconds; }
# p50 / p99 of a run's observations: quantiles BEFORE_FILE AFTER_FILE RATE LABEL NAME
# (the figures go to $WORK/NAME-RATE.json)
quantiles() {
  python3 - "$1" "$2" "$3" "$WORK" "$4" "$5" <<'PY'
import json, sys
def read(f):
    return [(float("inf") if b == "+Inf" else float(b), int(c)) for b, c in (l.split() for l in open(f))]
before, after = read(sys.argv[1]), read(sys.argv[2])
cum = [(b, a - c) for (b, a), (_, c) in zip(after, before)]
n = cum[-1][1]
def q(p):  # linear within the bucket, as Prometheus' histogram_quantile
    rank, lo, prev = p * n, 0.0, 0
    for b, c in cum:
        if c >= rank and c > prev:
            return (lo + (b - lo) * (rank - prev) / (c - prev)) if b != float("inf") else lo
        lo, prev = b, c
    return lo
if n:
    p50, p99 = q(0.5) * 1e3, q(0.99) * 1e3
    print(f"             {sys.argv[5]} p50 {p50:.2f} ms  p99 {p99:.2f} ms over {n} requests")
    json.dump({"p50": p50, "p99": p99}, open(f"{sys.argv[4]}/{sys.argv[6]}-{sys.argv[3]}.json", "w"))
PY
}
KEYS=()
for rep in $(seq "$REPEAT"); do
for rate in "${RATES[@]}"; do
  key=$rate; [ "$rep" = 1 ] || key=$rate.$rep
  KEYS+=("$key")
  run direct "$FAKE/chat/completions" smollm2-135m "$rate"
  run passthrough "$ADDR/v1/chat/completions" smollm2-135m "$rate"
  b0=$(busy); t0=$(date +%s.%N); waits >"$WORK/waits-before"
  buckets selectllm_gateway_overhead_seconds >"$WORK/own-before"
  run fanout3 "$ADDR/v1/chat/completions" selectllm/auto "$rate"
  b1=$(busy); t1=$(date +%s.%N); waits >"$WORK/waits-after"
  buckets selectllm_gateway_overhead_seconds >"$WORK/own-after"
  quantiles "$WORK/waits-before" "$WORK/waits-after" "$key" "classifier wait (gateway histogram)" wait
  quantiles "$WORK/own-before" "$WORK/own-after" "$key" "gateway's own time (overhead histogram: less the classifier and member waits)" own
  echo "             $(curl -sf "$ADDR/metrics" | awk '$1 == "selectllm_classifier_inline_total" {print $2}') questions so far classified on the request's own thread (router.inline_max_us)"
  echo "             classifier busy $(python3 -c "print(f'{($b1 - $b0) / ($t1 - $t0) * 100:.0f}')")% of the fanout3 run's wall time"
  [ -z "$LITE" ] || run litellm "$LITE/v1/chat/completions" smollm2-135m "$rate"
  if [ "$PROBE" = 1 ]; then
    secs=${DURATION%s}
    python3 scripts/timing-probe.py "$FAKE/chat/completions" "$(body smollm2-135m)" "$rate" "$secs" \
      --out "$WORK/probe-direct-$key.json" >/dev/null
    python3 scripts/timing-probe.py "$ADDR/v1/chat/completions" "$(body selectllm/auto)" "$rate" "$secs" \
      --out "$WORK/probe-fanout3-$key.json" >/dev/null
    python3 - "$WORK" "$key" <<'PY'
import json, sys
d = json.load(open(f"{sys.argv[1]}/probe-direct-{sys.argv[2]}.json"))
f = json.load(open(f"{sys.argv[1]}/probe-fanout3-{sys.argv[2]}.json"))
b, c, dl = f["latency_minus_classify_ms"], f["classify_ms"], d["latency_ms"]
print(f"probe        rate {sys.argv[2]:>5}/s  direct p50 {dl['p50']:.3f} / p99 {dl['p99']:.3f} ms;  fanout3 classify p50 {c['p50']:.2f} / p99 {c['p99']:.2f} ms;"
      f"  fanout3 latency minus its own classify, per request: p50 {b['p50']:.3f} / p99 {b['p99']:.3f} ms"
      f"  -> beyond the direct call p99 {b['p99'] - dl['p99']:.3f} ms  statuses {f['statuses']}")
m, g = f["members_ms"], f["gateway_ms"]
print(f"             probe's Server-Timing: members p50 {m['p50']:.3f} / p99 {m['p99']:.3f} ms, gateway's own p50 {g['p50']:.3f} / p99 {g['p99']:.3f} ms")
PY
  fi
done
done

echo "gateway RSS at the end: $(rss VmRSS), peak $(rss VmHWM)"

# streamed answers one at a time: passthrough (the member's events relayed as they come) and
# the s=3 vote (then the winner's events): time to the first event and to the end
if [ "${STREAM:-1}" = 1 ]; then
  for m in smollm2-135m selectllm/auto; do
    python3 scripts/stream-probe.py "$ADDR/v1/chat/completions" "$m" "${STREAM_N:-300}" "$QUESTION"
  done
fi

# added latency over the direct call at the same rate, and LiteLLM's over our passthrough's
python3 - "$WORK" "${KEYS[@]}" <<'PY'
import json, os, sys
work, rates = sys.argv[1], sys.argv[2:]
def pct(name, rate):
    f = os.path.join(work, f"{name}-{rate}.json")
    if not os.path.exists(f):
        return None
    r = json.load(open(f)); p = r["latencyPercentiles"]
    return p["p50"] * 1e3, p["p99"] * 1e3, r["summary"]["requestsPerSec"]
print("added latency over direct (ms), p50 / p99; achieved rate")
for rate in rates:
    d = pct("direct", rate)
    cells = []
    for name in ["passthrough", "fanout3", "litellm"]:
        x = pct(name, rate)
        if x and d:
            cells.append(f"{name} {x[0]-d[0]:7.3f} / {x[1]-d[1]:7.3f} ({x[2]:.0f}/s)")
    print(f"rate {rate:>5}/s: " + "   ".join(cells))
    w, f = os.path.join(work, f"wait-{rate}.json"), pct("fanout3", rate)
    if os.path.exists(w) and f and d:
        w = json.load(open(w))
        print(f"           fanout3 added minus the classifier wait: p50 {f[0]-d[0]-w['p50']:.2f} ms, p99 {f[1]-d[1]-w['p99']:.2f} ms (percentiles subtracted, an approximation)")
    o = os.path.join(work, f"own-{rate}.json")
    if os.path.exists(o):
        o = json.load(open(o))
        print(f"           fanout3 gateway's own time per request (less its classifier and member waits): p50 {o['p50']:.2f} ms, p99 {o['p99']:.2f} ms")
    p, l = pct("passthrough", rate), pct("litellm", rate)
    if p and l and d and p[1] - d[1] > 0:
        print(f"           litellm / passthrough added p99: {(l[1]-d[1]) / (p[1]-d[1]):.1f}x")
PY

# with REPEAT > 1: each rate's added p99 over its repeats (min / median / max)
[ "$REPEAT" = 1 ] || python3 - "$WORK" "$REPEAT" "${RATES[@]}" <<'PY'
import json, os, statistics, sys
work, repeat, rates = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
def p99(name, key):
    f = os.path.join(work, f"{name}-{key}.json")
    return json.load(open(f))["latencyPercentiles"]["p99"] * 1e3 if os.path.exists(f) else None
print(f"added p99 over direct (ms) across {repeat} repeats: min / median / max")
for rate in rates:
    keys = [rate] + [f"{rate}.{i}" for i in range(2, repeat + 1)]
    cells = []
    for name in ["passthrough", "fanout3", "litellm"]:
        xs = [p99(name, k) - p99("direct", k) for k in keys if p99(name, k) is not None]
        if xs:
            cells.append(f"{name} {min(xs):.3f} / {statistics.median(xs):.3f} / {max(xs):.3f}"
                         f" ({sum(x <= 1.0 for x in xs)} of {len(xs)} at or under 1 ms)")
    print(f"rate {rate:>5}/s: " + "   ".join(cells))
PY
