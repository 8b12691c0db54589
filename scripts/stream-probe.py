#!/usr/bin/env python3
"""Streamed answers, one after another on one keep-alive connection: the time to the first
event and to the end of the answer (`data: [DONE]` and the last chunk), per request.

usage: stream-probe.py URL MODEL N QUESTION

Sends N chat requests (the user message QUESTION) with `"stream": true` to URL (POST), 10 ms apart, reading each answer
from a raw socket as it arrives, and prints the p50 / p99 / max of both times (ms). A server
that leaves Nagle's algorithm on shows here: the events after the first wait for the
client's delayed ACK, so the end of some answers comes about 40 ms late.
Standard library only.
"""

import json
import socket
import sys
import time
import urllib.parse

def pct(xs, p):
    s = sorted(xs)
    return s[min(len(s) - 1, int(p * len(s)))] * 1e3


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    url, model, n = urllib.parse.urlsplit(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    question = sys.argv[4]
    body = json.dumps(
        {"model": model, "stream": True, "messages": [{"role": "user", "content": question}]}
    ).encode()
    head = (
        f"POST {url.path} HTTP/1.1\r\nhost: {url.netloc}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    ).encode()
    sock = socket.create_connection((url.hostname, url.port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    firsts, ends = [], []
    for _ in range(n):
        t0 = time.perf_counter()
        sock.sendall(head + body)
        buf, first = b"", None
        # the answer is chunked: it ends with the [DONE] event and then the zero-length chunk
        while not (b"data: [DONE]" in buf and buf.endswith(b"0\r\n\r\n")):
            data = sock.recv(65536)
            if not data:
                sys.exit(f"{sys.argv[1]} closed the connection mid-answer: {buf[:200]!r}")
            buf += data
            if first is None and b"data:" in buf:
                first = time.perf_counter() - t0
        if not buf.startswith(b"HTTP/1.1 200"):
            sys.exit(f"{sys.argv[1]} answered {buf[:200]!r}")
        ends.append(time.perf_counter() - t0)
        firsts.append(first)
        time.sleep(0.01)
    print(
        f"stream {model:<22} first event p50 {pct(firsts, .5):6.2f} / p99 {pct(firsts, .99):6.2f} ms;"
        f"  whole answer p50 {pct(ends, .5):6.2f} / p99 {pct(ends, .99):6.2f} / max {max(ends) * 1e3:6.2f} ms"
        f"  over {n} requests"
    )


if __name__ == "__main__":
    main()
