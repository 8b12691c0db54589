#!/usr/bin/env bash
# The real client against the gateway: installs the official `openai` Python package (PyPI,
# pinned) in a venv under target/, trains a lexical checkpoint on local-3-gsm8k, starts a fake
# member process and `selectllm serve` on 127.0.0.1 (ports chosen by the OS), then drives the
# gateway with the openai client (plain, streamed, passthrough, route_only, errors, auth) and
# with curl. Exits non-zero on any failure; stops every process it started.
#
# env: SELECTLLM_BIN  a built selectllm binary (default: cargo build, then target/debug/selectllm)
#      OPENAI_VERSION the openai package version (default 1.59.7)
#      RUNTIMES       the gateway's server.runtimes (default 0: one multi-threaded runtime)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
WORK=${CARGO_TARGET_DIR:-$ROOT/target}/openai-client
VENV=$WORK/venv
OPENAI_VERSION=${OPENAI_VERSION:-1.59.7}
mkdir -p "$WORK"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

if [ -z "${SELECTLLM_BIN:-}" ]; then
  cargo build --quiet -p selectllm
  SELECTLLM_BIN=${CARGO_TARGET_DIR:-$ROOT/target}/debug/selectllm
fi

if ! "$VENV/bin/python" -c "import openai, sys; sys.exit(openai.__version__ != '$OPENAI_VERSION')" 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "openai==$OPENAI_VERSION"
fi

# a checkpoint whose members are the local-3 pool's
CKPT=$WORK/ckpt-local-3-gsm8k
[ -f "$CKPT/manifest.json" ] || "$SELECTLLM_BIN" train --dataset local-3-gsm8k --classifier lexical --out "$CKPT" >/dev/null

# one fake OpenAI server answers for all three members (answers differ per model name)
"$SELECTLLM_BIN" fake-server --chunk-delay-ms 1 >"$WORK/fake.url" &
PIDS+=($!)
for _ in $(seq 100); do [ -s "$WORK/fake.url" ] && break; sleep 0.1; done
FAKE=$(head -1 "$WORK/fake.url")
[ -n "$FAKE" ] || { echo "fake server did not start"; exit 1; }

CONF=$WORK/gateway.toml
{
  printf '[server]\nlisten = "127.0.0.1:0"\napi_keys_env = "TEST_GATEWAY_KEYS"\nruntimes = %s\n\n' "${RUNTIMES:-0}"
  printf '[router]\ncheckpoint = "%s"\npolicy = "weightedmaxconf:3"\ntask = "gsm8k"\nrequest_timeout_s = 30\n' "$CKPT"
  for m in smollm2-135m qwen2.5-coder-0.5b qwen2.5-coder-1.5b; do
    printf '\n[[member]]\nname = "%s"\nbase_url = "%s"\nmodel = "%s"\nprompt = "chat-cot"\ntimeout_s = 10\nretries = 0\n' "$m" "$FAKE" "$m"
  done
} >"$CONF"
"$SELECTLLM_BIN" config check "$CONF"

export TEST_GATEWAY_KEYS="test-key-1,test-key-2"
"$SELECTLLM_BIN" serve --config "$CONF" 2>"$WORK/serve.log" &
SERVE=$!
PIDS+=($SERVE)
ADDR=
for _ in $(seq 100); do
  ADDR=$(sed -n 's/.*listening on \(http:\/\/[0-9.:]*\).*/\1/p' "$WORK/serve.log" | head -1)
  [ -n "$ADDR" ] && break
  sleep 0.1
done
[ -n "$ADDR" ] || { echo "gateway did not start:"; cat "$WORK/serve.log"; exit 1; }
echo "gateway at $ADDR, fake members at $FAKE"

GATEWAY=$ADDR "$VENV/bin/python" - <<'PY'
import os, openai

base = os.environ["GATEWAY"] + "/v1"
c = openai.OpenAI(base_url=base, api_key="test-key-2", max_retries=0)
q = [{"role": "user", "content": "Natalia sold clips to 48 of her friends in April, and then half as many in May. How many clips did she sell?"}]
members = {"smollm2-135m", "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"}

# plain, with the decision headers and the explanation
raw = c.chat.completions.with_raw_response.create(model="selectllm/auto", messages=q, temperature=0.2, max_tokens=64)
r = raw.parse()
x = r.model_extra["selectllm"]
assert r.object == "chat.completion" and r.choices[0].message.content, r
assert "The answer is" in r.choices[0].message.content
assert raw.headers["x-selectllm-policy"] == "weightedmaxconf:3"
assert raw.headers["x-selectllm-winner"] == x["winner"] and x["winner"] in members
assert len(x["selected"]) == 3 and r.usage.total_tokens > 0
print("plain:", x["winner"], "answer", x["answer"], "selected", ",".join(x["selected"]))

