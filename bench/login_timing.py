#!/usr/bin/env python3
"""Failed sign-ins must take as long for an unknown email as for a wrong password.

Usage: start a server (`cargo run --release`), then `python3 bench/login_timing.py [URL]`.
It signs up N users, then alternates a wrong-password login for each of them with a login for
an email that does not exist (a new email each time, so the per-email limiter never locks),
and prints the median and spread of both. It only reports; compare the two lines.
"""
import json
import statistics
import sys
import time
import urllib.request

URL = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:4000/graphql"
N = 30


def call(query):
    request = urllib.request.Request(
        URL, data=json.dumps({"query": query}).encode(), headers={"content-type": "application/json"}
    )
    start = time.perf_counter()
    body = urllib.request.urlopen(request).read()
    return time.perf_counter() - start, json.loads(body)


def summary(xs):
    xs = sorted(xs)
    return f"median {statistics.median(xs) * 1000:.1f} ms, p10 {xs[len(xs) // 10] * 1000:.1f}, p90 {xs[len(xs) * 9 // 10] * 1000:.1f}"


stamp = int(time.time())
for i in range(N):
    call(f'mutation {{ register(email: "timing{stamp}_{i}@example.com", password: "correct horse battery") {{ accessToken }} }}')
known, unknown = [], []
for i in range(N):
    took, a = call(f'mutation {{ login(email: "timing{stamp}_{i}@example.com", password: "wrong password!") {{ accessToken }} }}')
    known.append(took)
    took, b = call(f'mutation {{ login(email: "nobody{stamp}_{i}@example.com", password: "wrong password!") {{ accessToken }} }}')
    unknown.append(took)
    assert a["errors"][0]["message"] == b["errors"][0]["message"], (a, b)
print("wrong password, existing email:", summary(known))
print("unknown email:                 ", summary(unknown))
