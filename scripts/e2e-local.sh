#!/usr/bin/env bash
# End to end with real local LLMs: start llama.cpp servers (llama-cpp-python from PyPI) on
# 127.0.0.1, collect GSM8K and MMLU answers, serve (three models only: `selectllm serve` with
# checkpoints trained on the bundled local-3 data, asked GSM8K and MMLU questions through the
# `openai` client under the configured policy, early majority and the cascade, each decision
# printed), export, train, evaluate, stop every server started.
#
# usage: scripts/e2e-local.sh               three models, 10 GSM8K + 10 MMLU questions, serve 3 + 3
#        SMALL=1 scripts/e2e-local.sh       SmolLM2-135M only, 5 + 5 questions, no serve (the CI form)
#        SKIP_COLLECT=1 scripts/e2e-local.sh  serve only
# env:   LLM_VENV    venv for llama-cpp-python   (default ../llm-venv; built on first use, 5-13 min)
#        LLM_MODELS  where the GGUF models go     (default ../llm-models; ~1.7 GB, or 98 MB with SMALL=1)
#        OUT         output folder                (default target/e2e-local)
#        N           questions per task           (default 10, or 5 with SMALL=1)
#        SELECTLLM_TOOLS  the llm-servers.sh / fetch-local-models.sh folder (default ../shared/tools)
#        SELECTLLM_BIN    a built selectllm binary (default: cargo build, then target/debug/selectllm)
#        SERVE_N          questions per task asked through the gateway (default 3)
#        SERVE_CLASSIFIER classifier of the served checkpoints (default lexical)
#        SERVE_ENCODER_PRECISION  the gateway's router.encoder_precision for a MiniLM checkpoint
#                         (f32 or int8; default f32)
#        SERVE_TASKS      tasks asked through the gateway (default "gsm8k mmlu")
#        SERVE_RUNTIMES   the gateway's server.runtimes (default 0: one multi-threaded runtime)
# If the llama.cpp servers die on their first request (a general protection fault in
# libggml-cpu, seen on an AVX-512 machine), rebuild the venv without AVX-512:
#   CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF" \
#     pip install --no-cache-dir 'llama-cpp-python[server]==0.3.36'
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SMALL=${SMALL:-0}
TOOLS=${SELECTLLM_TOOLS:-$ROOT/../shared/tools}
VENV=${LLM_VENV:-$ROOT/../llm-venv}
MODELS=${LLM_MODELS:-$ROOT/../llm-models}
OUT=${OUT:-$ROOT/target/e2e-local}
if [ "$SMALL" = 1 ]; then N=${N:-5}; else N=${N:-10}; fi
RUN=$OUT/run
cd "$ROOT" # the data folder defaults to ../shared/data from here
mkdir -p "$OUT" "$RUN"
T0=$(date +%s)
step() { # step NAME CMD...: runs CMD, prints how long it took
  local name=$1; shift; local s; s=$(date +%s)
  echo "== $name"
  "$@"
  echo "== $name: $(( $(date +%s) - s )) s"
}
stop_servers() { [ -d "$RUN" ] && bash "$TOOLS/llm-servers.sh" stop "$RUN" || true; }
trap stop_servers EXIT

[ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import llama_cpp.server' 2>/dev/null \
  || step "install llama-cpp-python into $VENV" bash "$TOOLS/llm-servers.sh" install "$VENV"
step "fetch models into $MODELS" env SMALL="$SMALL" bash "$TOOLS/fetch-local-models.sh" "$MODELS"

if [ -z "${SELECTLLM_BIN:-}" ]; then
  step "build selectllm" cargo build --quiet -p selectllm --manifest-path "$ROOT/Cargo.toml"
  SELECTLLM_BIN=${CARGO_TARGET_DIR:-$ROOT/target}/debug/selectllm
fi
BIN=$SELECTLLM_BIN

# Only the wanted models are visible to the server script.
rm -rf "$RUN/models"; mkdir -p "$RUN/models"
ln -s "$MODELS/smollm2-135m-instruct-q4_1.gguf" "$RUN/models/"
if [ "$SMALL" != 1 ]; then
  ln -s "$MODELS/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf" "$MODELS/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf" "$RUN/models/"
fi
step "start servers" bash -c "bash '$TOOLS/llm-servers.sh' start '$VENV' '$RUN/models' '$RUN' | tee '$RUN/servers.txt'"

: >"$OUT/pool.toml"
while read -r alias url pid; do
  cat >>"$OUT/pool.toml" <<TOML
[[member]]
name = "$alias"
base_url = "$url"
model = "$alias"
prompt = "chat-cot"
max_concurrency = 1
timeout_s = 600
retries = 2
price_in = 0.0
price_out = 0.0

TOML
done <"$RUN/servers.txt"
"$BIN" config check "$OUT/pool.toml"

serve_local() { # serve TASK: a gateway over the running servers, asked SERVE_N questions
  local task=$1 clf=${SERVE_CLASSIFIER:-lexical} addr=
  local ckpt=$OUT/serve-ckpt-$1-$clf conf=$OUT/gateway-$1.toml log=$OUT/serve-$1.log
  [ -f "$ckpt/manifest.json" ] || "$BIN" train --dataset "local-3-$task" \
    --classifier "$clf" --out "$ckpt" >/dev/null
  {
    printf '[server]\nlisten = "127.0.0.1:0"\nruntimes = %s\n\n[router]\ncheckpoint = "%s"\n' "${SERVE_RUNTIMES:-0}" "$ckpt"
    printf 'policy = "weightedmaxconf:3"\ntask = "%s"\nrequest_timeout_s = 900\n' "$task"
    printf 'encoder_precision = "%s"\n\n' "${SERVE_ENCODER_PRECISION:-f32}"
    cat "$OUT/pool.toml"
  } >"$conf"
  "$BIN" serve --config "$conf" 2>"$log" &
  local pid=$!
  for _ in $(seq 300); do
    addr=$(sed -n 's/.*listening on \(http:\/\/[0-9.:]*\).*/\1/p' "$log" | head -1)
    [ -n "$addr" ] && break; sleep 0.1
  done
  [ -n "$addr" ] || { cat "$log"; kill "$pid"; return 1; }
  "$VENV/bin/python" "$ROOT/scripts/e2e_client.py" "$addr" "$task" "${SELECTLLM_DATA:-$ROOT/../shared/data}" \
    "${SERVE_N:-3}" selectllm/auto selectllm/early:weightedmaxconf:3 selectllm/cascade
  kill -TERM "$pid"; wait "$pid" || true
}

if [ "$SMALL" != 1 ]; then
  "$VENV/bin/python" -c 'import openai' 2>/dev/null || "$VENV/bin/pip" install -q 'openai==1.59.7'
  for task in ${SERVE_TASKS:-gsm8k mmlu}; do
    step "serve local-3-$task over the live servers (${SERVE_CLASSIFIER:-lexical} checkpoint)" serve_local "$task"
  done
fi
[ "${SKIP_COLLECT:-0}" = 1 ] && { echo "== e2e-local (serve only) done in $(( $(date +%s) - T0 )) s"; exit 0; }

DB=$OUT/e2e.sqlite
step "collect GSM8K ($N questions, CoT, max 320 tokens)" \
  "$BIN" collect --pool "$OUT/pool.toml" --dataset gsm8k --limit "$N" --db "$DB" \
  --samples 1 --temperature 0 --max-tokens 320
step "collect MMLU ($N questions, letter answer)" \
  "$BIN" collect --pool "$OUT/pool.toml" --dataset mmlu --shuffle 42 --limit "$N" --db "$DB" \
  --samples 1 --temperature 0 --max-tokens 8 --prompt chat-direct
stop_servers
step "export both tasks" "$BIN" export --db "$DB" --name e2e --out "$OUT/e2e.jsonl"
for task in gsm8k mmlu; do
  step "export $task" "$BIN" export --db "$DB" --task "$task" --name "e2e-$task" --out "$OUT/e2e-$task.jsonl"
done

# Train and evaluate on both tasks together (5-fold needs >= 10 questions), then per task (2-fold).
step "train on e2e" "$BIN" train --dataset "$OUT/e2e.jsonl" --out "$OUT/ckpt"
step "eval on e2e" "$BIN" eval --dataset "$OUT/e2e.jsonl" --out "$OUT/report"
for task in gsm8k mmlu; do
  step "eval on e2e-$task (2-fold)" "$BIN" eval --dataset "$OUT/e2e-$task.jsonl" --folds 2 --out "$OUT/report"
done
echo "== e2e-local done in $(( $(date +%s) - T0 )) s; outputs in $OUT"
