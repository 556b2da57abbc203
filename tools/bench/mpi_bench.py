#!/usr/bin/env python3
"""MPI benchmark (run by tools/bench/run_mpi_bench.sh): on this machine's 2 cores, 2 ranks x 1 thread against
1 rank x 2 threads, alternating in the same run, for `cscrub compare` and `cscrub discover --method eap`; and a
measured model of K-rank scaling, fitted on one rank and checked on two, extrapolated to 64.

Model: T(K) = F + W * ceil(U / K) / U + C(K), where
  F  the work every rank repeats (start, reading and hashing the inputs, loading the model; compare: the clean
     activation cache of every prompt), measured as the intercept of two one-rank runs whose shared work differs
     (compare: seeds; discover: pairs, whose loading is also per rank but small);
  W  the shared work on one core (compare: the scrubbing of every unit; discover: every pair's passes), the slope;
  U  the units (compare: runs x batches; discover: pairs), shared in contiguous blocks;
  C  communication: every unit's values go to rank 0 once (bytes below) plus a few collectives per run.
Timings are wall clock, the median of the repeats; the machine is shared, so the spread is printed too."""
import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time


def run(command, environment):
    started = time.monotonic()
    result = subprocess.run(command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    elapsed = time.monotonic() - started
    if result.returncode != 0:
        sys.exit("failed: " + " ".join(command) + "\n" + result.stdout)
    return elapsed, result.stdout


def environment(threads):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    return env


def launch(ranks, arguments):
    if ranks == 1:
        return arguments
    return ["mpirun", "-np", str(ranks), "--oversubscribe", "--bind-to", "none"] + arguments


def median(values):
    return statistics.median(values)


def spread(values):
    return f"{min(values):.1f}-{max(values):.1f} s"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("cscrub")
    parser.add_argument("model")
    parser.add_argument("--source", required=True)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seeds", type=int, nargs=2, default=[2, 6], help="compare: fewer and more seeds (the fit)")
    parser.add_argument("--pairs", type=int, nargs=2, default=[8, 24], help="eap: fewer and more pairs (the fit)")
    parser.add_argument("--exact-model", help="the model of exact patching (every edge of GPT-2 small takes ~an hour)")
    parser.add_argument("--exact-pairs", type=int, nargs=2, default=[4, 12], help="exact: fewer and more pairs (the fit)")
    parser.add_argument("--only", default="compare,exact,eap", help="the workloads, of compare, exact, eap")
    options = parser.parse_args()
    hypotheses = [os.path.join(options.source, "hypotheses", "gpt2-small", "ioi", name)
                  for name in ("full.toml", "naive.toml", "name_movers_only.toml")]
    scratch = tempfile.mkdtemp(prefix="cscrub-mpi-bench-")

    def compare(seeds, out):
        return [options.cscrub, "compare", *hypotheses, "--model", options.model, "--n", "64", "--batch-size", "16",
                "--seeds", str(seeds), "--quiet", "--json", out]

    def discover(pairs, out):
        return [options.cscrub, "discover", "--method", "eap", "--model", options.model, "--n", str(pairs),
                "--batch-size", "8", "--quiet", "--top", "0", "--out", out]

    def exact(pairs, out):
        return [options.cscrub, "discover", "--method", "exact", "--model", options.exact_model or options.model, "--n",
                str(pairs), "--batch-size", "4", "--quiet", "--top", "0", "--out", out]

    chosen = options.only.split(",")
    workloads = [workload for workload in [("compare", compare, options.seeds),
                                           ("discover --method exact", exact, options.exact_pairs),
                                           ("discover --method eap", discover, options.pairs)]
                 if workload[0].split()[-1] in chosen]
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    print(f"CPU: {cpu}, {os.cpu_count()} cores; model {options.model}; load average {os.getloadavg()[0]:.1f}")
    report = {}
    for name, command, (small, large) in workloads:
        print(f"\n== {name} ==")
        times = {"2x1": [], "1x2": [], "1x1 small": [], "1x1 large": []}
        outputs = {}
        for repeat in range(options.repeats):
            # Alternating, so that the machine's other load falls on both alike.
            for key, ranks, threads, size in (("2x1", 2, 1, large), ("1x2", 1, 2, large), ("1x1 large", 1, 1, large),
                                              ("1x1 small", 1, 1, small)):
                out = os.path.join(scratch, f"{name.split()[0]}-{key.replace(' ', '-')}.json")
                seconds, text = run(launch(ranks, command(size, out)), environment(threads))
                times[key].append(seconds)
                outputs[key] = out
                print(f"  {key:10} ({'seeds' if name == 'compare' else 'pairs'} {size}): {seconds:.1f} s", flush=True)
        if name.endswith("exact"):
            print(f"  model {options.exact_model or options.model}")
        def results(path):
            data = json.load(open(path))
            data.pop("memory", None)
            return json.dumps(data)
        same = results(outputs["2x1"]) == results(outputs["1x2"]) == results(outputs["1x1 large"])
        t = {key: median(values) for key, values in times.items()}
        print(f"  median: 2 ranks x 1 thread {t['2x1']:.1f} s ({spread(times['2x1'])}), 1 rank x 2 threads "
              f"{t['1x2']:.1f} s ({spread(times['1x2'])}): ratio (1x2 / 2x1) {t['1x2'] / t['2x1']:.2f}; results identical: {same}")
        # The fit: shared work W grows with the seeds (compare) or the pairs (discover); F is the rest.
        slope = (t["1x1 large"] - t["1x1 small"]) / (large - small)
        shared = slope * large
        fixed = t["1x1 large"] - shared
        if name == "compare":
            result = json.load(open(outputs["1x1 large"]))
            runs = len(result["hypotheses"]) + 1
            batches = sum(math.ceil(size / 16) for size in set_group_sizes(result))  # reference_batches
            units = runs * batches
            per_unit_bytes = 8 * (8 + large + (large + 1) * 16)
        elif name.endswith("exact"):
            # Units: the destinations, dealt out in turn; each sends its edges' scores (8 bytes an edge).
            graph = json.load(open(outputs["1x1 large"]))
            cfg = graph["cfg"]
            units = cfg["n_layers"] * (3 * cfg["n_heads"] + 1) + 1
            per_unit_bytes = 8 * len(graph["edges"]) / units
        else:
            graph = json.load(open(outputs["1x1 large"]))
            units = large
            per_unit_bytes = 8 * (2 + len(graph["edges"]))
        predicted_2 = fixed + shared * math.ceil(units / 2) / units
        print(f"  fit on 1 rank x 1 thread: F = {fixed:.1f} s per rank (repeated), W = {shared:.1f} s shared, "
              f"{units} units ({shared / units:.3f} s each), {per_unit_bytes:,.0f} bytes per unit to rank 0")
        print(f"  check at K = 2: predicted {predicted_2:.1f} s, measured {t['2x1']:.1f} s "
              f"({100 * (t['2x1'] - predicted_2) / predicted_2:+.0f}%)")
        for k in (1, 2, 8, 64):
            blocks = math.ceil(units / k)
            bytes_total = units * per_unit_bytes
            # Assumed: 1 GB/s into rank 0, 20 us per message and collective step.
            communication = bytes_total / 1e9 + 20e-6 * (k + 6 * math.log2(max(k, 2)))
            total = fixed + shared * blocks / units + (communication if k > 1 else 0)
            print(f"  K = {k:3}: {total:7.1f} s (F {fixed:.1f} + shared {shared * blocks / units:.2f} + "
                  f"communication {communication if k > 1 else 0:.3f}); {bytes_total / k / 1e6:.2f} MB sent per rank, "
                  f"speedup {(fixed + shared) / total:.2f}")
        report[name] = t
    print(f"\nload average at the end {os.getloadavg()[0]:.1f} (the other processes of the machine)")
    return 0


def set_group_sizes(result):
    """The alignment groups' sizes, from each scored reference's group size (a group of g prompts appears g times)."""
    counts = {}
    for size in result["per_reference"]["group_sizes"]:
        counts[size] = counts.get(size, 0) + 1
    return [size for size, count in counts.items() for _ in range(count // size)]


if __name__ == "__main__":
    sys.exit(main())
