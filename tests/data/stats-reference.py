#!/usr/bin/env python3
"""Reference values for tests/test_stats.c, from numpy and SciPy.

Run: python3 tests/data/stats-reference.py > /tmp/ref.h (Debian 12: the
python3-numpy and python3-scipy packages) and copy the numbers into
tests/test_stats.c. The samples are fixed below; the bootstrap draws its
indices from splitmix64 exactly as controller/stats.c does (a draw r picks
index (r * n) >> 64), so the medians, percentiles and quantiles come from
numpy's own functions on the same resamples. The U test is SciPy's
mannwhitneyu, two-sided, with the method controller/stats.c chooses
(exact when no value is tied and n1 + n2 <= 60).
"""
import numpy as np
from scipy import stats

MASK = (1 << 64) - 1
SEED = 0x6173736179
RESAMPLES = 10000

SAMPLES = {
    # ten timings of one benchmark on one host, ms
    "base": [101.2, 99.8, 100.4, 102.9, 98.7, 100.1, 101.7, 99.3, 100.9, 103.4],
    # the same benchmark on the same host, a second run
    "again": [100.6, 101.9, 99.5, 100.2, 102.2, 98.9, 101.1, 100.7, 99.9, 102.6],
    # a version made 30% slower
    "slower": [131.5, 130.2, 133.0, 129.1, 132.4, 130.8, 134.2, 129.9, 131.1, 130.5],
    # a noisy benchmark: one fast run, a few very slow ones
    "noisy": [48.8, 101.9, 77.0, 290.0, 63.5, 95.2, 410.0, 70.1, 120.4, 55.0],
    # whole numbers with ties (a rate printed by the command)
    "ties": [12, 15, 15, 13, 12, 14, 15, 13, 20],
    "ties2": [14, 16, 15, 17, 16, 15, 18, 16, 14, 17, 16],
    # three samples: the smallest fixed repeat
    "three": [2.31, 2.27, 2.40],
}
PAIRS = [("base", "again"), ("base", "slower"), ("base", "noisy"), ("ties", "ties2"), ("three", "base")]


def splitmix64(state):
    state = (state + 0x9E3779B97F4A7C15) & MASK
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return state, z ^ (z >> 31)


def resample(state, x):
    out = []
    for _ in range(len(x)):
        state, r = splitmix64(state)
        out.append(x[(r * len(x)) >> 64])
    return state, out


def summary(x):
    a = np.array(x, dtype=float)
    q1, q3 = np.percentile(a, [25, 75])
    iqr = q3 - q1
    flags = [int(v < q1 - 1.5 * iqr or v > q3 + 1.5 * iqr) for v in a]
    state, meds = SEED, []
    for _ in range(RESAMPLES):
        state, r = resample(state, x)
        meds.append(np.median(r))
    lo, hi = np.percentile(meds, [2.5, 97.5])
    sd = np.std(a, ddof=1)
    return dict(median=np.median(a), mean=np.mean(a), sd=sd, cv=sd / abs(np.mean(a)), q1=q1, q3=q3,
                lo=lo, hi=hi, flags=flags)


def ratio(a, b):
    state, rs = SEED, []
    for _ in range(RESAMPLES):
        state, ra = resample(state, a)
        state, rb = resample(state, b)
        rs.append(np.median(rb) / np.median(ra))
    lo, hi = np.percentile(rs, [2.5, 97.5])
    return np.median(b) / np.median(a), lo, hi


def mwu(a, b):
    tied = len(set(a + b)) < len(a + b)
    method = "exact" if not tied and len(a) + len(b) <= 60 else "asymptotic"
    r = stats.mannwhitneyu(a, b, alternative="two-sided", method=method, use_continuity=True)
    return r.statistic, r.pvalue, int(method == "exact")


def c(v):
    return repr(float(v))


print("/* made by tests/data/stats-reference.py (numpy %s, scipy %s) */" % (np.__version__, stats.__name__ and
      __import__("scipy").__version__))
for name, x in SAMPLES.items():
    s = summary(x)
    print("static const double S_%s[] = {%s};" % (name, ", ".join(c(v) for v in x)))
    print("static const struct ref R_%s = {%s, %s, %s, %s, %s, %s, %s, %s, {%s}};" % (
        name, c(s["median"]), c(s["mean"]), c(s["sd"]), c(s["cv"]), c(s["q1"]), c(s["q3"]), c(s["lo"]), c(s["hi"]),
        ", ".join(str(f) for f in s["flags"])))
for a, b in PAIRS:
    r, lo, hi = ratio(SAMPLES[a], SAMPLES[b])
    u, p, exact = mwu(SAMPLES[a], SAMPLES[b])
    print("static const struct pair P_%s_%s = {%s, %s, %s, %s, %s, %d};" % (a, b, c(r), c(lo), c(hi), c(u), c(p), exact))
