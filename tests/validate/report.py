#!/usr/bin/env python3
"""The table `make validate` prints, and its verdict.

usage: report.py FLOORS COUNTS CORPUS:FORMAT:SCORE_OUTPUT...

Each SCORE_OUTPUT is what ../shared/eval/score.py printed for one corpus in
one log format (its per-tool rows and its closing class line), or an error
message when the corpus could not be analysed or scored. FLOORS holds the
bounds, one per corpus, format and class:

    corpus-c  combined  single  >= 9     at least 9 single-source attackers stopped
    corpus-c  combined  legit   <= 0     no legitimate client stopped

A legit class with no line is held to <= 0; an attack class with no line has
no floor (the table says so). Writes "PASSED FAILED" (corpus/format pairs)
to COUNTS; exits 1 when any pair failed.
"""
import re
import sys

CLASSES = ("single", "campaign", "legit")
HEADINGS = {"single": "single-source", "campaign": "campaigns/swarms", "legit": "legitimate"}

# Legitimate populations, from the tool names of the labels (first match).
POPULATIONS = (
    ("NAT/VPN", re.compile(r"nat|vpn|office")),
    ("partners", re.compile(r"partner")),
    ("mobile", re.compile(r"mobile|app")),
    ("monitors", re.compile(r"monitor|uptime|probe")),
    ("crawlers", re.compile(r"crawler|bot|spider|feed")),
    ("people", re.compile(r"person|people|human")),
)


def population(tool):
    for name, pattern in POPULATIONS:
        if pattern.search(tool):
            return name
    return "other"


def read_floors(path):
    floors = {}
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.split("#", 1)[0].split()
            if not line:
                continue
            if len(line) != 5 or line[2] not in CLASSES or line[3] not in (">=", "<=") \
                    or not line[4].isdigit():
                sys.exit(f"{path}:{n}: want 'CORPUS FORMAT CLASS >=|<= COUNT'")
            floors[(line[0], line[1], line[2])] = (line[3], int(line[4]))
    return floors


def read_score(path):
    """(classes {class: (stopped, addresses)}, legit {population: [stopped, n]}) or an error."""
    try:
        text = open(path).read()
    except OSError as e:
        return None, None, str(e)
    classes, legit = {}, {}
    for line in text.splitlines():
        cols = line.split()
        if len(cols) == 5 and cols[0] == "legit" and cols[2].isdigit():
            p = legit.setdefault(population(cols[1]), [0, 0])
            p[0] += int(cols[3])
            p[1] += int(cols[2])
        found = re.findall(r"\b(single|campaign|legit) (\d+)/(\d+) stopped", line)
        if found:
            classes = {c: (int(s), int(n)) for c, s, n in found}
    if not classes:
        lines = text.strip().splitlines()
        return None, None, lines[-1] if lines else "no output"
    return classes, legit, None


def check(bound, stopped):
    op, limit = bound
    return stopped >= limit if op == ">=" else stopped <= limit


def main(argv):
    if len(argv) < 4:
        sys.exit(__doc__.strip().splitlines()[2])
    floors, counts_path = read_floors(argv[1]), argv[2]
    runs = [a.split(":", 2) for a in argv[3:]]
    scored = {(c, f) for c, f, _ in runs}
    passed = failed = 0
    problems, breakdown = [], []

    print(f"{'':32}" + "".join(f" {HEADINGS[c]:^23}" for c in CLASSES))
    print(f"{'corpus':22} {'format':9}" + " stopped/addrs  %  bound" * len(CLASSES))
    for corpus, fmt, path in runs:
        classes, legit, error = read_score(path)
        if error:
            print(f"{corpus:22} {fmt:9} could not be scored: {error}")
            problems.append(f"{corpus} {fmt}: could not be scored ({error})")
            failed += 1
            continue
        cells, ok = [], True
        for c in CLASSES:
            stopped, n = classes.get(c, (0, 0))
            bound = floors.get((corpus, fmt, c), ("<=", 0) if c == "legit" else None)
            pct = f"{100 * stopped // n:>3}%" if n else "   -"
            if bound is None:
                cells.append(f"{stopped:>4}/{n:<4}{pct}  (none)")
                continue
            good = check(bound, stopped)
            cells.append(f"{stopped:>4}/{n:<4}{pct}  {bound[0]}{bound[1]:<4}{' ' if good else '!'}")
            if not good:
                ok = False
                what = "legitimate clients stopped" if c == "legit" else f"{c} attackers stopped"
                problems.append(f"{corpus} {fmt}: {stopped} {what}, bound {bound[0]} {bound[1]}")
        print(f"{corpus:22} {fmt:9}" + "".join(f" {cell:>23}" for cell in cells))
        breakdown.append((corpus, fmt, legit))
        passed, failed = (passed + 1, failed) if ok else (passed, failed + 1)

    for (corpus, fmt, c) in sorted(floors):
        if (corpus, fmt) not in scored:
            problems.append(f"{corpus} {fmt}: has floors but was not scored (corpus gone?)")
            failed += 1
            scored.add((corpus, fmt))

    names = [p for p, _ in POPULATIONS] + ["other"]
    print()
    print("legitimate clients stopped, by population (stopped/addresses; - = none in the corpus)")
    print(f"{'corpus':22} {'format':9}" + "".join(f" {p:>9}" for p in names))
    for corpus, fmt, legit in breakdown:
        cells = [f"{legit[p][0]}/{legit[p][1]}" if p in legit else "-" for p in names]
        print(f"{corpus:22} {fmt:9}" + "".join(f" {cell:>9}" for cell in cells))

    if problems:
        print()
        for p in problems:
            print(f"FAIL: {p}")
    with open(counts_path, "w") as f:
        f.write(f"{passed} {failed}\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
