# Summarizes the JSON files of init_tail.sh: per binary and build, p50/p95/p99/max and runs > 20 ms
# of exec -> first /next, exec -> first response and INIT CPU time (linear-interpolated percentiles).
import json, glob, sys, collections, os
out = sys.argv[1]
data = collections.defaultdict(lambda: collections.defaultdict(list))
failed = collections.Counter()
for f in sorted(glob.glob(out + '/*.json')):
    _, d, b, _ = os.path.basename(f).split('.', 3)
    try:
        doc = json.load(open(f))
    except Exception as e:
        print('bad', f, e); continue
    for size in doc['sizes']:
        for run in size['runs']:
            if run['outcome'] != 'ok':
                failed[(d, b)] += 1; continue
            for k in ('exec_to_first_next_ms', 'exec_to_first_response_ms', 'init_cpu_ms'):
                if run.get(k) is not None:
                    data[(d, b)][k].append(run[k])
def pct(xs, p):
    xs = sorted(xs); k = (len(xs) - 1) * p / 100; lo = int(k); hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)
for metric in ('exec_to_first_next_ms', 'exec_to_first_response_ms', 'init_cpu_ms'):
    print(f'\n### {metric}\n')
    print('| binary | build | runs | p50 | p95 | p99 | max | p99 − p50 | runs > 20 ms |')
    print('|---|---|---|---|---|---|---|---|---|')
    for (d, b) in sorted(data, key=lambda k: (k[1], k[0] != 'before')):
        xs = data[(d, b)][metric]
        if not xs: continue
        print(f'| {b} | {d} | {len(xs)} | {pct(xs,50):.2f} | {pct(xs,95):.2f} | {pct(xs,99):.2f} | {max(xs):.2f} | {pct(xs,99)-pct(xs,50):.2f} | {sum(x > 20 for x in xs)} |')
if failed: print('\nfailed runs:', dict(failed))
