#!/usr/bin/env python3
"""Trains an example's model with the same recipe in PyTorch on the CPU and prints the same JSON
line as the example (impl "pytorch-<version>"), so both can be compared side by side.

--model fashion_mnist (default): Conv2d(1,32,3) ReLU -> MaxPool 2 -> Flatten -> Linear(5408,128)
    ReLU -> Linear(128,10); Adam lr 1e-3, batch 64, inputs scaled to [0,1]; --data is the
    Fashion-MNIST folder (IDX files).
--model text_classify: Embedding(V, 64, padding_idx=0) -> bidirectional GRU/LSTM(64, 64) over the
    packed lengths -> mean over the valid steps -> Linear (classes, cross-entropy; or 1 logit and
    BCEWithLogits for two classes); Adam lr 2e-3, batch 64, 5 epochs.
--model char_lm: Embedding(V, 128) (N(0, 0.02), as the example) + learned positions (N(0, 0.02))
    -> 2 pre-LN TransformerEncoderLayers (4 heads, GELU MLP of 4 x 128, causal mask) -> LayerNorm
    -> head tied to the embedding; cross-entropy per step; Adam lr 1e-3, batch 32, 3 epochs.
    Dropout 0.1 where halfcl's block has it (after attention and after the MLP, before each
    residual add); PyTorch's extra dropouts (attention weights, inside the MLP) are turned off.
For the text models --data is the file the example wrote with --export-data, so the split,
vocabulary and windows are the example's own.

Precision: fp32, or bf16 (CPU autocast through oneDNN, PyTorch's fastest CPU path; PyTorch 1.13's
CPU autocast has no entry for GRU/LSTM, so in text_classify only the output layer runs in bf16).
Needs Debian's python3-torch (run with /usr/bin/python3).

Usage: /usr/bin/python3 tools/compare_pytorch.py [--model M] [--data PATH] [--epochs N] [--batch B]
       [--lr LR] [--precision fp32|bf16] [--seed S] [--threads T] [--limit N]
       [--rnn gru|lstm] [--embed N] [--hidden N] [--layers N]       (text_classify)
       [--dim D] [--heads H] [--layers N] [--dropout P] [--steps N]  (char_lm)
"""
import argparse
import gzip
import json
import math
import os
import struct
import sys
import time

import numpy as np

# Per-model defaults: the examples' recipes.
DEFAULTS = {
    "fashion_mnist": {"data": "/usr/share/datasets/fashion-mnist", "epochs": 5, "batch": 64, "lr": 1e-3},
    "text_classify": {"data": None, "epochs": 5, "batch": 64, "lr": 2e-3, "layers": 1},
    "char_lm": {"data": None, "epochs": 3, "batch": 32, "lr": 1e-3, "layers": 2},
}


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


def read_safetensors(path):
    """The tensors (numpy arrays) and metadata of a safetensors file: u64 little-endian header
    length N, N bytes of JSON {name: {dtype, shape, data_offsets}, "__metadata__": {...}}, then
    the raw little-endian data (offsets relative to its start)."""
    dtypes = {"F32": "<f4", "F16": "<f2", "I32": "<i4", "U8": "u1"}
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    meta = header.pop("__metadata__", {})
    base = 8 + n
    tensors = {}
    for name, t in header.items():
        if t["dtype"] not in dtypes:
            raise ValueError(f"{path}: {name}: dtype {t['dtype']} not handled here")
        b, e = t["data_offsets"]
        tensors[name] = np.frombuffer(blob, dtype=dtypes[t["dtype"]], count=(e - b) // np.dtype(dtypes[t["dtype"]]).itemsize,
                                      offset=base + b).reshape(t["shape"])
    return tensors, meta


def load_export(path, example, limit):
    if not path or not os.path.exists(path):
        sys.exit(f"compare_pytorch.py: --data must name the file written by examples/{example} --export-data FILE")
    tensors, meta = read_safetensors(path)
    if meta.get("example") != example:
        sys.exit(f"compare_pytorch.py: {path} was written by {meta.get('example')!r}, not {example}")
    if limit:
        tensors = {k: v[:limit] for k, v in tensors.items()}
    return tensors, meta


