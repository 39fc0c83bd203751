#!/usr/bin/python3
"""The "177-case mix" of issue 17, as a repeatable check of the medseg CLI.

    /usr/bin/python3 scripts/mutate_inputs.py MEDSEG [--seed N] [--out DIR] [--keep]

Makes 177 damaged inputs -- 40 NIfTI files with flipped or truncated header
bytes, 30 NRRD files with a header field replaced, dropped or cut, 13 DICOM
series with one slice of a real series truncated or bit-flipped, 47 training
configs and 47 model.yaml files with a value, key or byte changed -- and runs
each through the command a user would: `medseg info` and `medseg infer` on
images, `medseg train --print-config` on configs, `medseg model info` and
`medseg infer` on bundles (`infer` on every input `info` accepts and on every
fifth one it refuses: inference is most of the run time). Every run must end in exit 0 (the input is still
valid) or exit 2 with exactly one line on stderr; anything else (exit 1, a
signal, a sanitizer report, several lines, a hang over 120 s) is a failure,
printed with its input kept in DIR. Exit status 1 when any run failed.

MEDSEG may be a sanitizer build (build/fuzz/app/medseg): then a memory error
in medseg's code is a failure too. Needs Debian's python3-nibabel,
python3-pydicom and python3-numpy (the inputs start from data_samples/ and
pydicom's CT_small.dcm).
"""
import argparse
import collections
import os
import pathlib
import random
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "fuzz"))
import make_seeds  # noqa: E402  (the tiny DICOM series and NIfTI crops)

MODEL = ROOT / "data_samples" / "models" / "ct_head"


def flip(data, rng, count, start=0, end=None):
    data = bytearray(data)
    end = len(data) if end is None else min(end, len(data))
    for _ in range(count):
        pos = rng.randrange(start, end)
        data[pos] ^= 1 << rng.randrange(8)
    return bytes(data)


def nifti_cases(rng, work):
    make_seeds.OUT = work / "seeds"
    make_seeds.nifti_seeds()
    sources = [p for p in sorted((work / "seeds" / "nifti").iterdir()) if p.suffix == ".nii"]
    cases = []
    for k in range(40):
        raw = rng.choice(sources).read_bytes()
        how = k % 4
        if how == 0:
            data = flip(raw, rng, rng.randint(1, 4), 0, 348)  # anywhere in the header
        elif how == 1:  # dim, pixdim, vox_offset, scl, q/sform codes and values
            data = flip(raw, rng, 2, 40, 128) if rng.random() < 0.5 else flip(raw, rng, 3, 252, 348)
        elif how == 2:
            data = raw[: rng.randrange(1, len(raw))]
        else:
            data = bytearray(raw)
            pos = rng.choice([40, 76, 108, 112, 116, 252, 256, 280, 284, 288])
            data[pos:pos + 4] = rng.choice([b"\x00\x00\xc0\x7f", b"\x00\x00\x80\x7f", b"\xff\xff\xff\xff",
                                            b"\x00\x00\x00\x00", b"\x00\x00\x80\xff", b"\x7f\x7f\x7f\x7f"])
            data = bytes(data)
        name = work / f"nifti_{k:02d}.nii"
        name.write_bytes(data)
        cases.append(("nifti", name))
    return cases


def nrrd_cases(rng, work):
    make_seeds.nrrd_seeds()
    sources = sorted((work / "seeds" / "nrrd").iterdir())
    junk = ["", "-1", "0", "nan", "1e309", "4 3", "4 3 2 1", "(nan,0,0) (0,1,0) (0,0,1)", "(0,0,0) (0,0,0) (0,0,0)",
            "gzip", "bzip2", "banana", "99999 99999 99999", "big", "raw", "-4 3 2", "x" * 300]
    cases = []
    for k in range(30):
        raw = rng.choice(sources).read_bytes()
        header, _, body = raw.partition(b"\n\n")
        lines = header.split(b"\n")
        how = k % 3
        if how == 0:
            i = rng.randrange(1, len(lines))
            key = lines[i].split(b":")[0]
            lines[i] = key + b": " + rng.choice(junk).encode()
        elif how == 1:
            del lines[rng.randrange(1, len(lines))]
        data = b"\n".join(lines) + b"\n\n" + body
        if how == 2:
            data = data[: rng.randrange(1, len(data))]
        name = work / f"nrrd_{k:02d}.nrrd"
        name.write_bytes(data)
        cases.append(("nrrd", name))
    return cases


def dicom_cases(rng, work):
    series = work / "series"
    make_seeds.dicom_seeds(series)
    files = sorted(series.iterdir())
    cases = []
    for k in range(13):
        folder = work / f"dicom_{k:02d}"
        shutil.copytree(series, folder)
        victim = folder / files[rng.randrange(len(files))].name
        raw = victim.read_bytes()
        if k % 2 == 0:
            victim.write_bytes(raw[: rng.randrange(100, len(raw))])
        else:
            victim.write_bytes(flip(raw, rng, rng.randint(1, 8), 128, len(raw)))
        cases.append(("dicom", folder))
    return cases


VALUES = ["1e309", "-1e400", "99999999999999999999", ".nan", ".inf", "[1, 2]", "{a: 1}", "|\n    block\n    text",
          "'" + "z" * 300 + "'", "!!binary aGVsbG8=", "*undefined", "~", "-3", "0", "true", '"text"', "[]"]


