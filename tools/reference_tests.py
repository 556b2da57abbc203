#!/usr/bin/python3
"""Recompute every test of a `cscrub test --json` file from its per-reference values, independently of cscrub
(NumPy and SciPy, following docs/hypothesis-tests.md), and compare with the numbers cscrub wrote.

Usage: /usr/bin/python3 tools/reference_tests.py RESULT.json
Prints one line per check; exits 1 if any number differs beyond rounding (relative 1e-6, absolute 1e-9 on
p-values), 0 otherwise.
"""
import json
import sys

import numpy as np
from scipy import stats

failures = []


def check(what, ours, theirs, rel=1e-6, abs_tol=1e-9):
    """Compares a recomputed number (ours) with cscrub's (theirs)."""
    if theirs is None or ours is None:
        ok = theirs is None and ours is None
    elif isinstance(ours, (bool, np.bool_)):
        ok = bool(ours) == bool(theirs)
    else:
        ok = abs(ours - theirs) <= max(abs_tol, rel * max(abs(ours), abs(theirs)))
    print(f"{'ok  ' if ok else 'FAIL'} {what}: recomputed {ours}, cscrub {theirs}")
    if not ok:
        failures.append(what)


def seed_mean(per_seed):
    """[seed][reference] -> each reference's mean over seeds."""
    return np.mean(np.asarray(per_seed, dtype=float), axis=0)


def recovered(m, b, s):
    return (s.mean() - b.mean()) / (m.mean() - b.mean())


def ratio_se(numerators, denominators, ratio):
    """Delta-method standard error of mean(numerators) / mean(denominators)."""
    z = (numerators - ratio * denominators) / denominators.mean()
    return np.std(z, ddof=1) / np.sqrt(len(z))


def holm(p):
    p = np.asarray(p, dtype=float)
    order = np.argsort(p, kind="stable")
    adjusted = np.empty_like(p)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (len(p) - rank) * p[index]))
        adjusted[index] = running
    return adjusted


def check_claim(report):
    name = report["hypothesis"]
    values = report["per_reference"]
    m = np.asarray(values["model"], dtype=float)
    b = seed_mean(values["baseline"])
    s = seed_mean(values["scrubbed"])
    n = len(m)
    alpha = report["alpha"]
    r = recovered(m, b, s)
    if not report["recoverable"]["defined"]:
        check(f"{name}: recovered is null", None, report["recovered"]["value"])
        return
    check(f"{name}: recovered", r, report["recovered"]["value"])

    eq = report["equivalence"]
    se = ratio_se(s - b, m - b, r)
    margin = eq["margin"]
    p_lower = stats.t.sf((r - (1 - margin)) / se, n - 1)
    p_upper = stats.t.sf(((1 + margin) - r) / se, n - 1)
    check(f"{name}: equivalence standard error", se, eq["standard_error"])
    check(f"{name}: equivalence p", max(p_lower, p_upper), eq["p_value"])
    check(f"{name}: equivalent", max(p_lower, p_upper) <= alpha, eq["equivalent"])
    half = stats.t.ppf(1 - alpha, n - 1) * se
    check(f"{name}: equivalence interval low", r - half, eq["interval"][0])

    p_values = []
    for node in report["necessity"]:
        without = seed_mean(node["per_reference"]["scrubbed"])
        d = s - without
        difference = d.mean() / (m - b).mean()
        se_d = ratio_se(d, m - b, difference)
        p = 2 * stats.t.sf(abs(difference / se_d), n - 1) if se_d > 0 else (1.0 if difference == 0 else 0.0)
        p_values.append(p)
        check(f"{name}: without {node['node']}: difference", difference, node["difference"])
        check(f"{name}: without {node['node']}: p", p, node["p_value"])
    for node, adjusted in zip(report["necessity"], holm(p_values)):
        check(f"{name}: without {node['node']}: Holm p", adjusted, node["p_holm"])
        check(f"{name}: without {node['node']}: needed", adjusted <= alpha, node["needed"])

    random = report["random_circuits"]
    distances = []
    for k, circuit in enumerate(random["circuits"]):
        rk = recovered(m, b, seed_mean(circuit["per_reference"]["scrubbed"]))
        distances.append(abs(rk - 1))
        check(f"{name}: random circuit {k + 1} recovered", rk, circuit["recovered"])
    if distances:
        p = (1 + sum(distance <= abs(r - 1) for distance in distances)) / (len(distances) + 1)
        check(f"{name}: random circuits' permutation p", p, random["p_value"])

    distribution = report["per_reference_recovery"]
    per_reference = 1 - (m - s) / (m.mean() - b.mean())
    for level, value in distribution["quantiles"].items():
        check(f"{name}: per-reference recovery quantile {level}", np.quantile(per_reference, float(level)), value)
    indices = values["reference_indices"]
    worst = np.argsort(per_reference, kind="stable")[: len(distribution["worst"])]
    for position, entry in zip(worst, distribution["worst"]):
        check(f"{name}: worst reference {entry['reference_index']}", float(indices[position]), float(entry["reference_index"]))

    for ablation in report["ablations"]:
        if "skipped" in ablation:
            continue
        values = ablation["per_reference"]
        ra = recovered(np.asarray(values["model"], dtype=float), seed_mean(values["baseline"]), seed_mean(values["scrubbed"]))
        check(f"{name}: {ablation['ablation']} ablation recovered", ra, ablation["recovered"]["value"])


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    with open(sys.argv[1]) as handle:
        result = json.load(handle)
    for report in result["tests"]:
        check_claim(report)
    if failures:
        print(f"{len(failures)} number(s) differ: {', '.join(failures)}")
        sys.exit(1)
    print("every number recomputed")


if __name__ == "__main__":
    main()
