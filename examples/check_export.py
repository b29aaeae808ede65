#!/usr/bin/env python3
"""Checks that PyTorch loads the inference export of the examples (--export FILE --export-dtype
f16|bf16|f32) and computes the logits halfcl computed: a short fashion_mnist run (256 images, one
epoch) per case writes the export and, with --export-logits, the eval-mode inputs and logits of the
first test batch; the same network in PyTorch (Conv2d 1->32 3x3, ReLU, MaxPool2d 2, Flatten,
Linear 5408->128, ReLU, Linear 128->10) gets the exported tensors by name and runs those inputs in
FP32. The relative error ||torch - halfcl|| / ||halfcl|| must stay under the case's bound (halfcl's
own F16/BF16 activations set it for the half cases).

PyTorch runs under /usr/bin/python3 (Debian's python3-torch) unless $TORCH_PYTHON names another
interpreter; without one that imports torch the test is skipped (exit 77). Without Fashion-MNIST
(/usr/share/datasets/fashion-mnist) it is skipped too.

  check_export.py EXECUTABLE                 the test (run by meson test)
  check_export.py --torch EXPORT LOGITS BOUND  the PyTorch half, run under the torch interpreter
"""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

FASHION = "/usr/share/datasets/fashion-mnist"
# (precision of the run, export dtype, bound on the relative error of the logits)
CASES = [("fp32", "f32", 1e-4), ("mixed_f16", "f16", 5e-3), ("mixed_bf16", "bf16", 2e-2)]


def read_safetensors(path, torch):
    """{name: torch tensor in the file's dtype}, metadata: parsed by hand (numpy and struct), so the
    `safetensors` package is not needed; with it installed, safetensors.torch.load_file is used."""
    try:
        import safetensors.torch as stt
        from safetensors import safe_open
        with safe_open(path, framework="pt") as f:
            meta = f.metadata() or {}
        return stt.load_file(path), meta
    except ImportError:
        pass
    import numpy as np
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    meta = header.pop("__metadata__", {})
    out = {}
    for name, t in header.items():
        b, e = t["data_offsets"]
        raw = np.frombuffer(blob, dtype=np.uint8, count=e - b, offset=8 + n + b)
        if t["dtype"] == "F32":
            x = torch.from_numpy(raw.view("<f4").copy())
        elif t["dtype"] == "F16":
            x = torch.from_numpy(raw.view("<f2").copy())
        elif t["dtype"] == "BF16":  # the top half of an F32: numpy has no bfloat16
            x = torch.from_numpy(raw.view("<u2").astype(np.int32) << 16).view(torch.float32).to(torch.bfloat16)
        elif t["dtype"] == "I32":
            x = torch.from_numpy(raw.view("<i4").copy())
        else:
            raise SystemExit(f"{path}: {name}: dtype {t['dtype']} not handled")
        out[name] = x.reshape(t["shape"])
    return out, meta


def torch_check(export, logits, bound):
    import torch
    weights, meta = read_safetensors(export, torch)
    if meta.get("example") != "fashion_mnist":
        raise SystemExit(f"{export}: metadata {meta}")
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 32, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.Flatten(),
                              torch.nn.Linear(5408, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
    # halfcl names layers "<kind>_<node id>": conv2d_1, linear_5, linear_7 (the seed CNN's nodes)
    names = {"0": "conv2d_1", "4": "linear_5", "6": "linear_7"}
    state, dtypes = {}, set()
    for idx, name in names.items():
        for part in ("weight", "bias"):
            t = weights.pop(f"{name}.{part}")
            dtypes.add(str(t.dtype))
            state[f"{idx}.{part}"] = t.float()  # CPU PyTorch has no half conv: FP32 math
    if weights:
        raise SystemExit(f"{export}: unexpected tensors {sorted(weights)}")
    net.load_state_dict(state, strict=True)
    data, _ = read_safetensors(logits, torch)
    with torch.no_grad():
        got = net(data["input"].float())
    want = data["logits"].float()
    err = float((got - want).norm() / want.norm())
    agree = float((got.argmax(1) == want.argmax(1)).float().mean())
    print(f"torch {torch.__version__}: {os.path.basename(export)} ({meta.get('halfcl.dtype')}, policy "
          f"{meta.get('halfcl.policy')}) loaded into {type(net).__name__} ({', '.join(sorted(dtypes))}); logits of "
          f"{want.shape[0]} inputs: relative error {err:.2e} (bound {bound:g}), argmax agreement {agree:.3f}",
          file=sys.stderr)
    if not err < bound:
        print(f"FAIL: relative error {err:.3e} >= {bound:g}", file=sys.stderr)
        return 1
    return 0


def torch_python():
    """An interpreter that imports torch, or None."""
    for py in filter(None, [os.environ.get("TORCH_PYTHON"), "/usr/bin/python3", sys.executable]):
        if shutil.which(py) or os.path.exists(py):
            r = subprocess.run([py, "-c", "import torch, numpy"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if r.returncode == 0:
                return py
    return None


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "--torch":
        return torch_check(sys.argv[2], sys.argv[3], float(sys.argv[4]))
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    exe = sys.argv[1]
    py = torch_python()
    if not py:
        print("SKIP: no Python with torch and numpy (/usr/bin/python3 with Debian's python3-torch, or $TORCH_PYTHON)",
              file=sys.stderr)
        return 77
    if not os.path.isdir(FASHION):
        print(f"SKIP: {FASHION} is absent (apt install dataset-fashion-mnist)", file=sys.stderr)
        return 77
    tmp = tempfile.mkdtemp(prefix="halfcl-export-")
    try:
        for precision, dtype, bound in CASES:
            export, logits = os.path.join(tmp, f"{dtype}.safetensors"), os.path.join(tmp, f"{dtype}-logits.safetensors")
            cmd = [exe, "--data", FASHION, "--limit", "256", "--epochs", "1", "--batch", "32", "--seed", "3",
                   "--precision", precision, "--export", export, "--export-dtype", dtype, "--export-logits", logits]
            print("+ " + " ".join(cmd), file=sys.stderr)
            p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            if p.returncode != 0:
                sys.stderr.write(p.stderr[-4000:])
                print(f"FAIL: {exe} exited with {p.returncode}", file=sys.stderr)
                return 1
            r = subprocess.run([py, os.path.abspath(__file__), "--torch", export, logits, str(bound)])
            if r.returncode != 0:
                return 1
        print("OK: PyTorch loads the f32, f16 and bf16 exports and reproduces halfcl's logits", file=sys.stderr)
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