def yaml_mutant(rng, text):
    lines = text.split("\n")
    candidates = [i for i, line in enumerate(lines) if re.match(r"^\s*[A-Za-z_][\w]*:", line)]
    i = rng.choice(candidates)
    how = rng.randrange(4)
    if how == 0:  # a value replaced
        key = lines[i].split(":")[0]
        lines[i] = key + ": " + rng.choice(VALUES)
    elif how == 1:  # a key misspelt
        lines[i] = re.sub(r"^(\s*)(\w)", lambda m: m.group(1) + "x" + m.group(2), lines[i])
    elif how == 2:  # a line dropped or its indentation broken
        if rng.random() < 0.5:
            del lines[i]
        else:
            lines[i] = " " + lines[i]
    else:  # bytes flipped or the text cut
        data = "\n".join(lines).encode()
        data = flip(data, rng, 3) if rng.random() < 0.5 else data[: rng.randrange(1, len(data))]
        return data
    return "\n".join(lines).encode()


def config_cases(rng, work):
    sources = sorted((ROOT / "configs").glob("*.yaml"))
    cases = []
    for k in range(47):
        src = rng.choice(sources)
        name = work / f"config_{k:02d}.yaml"
        name.write_bytes(yaml_mutant(rng, src.read_text()))
        cases.append(("config", name))
    return cases


def model_cases(rng, work):
    cases = []
    for k in range(47):
        folder = work / f"model_{k:02d}"
        folder.mkdir()
        os.symlink(MODEL / "weights.pt", folder / "weights.pt")
        (folder / "model.yaml").write_bytes(yaml_mutant(rng, (MODEL / "model.yaml").read_text()))
        cases.append(("model", folder))
    return cases


def commands(medseg, kind, path, out, work):
    # A 5x4x3 crop of the sample CT (fuzz/make_seeds.py): inference on it is one window.
    image = work / "seeds" / "nifti" / "ct_head_ct.nii"
    if kind in ("nifti", "nrrd", "dicom"):
        return [("info", [medseg, "info", str(path)]),
                ("infer", [medseg, "infer", "--model", str(MODEL), str(path), "-o", str(out)])]
    if kind == "config":
        return [("train --print-config", [medseg, "train", str(path), "--print-config"])]
    return [("model info", [medseg, "model", "info", str(path)]),
            ("infer", [medseg, "infer", "--model", str(path), str(image), "-o", str(out)])]


def judge(run):
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    if run.returncode == 0:
        return "exit 0" if not lines else "exit 0 with stderr"
    if run.returncode == 2 and len(lines) == 1 and lines[0].startswith("medseg: error: "):
        return "exit 2, one line"
    if run.returncode == 2:
        return f"exit 2, {len(lines)} lines"
    return f"exit {run.returncode}"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("medseg")
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--out", default="")
    parser.add_argument("--keep", action="store_true", help="keep every input, not only the failing ones")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    work = pathlib.Path(args.out or tempfile.mkdtemp(prefix="medseg-mutants-"))
    work.mkdir(parents=True, exist_ok=True)
    cases = (nifti_cases(rng, work) + nrrd_cases(rng, work) + dicom_cases(rng, work) + config_cases(rng, work)
             + model_cases(rng, work))
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0:handle_abort=1", MEDSEG_DEBUG="0")
    env.pop("MEDSEG_DEBUG")
    outcomes = collections.Counter()
    per_kind = collections.defaultdict(collections.Counter)
    failures = []
    for n, (kind, path) in enumerate(cases):
        if n % 20 == 0:
            print(f"mutate_inputs: {n}/{len(cases)} inputs", file=sys.stderr, flush=True)
        for label, cmd in commands(args.medseg, kind, path, work / "out", work):
            try:
                run = subprocess.run(cmd, capture_output=True, text=True, errors="replace", env=env, timeout=120)
                verdict = judge(run)
                stderr = run.stderr
            except subprocess.TimeoutExpired:
                verdict, stderr = "hang (over 120 s)", ""
            outcomes[verdict] += 1
            per_kind[f"{kind}: {label}"][verdict] += 1
            if verdict not in ("exit 0", "exit 2, one line"):
                failures.append((path, label, verdict, stderr.strip()[-2000:]))
            shutil.rmtree(work / "out", ignore_errors=True)
            if label in ("info", "model info") and verdict != "exit 0" and n % 5 != 0:
                # Refused: `infer` reads the input (or the bundle) with the same reader. Every
                # fifth refused input still goes through `infer` to show it fails alike.
                break
    print(f"mutate_inputs: {len(cases)} inputs, {sum(outcomes.values())} runs (seed {args.seed})")
    for key in sorted(per_kind):
        print(f"  {key:28s} " + ", ".join(f"{v}: {n}" for v, n in sorted(per_kind[key].items())))
    print("  total: " + ", ".join(f"{v}: {n}" for v, n in sorted(outcomes.items())))
    for path, label, verdict, stderr in failures:
        print(f"FAILED {label} {path}: {verdict}\n{stderr}\n")
    if not args.keep and not failures and not args.out:
        shutil.rmtree(work, ignore_errors=True)
    elif failures:
        print(f"mutate_inputs: inputs kept in {work}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
