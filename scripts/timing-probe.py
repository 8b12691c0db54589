#!/usr/bin/env python3
"""Per-request latency at a fixed rate, with the gateway's own account of each request.

usage: timing-probe.py URL BODY_JSON RATE SECONDS [--out FILE]

Sends BODY_JSON to URL (POST) on an open-loop schedule of RATE requests per second for
SECONDS, from 32 threads with a keep-alive connection each (so requests overlap as they do
under oha); each request's latency runs from its scheduled send time to the end of its
response (so a late send counts, as oha's --latency-correction does). When the
response carries `Server-Timing` (selectllm serve's completed answers do: `classify`,
`members`, `gateway`, in ms; their percentiles are printed too), each request's latency minus
its own classifier wait is computed too: the latency the gateway added beyond the classifier, per request, instead of a difference
of two percentiles. Prints one JSON object: the percentiles (ms) and the status counts.
Standard library only.
"""

import http.client
import json
import queue
import sys
import threading
import time
import urllib.parse

THREADS = 32


def pct(xs, p):
    if not xs:
        return None
    s = sorted(xs)
    return s[min(len(s) - 1, int(p * len(s)))]


def timing(header):
    out = {}
    for metric in (header or "").split(","):
        name, _, dur = metric.strip().partition(";dur=")
        try:
            out[name] = float(dur)
        except ValueError:
            pass
    return out


def main():
    args = sys.argv[1:]
    out_file = None
    if "--out" in args:
        i = args.index("--out")
        out_file = args[i + 1]
        del args[i : i + 2]
    if len(args) != 4:
        sys.exit(__doc__)
    url, body, rate, seconds = args[0], args[1].encode(), float(args[2]), float(args[3])
    u = urllib.parse.urlsplit(url)
    headers = {"content-type": "application/json",
               "authorization": "Bearer sk-bench-local-0123456789abcdef"}
    lat, beyond, classify, statuses = [], [], [], {}
    parts = {"members": [], "gateway": []}
    lock = threading.Lock()
    due_times = queue.Queue()

    def worker():
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        while (due := due_times.get()) is not None:
            try:
                conn.request("POST", u.path, body=body, headers=headers)
                r = conn.getresponse()
                r.read()
                status, t = r.status, timing(r.getheader("server-timing"))
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
                status, t = "error", {}
            ms = (time.perf_counter() - due) * 1e3
            with lock:
                statuses[str(status)] = statuses.get(str(status), 0) + 1
                if status == 200:
                    lat.append(ms)
                    if "classify" in t:
                        classify.append(t["classify"])
                        beyond.append(ms - t["classify"])
                    for name, xs in parts.items():
                        if name in t:
                            xs.append(t[name])

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(THREADS)]
    for t in threads:
        t.start()
    n = int(rate * seconds)
    start = time.perf_counter() + 0.05
    for k in range(n):
        due = start + k / rate
        now = time.perf_counter()
        if due > now:
            time.sleep(due - now)
        due_times.put(due)
    for _ in threads:
        due_times.put(None)
    for t in threads:
        t.join()
    res = {"rate": rate, "requests": n, "statuses": statuses,
           "latency_ms": {"p50": pct(lat, 0.5), "p99": pct(lat, 0.99)}}
    if beyond:
        res["classify_ms"] = {"p50": pct(classify, 0.5), "p99": pct(classify, 0.99)}
        res["latency_minus_classify_ms"] = {"p50": pct(beyond, 0.5), "p99": pct(beyond, 0.99)}
        for name, xs in parts.items():
            res[f"{name}_ms"] = {"p50": pct(xs, 0.5), "p99": pct(xs, 0.99)}
    text = json.dumps(res)
    if out_file:
        with open(out_file, "w") as f:
            f.write(text)
    print(text)


if __name__ == "__main__":
    main()
