#!/usr/bin/env python3
"""End-to-end test of data-parallel training in the fashion_mnist example (run by meson test) on
the first 512 Fashion-MNIST images (skipped, exit 77, without them):

  - 2 replicas in one process (--ranks 2, batch 32 each) against 1 replica at batch 64 (the same
    global batch): both learn (test accuracy well above chance) and end within a few points;
    the replicas end bit-identical (the example checks and says so in its JSON line);
  - a checkpoint written by the 2-replica run resumes on 1 replica for one more epoch;
  - with MPI (MPIRUN given): 2 processes x 1 replica under mpirun, F16 gradients on the wire:
    process 0 alone prints the JSON line, which reports 2 processes and identical replicas.

Usage: check_dist.py EXECUTABLE [MPIRUN]
"""
import json
import os
import subprocess
import sys
import tempfile

FASHION = "/usr/share/datasets/fashion-mnist"


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def run(cmd):
    print("+ " + " ".join(cmd), file=sys.stderr)
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=900)
    sys.stderr.write(p.stderr[-4000:])
    sys.stderr.write(p.stdout)
    if p.returncode != 0:
        fail(f"{' '.join(cmd[:3])} exited with {p.returncode}")
    lines = [l for l in p.stdout.splitlines() if l.strip()]
    jsons = [l for l in lines if l.startswith("{")]
    if len(jsons) != 1:
        fail(f"expected one JSON line (process 0 only), got {len(jsons)}")
    return json.loads(jsons[0]), [l for l in lines if l.startswith("epoch ")]


def main():
    if len(sys.argv) < 2:
        fail("usage: check_dist.py EXECUTABLE [MPIRUN]")
    exe = sys.argv[1]
    mpirun = sys.argv[2] if len(sys.argv) > 2 else None
    if not os.path.isdir(FASHION):
        print(f"SKIP: {FASHION} not installed", file=sys.stderr)
        sys.exit(77)
    common = ["--limit", "512", "--precision", "mixed_f16", "--seed", "3"]
    with tempfile.TemporaryDirectory() as tmp:
        ck = os.path.join(tmp, "dist.safetensors")
        two, lines = run([exe] + common + ["--ranks", "2", "--batch", "32", "--epochs", "2", "--save", ck])
        one, _ = run([exe] + common + ["--batch", "64", "--epochs", "2"])
        if len(lines) != 2:
            fail(f"expected 2 epoch lines, got {len(lines)}")
        if two.get("replicas") != 2 or two.get("replicas_identical") is not True:
            fail(f"2-replica run: {two}")
        for r, what in ((two, "2 replicas"), (one, "1 replica")):
            if not r["test_accuracy"] > 0.5:
                fail(f"{what}: test accuracy {r['test_accuracy']} (chance is 0.1)")
        if abs(two["test_accuracy"] - one["test_accuracy"]) > 0.06:
            fail(f"2 x 32 reached {two['test_accuracy']}, 1 x 64 {one['test_accuracy']}: more than 6 points apart")
        if not os.path.exists(ck):
            fail("no checkpoint written")
        resumed, lines = run([exe] + common + ["--ranks", "1", "--batch", "64", "--epochs", "3", "--resume", ck])
        if len(lines) != 1 or not lines[0].startswith("epoch 3/3"):
            fail(f"resume on 1 replica: epoch lines {lines}")
        if not resumed["test_accuracy"] > 0.5:
            fail(f"resumed run: test accuracy {resumed['test_accuracy']}")
        if mpirun:
            mp, lines = run([mpirun, "-n", "2", "--allow-run-as-root", "--oversubscribe", exe] + common +
                            ["--batch", "32", "--epochs", "2", "--wire", "f16"])
            if mp.get("processes") != 2 or mp.get("replicas") != 2 or mp.get("replicas_identical") is not True:
                fail(f"mpirun: {mp}")
            if mp.get("wire_dtype") != "f16" or not mp["test_accuracy"] > 0.5:
                fail(f"mpirun: {mp}")
            if abs(mp["test_accuracy"] - two["test_accuracy"]) > 0.06:
                fail(f"mpirun 2 x 1 reached {mp['test_accuracy']}, 1 x 2 in-process {two['test_accuracy']}")
    print("OK: fashion_mnist data-parallel: 2 replicas %.3f, 1 replica %.3f, resumed %.3f%s" % (
        two["test_accuracy"], one["test_accuracy"], resumed["test_accuracy"],
        f", mpirun 2 processes {mp['test_accuracy']:.3f}" if mpirun else ""), file=sys.stderr)


if __name__ == "__main__":
    main()
