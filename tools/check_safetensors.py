#!/usr/bin/env python3
"""Interop check for halfcl's safetensors files against the reference implementation (the
`safetensors` Python package, whose parser is the Rust crate), used by tests/test_io.c.

  check_safetensors.py PATH          validate PATH with safetensors.deserialize, load it with
                                     safetensors.numpy.load_file (BF16, which numpy lacks, is
                                     read as raw bits) and print, sorted by name:
                                       meta KEY=VALUE
                                       tensor NAME DTYPE (D0,D1,...) FNV1A64-OF-THE-RAW-BYTES
  check_safetensors.py --write OUT [PATH]
                                     first write a reference file OUT with
                                     safetensors.numpy.save_file (values documented in
                                     write_reference) for halfcl to read, then check PATH if given.
Needs: pip install safetensors numpy. Exit status 0 on success.
"""
import sys

import numpy as np
import safetensors
import safetensors.numpy as stnp


def fnv1a64(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def check(path: str) -> None:
    with open(path, "rb") as f:
        blob = f.read()
    entries = dict(safetensors.deserialize(blob))  # full validation by the reference parser
    if any(info["dtype"] == "BF16" for info in entries.values()):
        arrays = {}
        with safetensors.safe_open(path, framework="numpy") as f:
            for name in f.keys():
                if entries[name]["dtype"] != "BF16":
                    arrays[name] = f.get_tensor(name)
    else:
        arrays = stnp.load_file(path)
    with safetensors.safe_open(path, framework="numpy") as f:
        meta = f.metadata() or {}
    for key in sorted(meta):
        print(f"meta {key}={meta[key]}")
    for name in sorted(entries):
        info = entries[name]
        if name in arrays:
            arr = arrays[name]
            if list(arr.shape) != list(info["shape"]):
                raise SystemExit(f"{name}: numpy shape {arr.shape} != header shape {info['shape']}")
            raw = np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
        else:  # BF16: the raw little-endian bits
            raw = bytes(info["data"])
            if len(raw) != 2 * int(np.prod(info["shape"], dtype=np.int64)):
                raise SystemExit(f"{name}: BF16 data size mismatch")
        shape = "(" + ",".join(str(d) for d in info["shape"]) + ")"
        print(f"tensor {name} {info['dtype']} {shape} {fnv1a64(raw):016x}")


def write_reference(path: str) -> None:
    """a: F32 (2,3) = 0.5*i - 1; b: F16 (5) = i/4; c: I32 (3,1) = -i*1000; d: U8 (4) = 250+i;
    s: F32 scalar 3.25; e: F32 (0,2) empty; metadata {"format": "pt", "note": "héllo"}."""
    tensors = {
        "a": (np.arange(6, dtype=np.float32) * 0.5 - 1).reshape(2, 3),
        "b": np.arange(5, dtype=np.float16) / np.float16(4),
        "c": (-np.arange(3, dtype=np.int32) * 1000).reshape(3, 1),
        "d": np.arange(250, 254, dtype=np.uint8),
        "s": np.array(3.25, dtype=np.float32),
        "e": np.zeros((0, 2), dtype=np.float32),
    }
    stnp.save_file(tensors, path, metadata={"format": "pt", "note": "h\u00e9llo"})


def main(argv) -> int:
    args = argv[1:]
    out = None
    if len(args) >= 2 and args[0] == "--write":
        out, args = args[1], args[2:]
    if len(args) > 1 or (out is None and not args):
        print(__doc__, file=sys.stderr)
        return 2
    if out is not None:
        write_reference(out)
    if args:
        check(args[0])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
