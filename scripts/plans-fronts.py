#!/usr/bin/env python3
"""Accuracy-vs-calls Pareto fronts of the paper policies and the cascades, the gsm8k cascade
target and the early-majority latency reductions, from `selectllm eval` report.json files.
Usage: plans-fronts.py OUT_DIR DATASET..."""
import json, sys
out = sys.argv[1]
POLICIES = ("maxconf:", "labelledmaxconf:", "weightedmaxconf:", "threshold:", "budget:")
def front(rows):
    pts = sorted(((r['calls'], -r['accuracy'], r['name']) for r in rows))
    f, best = [], -1
    for c, na, n in pts:
        if -na > best + 1e-12:
            best = -na; f.append((c, -na, n))
    return f
def acc_at(f, calls):
    # best accuracy on the front with at most `calls`
    v = [a for c, a, _ in f if c <= calls + 1e-9]
    return max(v) if v else None
for d in sys.argv[2:]:
    r = json.load(open(f"{out}/{d}/report.json"))
    rows = r['rows'] + r.get('sweep', [])
    byname = {x['name']: x for x in rows}
    pol = [x for x in r['rows'] if x['kind'] == 'policy']
    casc = [x for x in rows if x['name'].startswith('cascade:')]
    newplans = [x for x in rows if x['kind'] == 'plan' and not x['name'].startswith('parallel:') or x['name'].endswith('w=logodds')]
    fp, fc, fn = front(pol), front(casc), front(newplans)
    print(f"## {d}")
    print("policies' front:", [(round(c,2), round(100*a,1), n) for c,a,n in fp])
    print("cascades' front:", [(round(c,2), round(100*a,1), n) for c,a,n in fc])
    below = []
    for c, a, n in fp:
        best = acc_at(fc, c)
        if best is None or best < a - 1e-12:
            below.append((n, round(c,2), round(100*a,1), None if best is None else round(100*best,1)))
    print("policy front points not matched by a cascade with <= calls:", below)
    below2 = [(n, round(c,2), round(100*a,1)) for c, a, n in fp if (acc_at(fn, c) or 0) < a - 1e-12]
    print("... not matched by early/cascade/log-odds rows:", below2)
    allr = byname['all']; singles = [x for x in r['rows'] if x['kind']=='single']
    bs = max(singles, key=lambda x: x['accuracy'])
    ok = [x for x in casc if x['accuracy'] >= allr['accuracy'] and x['accuracy'] >= bs['accuracy'] and x['calls'] <= 0.4*allr['calls']]
    ok.sort(key=lambda x: (-x['accuracy'], x['calls']))
    print(f"all {100*allr['accuracy']:.1f}% {allr['calls']:.2f} calls; best single {bs['name']} {100*bs['accuracy']:.1f}%; cascades meeting the target: {len(ok)}", [(x['name'], round(100*x['accuracy'],1), round(x['calls'],2)) for x in ok[:5]])
    for x in rows:
        if x['name'].startswith('early:') and x['name'] in ("early:maxconf:3", "early:weightedmaxconf:3", "early:budget:calls=3", "early:threshold:0.5"):
            p = byname['parallel:' + x['name'][6:]]; po = byname[x['name'][6:]]
            print(f"  {x['name']}: acc {100*x['accuracy']:.1f} (policy {100*po['accuracy']:.1f}); latency max {p['latency_max']:.2f} -> {x['latency_max']:.2f} s ({100*(1-x['latency_max']/p['latency_max']):.1f}% lower), p95 {p['latency_max_p95']:.2f} -> {x['latency_max_p95']:.2f}; policy row (member means) {po['latency_max']:.2f}")
    for s in (3, 4, 5):
        a, b = byname.get(f"weightedmaxconf:{s}"), byname.get(f"parallel:weightedmaxconf:{s}/w=logodds")
        if a and b:
            print(f"  weights s={s}: linear {100*a['accuracy']:.1f}  log-odds {100*b['accuracy']:.1f}")
