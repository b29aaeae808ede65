#!/usr/bin/env python3
"""End-to-end test of a training example (run by meson test): trains on a few hundred images,
checks the per-epoch lines, the final JSON line, the CSV step log (loss decreasing) and a resume
from the checkpoint written by --save.

  fashion_mnist: the installed Fashion-MNIST (/usr/share/datasets/fashion-mnist; skipped, exit 77,
                 when absent), first 256 images.
  cifar10:       a small learnable CIFAR-10-format data set written here (a bright square whose
                 position gives the class).

Usage: check_example.py NAME EXECUTABLE
"""
import csv
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile

FASHION = "/usr/share/datasets/fashion-mnist"


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def write_cifar(path, n, rng):
    recs = bytearray()
    for i in range(n):
        c = i % 10
        img = bytearray(rng.randrange(0, 60) for _ in range(3072))
        r0, c0 = (c // 5) * 16 + 4, (c % 5) * 6 + 1
        for ch in range(3):
            for r in range(r0, r0 + 8):
                for q in range(c0, c0 + 5):
                    img[ch * 1024 + r * 32 + q] = 200 + rng.randrange(0, 55)
        recs.append(c)
        recs += img
    with open(path, "wb") as f:
        f.write(recs)


def run(cmd):
    print("+ " + " ".join(cmd), file=sys.stderr)
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sys.stderr.write(p.stderr[-4000:])
    sys.stderr.write(p.stdout)
    if p.returncode != 0:
        fail(f"{cmd[0]} exited with {p.returncode}")
    lines = [l for l in p.stdout.splitlines() if l.strip()]
    if not lines:
        fail("no output")
    try:
        result = json.loads(lines[-1])
    except ValueError:
        fail("the last line of stdout is not JSON: " + lines[-1])
    return result, [l for l in lines if l.startswith("epoch ")]


def main():
    tmp = tempfile.mkdtemp(prefix="halfcl-example-")
    try:
        return check(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def check(tmp):
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    name, exe = sys.argv[1], sys.argv[2]
    if name == "fashion_mnist":
        if not os.path.isdir(FASHION):
            print(f"SKIP: {FASHION} is absent (apt install dataset-fashion-mnist)", file=sys.stderr)
            return 77
        data, limit, epochs, lr = FASHION, 256, 3, "1e-3"
    elif name == "cifar10":
        data, limit, epochs, lr = tmp, 0, 3, "2e-3"
        rng = random.Random(1)
        write_cifar(os.path.join(tmp, "data_batch_1.bin"), 160, rng)
        write_cifar(os.path.join(tmp, "test_batch.bin"), 60, rng)
    else:
        fail("unknown example " + name)
    log, ckpt = os.path.join(tmp, "log.csv"), os.path.join(tmp, "ckpt.safetensors")
    common = [exe, "--data", data, "--batch", "32", "--lr", lr, "--seed", "3", "--precision", "mixed_f16"]
    if limit:
        common += ["--limit", str(limit)]
    result, epoch_lines = run(common + ["--epochs", str(epochs), "--log", log, "--save", ckpt])
    for key in ("precision", "epochs", "test_accuracy", "train_images_per_sec", "peak_device_bytes",
                "skipped_steps", "final_loss_scale"):
        if key not in result:
            fail(f"JSON lacks {key}: {result}")
    if result["precision"] != "mixed_f16" or result["epochs"] != epochs:
        fail(f"JSON precision/epochs: {result}")
    if len(epoch_lines) != epochs:
        fail(f"{len(epoch_lines)} epoch lines, want {epochs}")
    if not (0 <= result["test_accuracy"] <= 1) or result["peak_device_bytes"] <= 0:
        fail(f"JSON values: {result}")
    with open(log) as f:
        rows = list(csv.DictReader(f))
    n_train = limit if limit else 160
    steps = epochs * ((n_train + 31) // 32)
    if len(rows) != steps:
        fail(f"log has {len(rows)} rows, want {steps}")
    if [int(r["step"]) for r in rows] != list(range(steps)):
        fail("log steps are not 0..n-1")
    losses = [float(r["loss"]) for r in rows if r["step_skipped"] == "0"]
    k = max(2, len(losses) // 4)
    first, last = sum(losses[:k]) / k, sum(losses[-k:]) / k
    print(f"mean loss of the first {k} steps {first:.4f}, of the last {k} {last:.4f}", file=sys.stderr)
    if not last < 0.9 * first:
        fail(f"the loss did not decrease: {first:.4f} -> {last:.4f}")
    if not os.path.exists(ckpt):
        fail("no checkpoint written")
    # resume: one more epoch from the checkpoint; the log continues at the next step
    result2, epoch_lines2 = run(common + ["--epochs", str(epochs + 1), "--log", log, "--resume", ckpt])
    if len(epoch_lines2) != 1 or not epoch_lines2[0].startswith(f"epoch {epochs + 1}/"):
        fail(f"resume ran {epoch_lines2}")
    with open(log) as f:
        rows2 = list(csv.DictReader(f))
    if int(rows2[-1]["step"]) != steps + (n_train + 31) // 32 - 1:
        fail(f"resumed log ends at step {rows2[-1]['step']}")
    print(f"OK: {name}: test accuracy {result2['test_accuracy']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
