#!/usr/bin/env python3
"""Compares recipes over training seeds on the scanner-shift benchmark.

    bench/seed_spread.py [--reference NAME] NAME=DIR[,DIR...] ...

Each DIR is one column of one bench/scanner_shift.sh run (a folder holding
eval.csv, e.g. WORK/mri/prior), one per training seed of the recipe NAME.
Prints Markdown: per recipe and shift kind (label) the mean Dice over the
seeds and their standard deviation, then each recipe's difference to the
reference recipe (default: the last one) with twice its standard error,
sqrt(s1^2/n1 + s2^2/n2): a difference inside that spread is not resolved by
the seeds. It reproduces the summary tables of docs/scanner_training.md,
"Five training seeds; IBN-a". Standard library only (python3 comes with
scripts/setup.sh's Python packages).
"""
import argparse
import csv
import math
import statistics
import sys
from collections import defaultdict
from pathlib import Path


def case_means(folder):
    """{(kind, label): mean Dice over the shift seeds} of one eval.csv."""
    path = Path(folder) / "eval.csv"
    if not path.is_file():
        sys.exit(f"seed_spread.py: '{path}' does not exist (give folders of scanner_shift.sh columns)")
    values = defaultdict(list)
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            case = row["case"].split("_", 1)[1]  # drop the model kind prefix (mri_, ct_)
            kind = case if case == "unshifted" else case.rsplit("_s", 1)[0]
            values[(kind, row["label"])].append(float(row["dice"]))
    return {key: statistics.fmean(v) for key, v in values.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference", help="recipe the others are compared with (default: the last)")
    parser.add_argument("recipes", nargs="+", metavar="NAME=DIR[,DIR...]")
    args = parser.parse_args()

    seeds = {}
    for spec in args.recipes:
        name, sep, dirs = spec.partition("=")
        if not sep or not dirs:
            sys.exit(f"seed_spread.py: '{spec}' is not NAME=DIR[,DIR...]")
        seeds[name] = [case_means(d) for d in dirs.split(",")]
    reference = args.reference or list(seeds)[-1]
    if reference not in seeds:
        sys.exit(f"seed_spread.py: --reference '{reference}' is not one of {', '.join(seeds)}")
    keys = sorted({k for runs in seeds.values() for run in runs for k in run},
                  key=lambda k: (k[0] != "unshifted", k[0], k[1]))
    for name, runs in seeds.items():
        for key in keys:
            if any(key not in run for run in runs):
                sys.exit(f"seed_spread.py: recipe '{name}' lacks {key[0]} (label {key[1]}) in some folder")

    def column(name, key):
        return [run[key] for run in seeds[name]]

    header = "| recipe (seeds) | " + " | ".join(f"{k} ({l})" for k, l in keys) + " |"
    rule = "| --- " * (len(keys) + 1) + "|"
    print(header, rule, sep="\n")
    for name, runs in seeds.items():
        cells = []
        for key in keys:
            xs = column(name, key)
            sd = statistics.stdev(xs) if len(xs) > 1 else 0.0
            cells.append(f"{statistics.fmean(xs):.3f} ± {sd:.3f}")
        print(f"| {name} ({len(runs)}) | " + " | ".join(cells) + " |")
    print()
    print(header.replace("recipe (seeds)", f"difference to {reference} ± 2 SE"), rule, sep="\n")
    for name in seeds:
        if name == reference:
            continue
        cells = []
        for key in keys:
            a, b = column(name, key), column(reference, key)
            var = sum(statistics.variance(x) / len(x) for x in (a, b) if len(x) > 1)
            cells.append(f"{statistics.fmean(a) - statistics.fmean(b):+.3f} ± {2 * math.sqrt(var):.3f}")
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
