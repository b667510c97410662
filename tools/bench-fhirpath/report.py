"""Turns the JSON lines of the three runners into a markdown table with ratios."""
import json
import math
import sys

rows = {}
order = []
for line in open(sys.argv[1], encoding="utf-8"):
    line = line.strip()
    if not line.startswith("{"):
        continue
    r = json.loads(line)
    if r["name"] not in rows:
        order.append(r["name"])
    rows.setdefault(r["name"], {})[r["engine"]] = r


def rate(r):
    return r.get("evals_per_sec") if r else None


def fmt(x):
    return f"{x:,.0f}" if x else "n/a"


print("| case | vigil evals/s | fhirpathpy evals/s | fhirpath.js evals/s | vs fhirpathpy | vs fhirpath.js | same result |")
print("|---|---:|---:|---:|---:|---:|---|")
ratios_py, ratios_js = [], []
for name in order:
    e = rows[name]
    v, p, j = rate(e.get("vigil")), rate(e.get("fhirpathpy")), rate(e.get("fhirpath.js"))
    rp = v / p if v and p else None
    rj = v / j if v and j else None
    if rp:
        ratios_py.append(rp)
    if rj:
        ratios_js.append(rj)
    results = [json.dumps(e[k].get("result"), sort_keys=True) for k in e if "result" in e[k]]
    agree = "yes" if len(set(results)) == 1 and len(results) == 3 else "differs"
    if any("error" in e[k] for k in e):
        agree = "; ".join(f"{k}: {e[k]['error'][:60]}" for k in e if "error" in e[k])
    print(f"| {name} | {fmt(v)} | {fmt(p)} | {fmt(j)} | {rp and f'{rp:.1f}x' or 'n/a'} | {rj and f'{rj:.1f}x' or 'n/a'} | {agree} |")


def geo(xs):
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else float("nan")


print()
print(f"Geometric mean speed-up: {geo(ratios_py):.1f}x fhirpathpy ({len(ratios_py)} cases), "
      f"{geo(ratios_js):.1f}x fhirpath.js ({len(ratios_js)} cases); "
      f"minimum {min(ratios_py, default=float('nan')):.1f}x / {min(ratios_js, default=float('nan')):.1f}x.")
