#!/usr/bin/env python3
"""Trains the fashion_mnist example's model with the same recipe in PyTorch on the CPU and prints
the same JSON line as examples/fashion_mnist, so both can be compared side by side.

Model: Conv2d(1,32,3) ReLU -> MaxPool 2 -> Flatten -> Linear(5408,128) ReLU -> Linear(128,10);
Adam lr 1e-3, batch 64, inputs scaled to [0,1]. Precision: fp32, or bf16 (CPU autocast through
oneDNN, PyTorch's fastest CPU path). Needs Debian's python3-torch (run with /usr/bin/python3).

Usage: /usr/bin/python3 tools/compare_pytorch.py [--data DIR] [--epochs N] [--batch B] [--lr LR]
       [--precision fp32|bf16] [--seed S] [--threads T] [--limit N]
"""
import argparse
import gzip
import json
import os
import struct
import sys
import time

import numpy as np


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    magic = struct.unpack(">I", data[:4])[0]
    if magic >> 8 != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file (magic {magic:#x})")
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if arr.size != int(np.prod(dims)):
        raise ValueError(f"{path}: truncated ({arr.size} of {int(np.prod(dims))} bytes)")
    return arr.reshape(dims)


def find(data_dir, stem):
    for name in (stem + ".gz", stem):
        p = os.path.join(data_dir, name)
        if os.path.exists(p):
            return p
    raise FileNotFoundError(f"{stem}[.gz] not found in {data_dir}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = PyTorch default)")
    ap.add_argument("--limit", type=int, default=0, help="use only the first N training images")
    args = ap.parse_args()

    try:
        import torch
        import torch.nn as nn
    except ImportError:
        print("compare_pytorch.py: PyTorch is not importable (install python3-torch, run /usr/bin/python3)",
              file=sys.stderr)
        return 77
    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)

    xtr = read_idx(find(args.data, "train-images-idx3-ubyte")).astype(np.float32) / 255.0
    ytr = read_idx(find(args.data, "train-labels-idx1-ubyte")).astype(np.int64)
    xte = read_idx(find(args.data, "t10k-images-idx3-ubyte")).astype(np.float32) / 255.0
    yte = read_idx(find(args.data, "t10k-labels-idx1-ubyte")).astype(np.int64)
    if args.limit:
        xtr, ytr = xtr[:args.limit], ytr[:args.limit]
    xtr = torch.from_numpy(xtr).unsqueeze(1)
    ytr = torch.from_numpy(ytr)
    xte = torch.from_numpy(xte).unsqueeze(1)
    yte = torch.from_numpy(yte)

    model = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(32 * 13 * 13, 128), nn.ReLU(), nn.Linear(128, 10))
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    loss_fn = nn.CrossEntropyLoss()
    n = xtr.shape[0]
    train_time = 0.0
    images = 0
    loss_val = float("nan")
    for epoch in range(args.epochs):
        model.train()
        perm = torch.randperm(n)
        t0 = time.perf_counter()
        for i in range(0, n, args.batch):
            idx = perm[i:i + args.batch]
            xb, yb = xtr[idx], ytr[idx]
            opt.zero_grad(set_to_none=True)
            if args.precision == "bf16":
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    loss = loss_fn(model(xb), yb)
            else:
                loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            images += xb.shape[0]
        loss_val = float(loss.detach())
        dt = time.perf_counter() - t0
        train_time += dt
        print(f"epoch {epoch + 1}/{args.epochs}: loss {loss_val:.4f}, {n / dt:.0f} img/s", file=sys.stderr)
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, xte.shape[0], 1000):
            out = model(xte[i:i + 1000])
            correct += int((out.argmax(1) == yte[i:i + 1000]).sum())
    result = {
        "impl": "pytorch-" + torch.__version__,
        "precision": args.precision,
        "epochs": args.epochs,
        "batch": args.batch,
        "test_accuracy": round(correct / xte.shape[0], 4),
        "train_images_per_sec": round(images / train_time, 1) if train_time > 0 else None,
        "final_loss": round(loss_val, 5),
        "peak_device_bytes": None,
        "skipped_steps": 0,
        "final_loss_scale": None,
        "threads": torch.get_num_threads(),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