class Trainer:
    """The loop shared by the models: Adam, shuffled batches, optional bf16 autocast, timing."""

    def __init__(self, torch, args, model):
        self.torch, self.args, self.model = torch, args, model
        self.opt = torch.optim.Adam(model.parameters(), lr=args.lr)

    def autocast(self):
        import contextlib
        if self.args.precision == "bf16":
            return self.torch.autocast("cpu", dtype=self.torch.bfloat16)
        return contextlib.nullcontext()

    def epoch(self, n, loss_of_batch, max_steps=0, steps_done=0):
        """One shuffled epoch over n samples: loss_of_batch(idx) -> (mean loss, samples, tokens,
        weight of the mean). Returns (mean loss per sample or token, samples, tokens, seconds, steps)."""
        torch = self.torch
        self.model.train()
        perm = torch.randperm(n)
        total = count = samples = tokens = steps = 0
        t0 = time.perf_counter()
        for i in range(0, n, self.args.batch):
            if max_steps and steps_done + steps >= max_steps:
                break
            self.opt.zero_grad(set_to_none=True)
            with self.autocast():
                loss, s, t, weight = loss_of_batch(perm[i:i + self.args.batch])
            loss.backward()
            self.opt.step()
            total += float(loss.detach()) * weight
            count += weight
            samples += s
            tokens += t
            steps += 1
        return total / max(count, 1), samples, tokens, time.perf_counter() - t0, steps

    def evaluate(self, n, eval_batch, batch=512):
        """eval_batch(slice) -> (summed loss, correct, count); returns (mean loss, accuracy)."""
        self.model.eval()
        total = correct = count = 0
        with self.torch.no_grad(), self.autocast():
            for i in range(0, n, batch):
                l, c, k = eval_batch(slice(i, i + batch))
                total, correct, count = total + l, correct + c, count + k
        return total / count, correct / count


def fashion_mnist(torch, args):
    nn = torch.nn
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
    return {
        "test_accuracy": round(correct / xte.shape[0], 4),
        "train_images_per_sec": round(images / train_time, 1) if train_time > 0 else None,
        "final_loss": round(loss_val, 5),
    }


def text_classify(torch, args):
    nn = torch.nn
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
    d, meta = load_export(args.data, "text_classify", args.limit)
    V, classes = int(meta["vocab_size"]), int(meta["classes"])
    xtr, ltr, ytr = (torch.from_numpy(d[k].astype(np.int64)) for k in ("train_tokens", "train_lengths", "train_labels"))
    xte, lte, yte = (torch.from_numpy(d[k].astype(np.int64)) for k in ("test_tokens", "test_lengths", "test_labels"))
    outputs = classes if classes > 2 else 1

    class Classifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(V, args.embed, padding_idx=0)
            cell = nn.GRU if args.rnn == "gru" else nn.LSTM
            self.rnn = cell(args.embed, args.hidden, num_layers=args.layers, batch_first=True, bidirectional=True)
            self.fc = nn.Linear(2 * args.hidden, outputs)

        def forward(self, x, lengths):
            packed = pack_padded_sequence(self.emb(x), lengths, batch_first=True, enforce_sorted=False)
            out, _ = self.rnn(packed)
            out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])  # 0 at padded steps
            return self.fc(out.sum(1) / lengths.unsqueeze(1).to(out.dtype))

    model = Classifier()
    if outputs == 1:
        bce = nn.BCEWithLogitsLoss(reduction="sum")
        loss_sum = lambda out, y: bce(out.float().squeeze(1), y.float())
        correct = lambda out, y: int(((out.squeeze(1) > 0).long() == y).sum())
    else:
        ce = nn.CrossEntropyLoss(reduction="sum")
        loss_sum = lambda out, y: ce(out.float(), y)
        correct = lambda out, y: int((out.argmax(1) == y).sum())

    def train_batch(idx):
        n = len(idx)
        return loss_sum(model(xtr[idx], ltr[idx]), ytr[idx]) / n, n, int(ltr[idx].sum()), n

    def eval_batch(s):
        out = model(xte[s], lte[s])
        return float(loss_sum(out, yte[s])), correct(out, yte[s]), len(yte[s])

    return train_and_report(torch, args, model, xtr.shape[0], train_batch, xte.shape[0], eval_batch)