# streamed, several members: vote first, then the winner; explanation in the last chunk
chunks = list(c.chat.completions.create(model="selectllm/auto", messages=q, stream=True))
text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
assert text == r.choices[0].message.content, (text, r.choices[0].message.content)
assert chunks[-1].model_extra["selectllm"]["winner"] == x["winner"]
print("streamed (vote):", len(chunks), "chunks")

# streamed, one member: tokens passed through
chunks = list(c.chat.completions.create(model="selectllm/maxconf:1", messages=q, stream=True))
text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
assert "The answer is" in text and len(chunks) > 4, chunks
print("streamed (one member):", len(chunks), "chunks")

# plans: early majority and the configured cascade, with their waves in the explanation
for model in ["selectllm/early:weightedmaxconf:3", "selectllm/cascade"]:
    e = c.chat.completions.create(model=model, messages=q)
    ex = e.model_extra["selectllm"]
    assert ex["plan"] and ex["waves"] and ex["winner"] in members, ex
    assert ex["answer"] and e.choices[0].message.content, ex
    print(model, "waves", ex["waves"], "cancelled", ex.get("cancelled", []), "stop:", ex["stop_reason"])

# passthrough to a member by name
p = c.chat.completions.create(model="qwen2.5-coder-0.5b", messages=q)
assert p.model == "qwen2.5-coder-0.5b" and p.choices[0].message.content

# route_only: the decision, nobody called
d = c.chat.completions.create(model="selectllm/auto", messages=q, extra_body={"selectllm": {"route_only": True, "members": ["smollm2-135m", "qwen2.5-coder-1.5b"]}})
assert d.model_extra["selectllm"]["route_only"] and set(d.model_extra["selectllm"]["selected"]) <= members

# models, errors, auth
ids = [m.id for m in c.models.list().data]
assert "selectllm/auto" in ids and members <= set(ids), ids
for bad, exc in [(dict(model="gpt-nope", messages=q), openai.NotFoundError),
                 (dict(model="selectllm/auto", messages=q, temperature=7), openai.BadRequestError)]:
    try:
        c.chat.completions.create(**bad)
        raise SystemExit(f"expected {exc.__name__} for {bad}")
    except exc as e:
        assert e.body and "message" in e.body, e
try:
    openai.OpenAI(base_url=base, api_key="wrong", max_retries=0).chat.completions.create(model="selectllm/auto", messages=q)
    raise SystemExit("expected 401")
except openai.AuthenticationError:
    pass
print("openai client: ok")
PY

# curl: plain and streamed
H=(-H "Authorization: Bearer test-key-1" -H "Content-Type: application/json")
BODY='{"model":"selectllm/auto","messages":[{"role":"user","content":"What is 6 times 7?"}]}'
curl -sf "${H[@]}" -d "$BODY" "$ADDR/v1/chat/completions" | "$VENV/bin/python" -c '
import json, sys; r = json.load(sys.stdin); assert r["choices"][0]["message"]["content"] and r["selectllm"]["winner"], r'
BODY_S='{"model":"selectllm/auto","stream":true,"messages":[{"role":"user","content":"What is 6 times 7?"}]}'
curl -sfN "${H[@]}" -d "$BODY_S" "$ADDR/v1/chat/completions" >"$WORK/stream.txt"
[ "$(grep '^data:' "$WORK/stream.txt" | tail -1)" = 'data: [DONE]' ] || { echo "curl stream did not end with [DONE]"; exit 1; }
code=$(curl -s -o /dev/null -w '%{http_code}' -d "$BODY" "$ADDR/v1/chat/completions")
[ "$code" = 401 ] || { echo "expected 401 without a key, got $code"; exit 1; }
# (to a file, not a pipe: `grep -q` stops reading at the first match, and under pipefail the
# curl that then cannot write exits 23)
curl -sf "$ADDR/ready" >/dev/null
curl -sf "$ADDR/metrics" >"$WORK/metrics.txt"
grep -q '^selectllm_requests_total{status="200"}' "$WORK/metrics.txt" || { echo "metrics lack 200s"; exit 1; }
echo "curl: ok"

# SIGTERM: drains and exits 0
kill -TERM "$SERVE"
wait "$SERVE"
grep -q "stopped" "$WORK/serve.log"
echo "test-openai-client: ok"