def char_lm(torch, args):
    nn = torch.nn
    d, meta = load_export(args.data, "char_lm", args.limit)
    V, T = int(meta["vocab_size"]), int(meta["context"])
    xtr, ytr, xte, yte = (torch.from_numpy(d[k].astype(np.int64)) for k in ("train_x", "train_y", "test_x", "test_y"))

    class CharLM(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(V, args.dim)
            nn.init.normal_(self.emb.weight, std=0.02)
            self.pos = nn.Parameter(torch.randn(T, args.dim) * 0.02)
            self.blocks = nn.ModuleList()
            for _ in range(args.layers):
                b = nn.TransformerEncoderLayer(args.dim, args.heads, 4 * args.dim, args.dropout, activation="gelu",
                                               batch_first=True, norm_first=True)
                b.self_attn.dropout = 0.0   # halfcl: no dropout on the attention weights,
                b.dropout = nn.Identity()   # nor inside the MLP; dropout1/dropout2 stay
                self.blocks.append(b)
            self.ln = nn.LayerNorm(args.dim)
            self.register_buffer("mask", torch.triu(torch.full((T, T), float("-inf")), 1))

        def forward(self, x):
            h = self.emb(x) + self.pos
            for b in self.blocks:
                h = b(h, src_mask=self.mask)
            return self.ln(h) @ self.emb.weight.t()

    model = CharLM()
    ce = nn.CrossEntropyLoss(reduction="sum")

    def train_batch(idx):
        n = len(idx)
        out = model(xtr[idx])
        return ce(out.float().reshape(-1, V), ytr[idx].reshape(-1)) / (n * T), n, n * T, n * T

    def eval_batch(s):
        out = model(xte[s]).float()
        y = yte[s]
        return float(ce(out.reshape(-1, V), y.reshape(-1))), int((out.argmax(-1) == y).sum()), y.numel()

    r = train_and_report(torch, args, model, xtr.shape[0], train_batch, xte.shape[0], eval_batch)
    r["test_bpc"] = round(r["test_loss"] / math.log(2), 4)
    return r


def train_and_report(torch, args, model, n_train, train_batch, n_test, eval_batch):
    trainer = Trainer(torch, args, model)
    train_time = 0.0
    samples = tokens = steps = 0
    train_loss = float("nan")
    test_loss = accuracy = float("nan")
    for epoch in range(args.epochs):
        if args.steps and steps >= args.steps:
            break
        train_loss, s, t, dt, k = trainer.epoch(n_train, train_batch, args.steps, steps)
        samples, tokens, steps, train_time = samples + s, tokens + t, steps + k, train_time + dt
        test_loss, accuracy = trainer.evaluate(n_test, eval_batch)
        print(f"epoch {epoch + 1}/{args.epochs}: train loss {train_loss:.4f} | test loss {test_loss:.4f} "
              f"acc {100 * accuracy:.2f}% | {s / dt:.0f} seq/s, {t / dt:.0f} tok/s | {dt:.1f} s", file=sys.stderr)
    return {
        "train_images": n_train,
        "test_accuracy": round(accuracy, 4),
        "test_loss": round(test_loss, 5),
        "final_train_loss": round(train_loss, 5),
        "train_images_per_sec": round(samples / train_time, 1) if train_time > 0 else None,
        "train_tokens_per_sec": round(tokens / train_time, 1) if train_time > 0 else None,
        "train_steps": steps,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", choices=sorted(DEFAULTS), default="fashion_mnist")
    ap.add_argument("--data", help="fashion_mnist: the IDX folder; text models: the --export-data file")
    ap.add_argument("--epochs", type=int)
    ap.add_argument("--batch", type=int)
    ap.add_argument("--lr", type=float)
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = PyTorch default)")
    ap.add_argument("--limit", type=int, default=0, help="use only the first N training (and test, text) samples")
    ap.add_argument("--rnn", choices=["gru", "lstm"], default="gru")
    ap.add_argument("--embed", type=int, default=64)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--layers", type=int)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--steps", type=int, default=0, help="char_lm: stop after N training steps")
    args = ap.parse_args()
    for key, value in DEFAULTS[args.model].items():
        if getattr(args, key) is None:
            setattr(args, key, value)

    try:
        import torch
    except ImportError:
        print("compare_pytorch.py: PyTorch is not importable (install python3-torch, run /usr/bin/python3)",
              file=sys.stderr)
        return 77
    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)

    result = {"impl": "pytorch-" + torch.__version__, "example": args.model, "precision": args.precision,
              "epochs": args.epochs, "batch": args.batch}
    result.update({"fashion_mnist": fashion_mnist, "text_classify": text_classify, "char_lm": char_lm}[args.model](
        torch, args))
    result.update({"peak_device_bytes": None, "skipped_steps": 0, "final_loss_scale": None,
                   "threads": torch.get_num_threads()})
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
