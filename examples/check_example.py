#!/usr/bin/env python3
"""End-to-end test of a training example (run by meson test), in mixed_f16: checks the per-epoch
lines, the final JSON line, the CSV step log (loss decreasing) and, for the classifiers, a resume
from the checkpoint written by --save.

  fashion_mnist: the installed Fashion-MNIST (/usr/share/datasets/fashion-mnist; skipped, exit 77,
                 when absent), first 256 images.
  cifar10:       a small learnable CIFAR-10-format data set written here (a bright square whose
                 position gives the class).
  text_classify: a language-identification TSV written here (3,000 words of four made-up
                 languages with their own syllables): test accuracy well above chance (0.25);
                 --export-data; a small aclImdb folder written here (--imdb, the BCE head, an
                 LSTM); and, when data/text/langid.tsv exists, 3,000 of its words (seven languages).
  char_lm:       sentences of a small made-up grammar written here: the loss falls below a bound
                 within a few hundred steps; bits per character and a sample are printed.
  compress_fashion_mnist: a smoke run on 1,024 Fashion-MNIST images (skipped, exit 77, without
                 them): every method's row (accuracy above chance, bytes by the stated encodings),
                 the distillation gain, and a bad --modes value rejected.

Usage: check_example.py NAME EXECUTABLE
"""
import csv
import json
import math
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile

FASHION = "/usr/share/datasets/fashion-mnist"
# Built by tools/make_text_datasets.sh (.ci/run does); the real-data case is skipped without it.
LANGID = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "text", "langid.tsv")
JSON_KEYS = ("precision", "epochs", "test_accuracy", "test_loss", "final_train_loss", "train_images",
             "train_images_per_sec", "peak_device_bytes", "skipped_steps", "final_loss_scale")


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def run(cmd, want_json=True):
    """Runs an example; returns (the JSON of the last stdout line, the epoch lines, stdout)."""
    print("+ " + " ".join(cmd), file=sys.stderr)
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sys.stderr.write(p.stderr[-4000:])
    sys.stderr.write(p.stdout)
    if p.returncode != 0:
        fail(f"{cmd[0]} exited with {p.returncode}")
    if not want_json:
        return None, [], p.stdout
    lines = [l for l in p.stdout.splitlines() if l.strip()]
    if not lines:
        fail("no output")
    try:
        result = json.loads(lines[-1])
    except ValueError:
        fail("the last line of stdout is not JSON: " + lines[-1])
    return result, [l for l in lines if l.startswith("epoch ")], p.stdout


def read_log(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def check_result(result, epoch_lines, epochs, keys=JSON_KEYS):
    for key in keys:
        if key not in result:
            fail(f"JSON lacks {key}: {result}")
    if result["precision"] != "mixed_f16" or result["epochs"] != epochs:
        fail(f"JSON precision/epochs: {result}")
    if len(epoch_lines) != epochs:
        fail(f"{len(epoch_lines)} epoch lines, want {epochs}")
    if not (0 <= result["test_accuracy"] <= 1) or result["peak_device_bytes"] <= 0:
        fail(f"JSON values: {result}")


def check_loss_falls(rows, factor=0.9):
    losses = [float(r["loss"]) for r in rows if r["step_skipped"] == "0"]
    k = max(2, len(losses) // 4)
    first, last = sum(losses[:k]) / k, sum(losses[-k:]) / k
    print(f"mean loss of the first {k} steps {first:.4f}, of the last {k} {last:.4f}", file=sys.stderr)
    if not last < factor * first:
        fail(f"the loss did not decrease: {first:.4f} -> {last:.4f}")
    return last


def train_and_resume(common, epochs, batch, tmp, keys=JSON_KEYS):
    """Trains `epochs` epochs with --log and --save, checks the output and the log, then resumes
    for one more epoch from the checkpoint. Returns the JSON of both runs."""
    log, ckpt = os.path.join(tmp, "log.csv"), os.path.join(tmp, "ckpt.safetensors")
    result, epoch_lines, _ = run(common + ["--epochs", str(epochs), "--log", log, "--save", ckpt])
    check_result(result, epoch_lines, epochs, keys)
    per_epoch = (result["train_images"] + batch - 1) // batch
    rows = read_log(log)
    steps = epochs * per_epoch
    if len(rows) != steps:
        fail(f"log has {len(rows)} rows, want {steps}")
    if [int(r["step"]) for r in rows] != list(range(steps)):
        fail("log steps are not 0..n-1")
    check_loss_falls(rows)
    if not os.path.exists(ckpt):
        fail("no checkpoint written")
    # resume: one more epoch from the checkpoint; the log continues at the next step
    result2, epoch_lines2, _ = run(common + ["--epochs", str(epochs + 1), "--log", log, "--resume", ckpt])
    if len(epoch_lines2) != 1 or not epoch_lines2[0].startswith(f"epoch {epochs + 1}/"):
        fail(f"resume ran {epoch_lines2}")
    rows2 = read_log(log)
    if int(rows2[-1]["step"]) != steps + per_epoch - 1:
        fail(f"resumed log ends at step {rows2[-1]['step']}")
    return result, result2


# ---------------------------------------------------------------- image examples

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


def check_images(name, exe, tmp):
    if name == "fashion_mnist":
        if not os.path.isdir(FASHION):
            print(f"SKIP: {FASHION} is absent (apt install dataset-fashion-mnist)", file=sys.stderr)
            return 77
        data, limit, lr = FASHION, 256, "1e-3"
    else:
        data, limit, lr = tmp, 0, "2e-3"
        rng = random.Random(1)
        write_cifar(os.path.join(tmp, "data_batch_1.bin"), 160, rng)
        write_cifar(os.path.join(tmp, "test_batch.bin"), 60, rng)
    common = [exe, "--data", data, "--batch", "32", "--lr", lr, "--seed", "3", "--precision", "mixed_f16"]
    if limit:
        common += ["--limit", str(limit)]
    _, result2 = train_and_resume(common, 3, 32, tmp)
    print(f"OK: {name}: test accuracy {result2['test_accuracy']}", file=sys.stderr)
    return 0


# ---------------------------------------------------------------- text_classify

# Four made-up languages: each has its own syllables and shares two with a neighbour, so a word
# made only of shared syllables could be either (the best accuracy is below 1).
SYLLABLES = {
    "east": ["ang", "zh", "xi", "ua", "la", "en"],
    "north": ["str", "sk", "ja", "ek", "en", "ol"],
    "south": ["ma", "ri", "no", "ve", "ol", "ta"],
    "west": ["th", "ee", "wh", "ck", "ta", "la"],
}


def write_langid(path, words_per_language, rng):
    """label<TAB>word lines, grouped by label like data/text/langid.tsv; a word made in two
    languages is dropped from both."""
    made = {}
    for lang, syl in SYLLABLES.items():
        words = set()
        while len(words) < words_per_language:
            words.add("".join(rng.choice(syl) for _ in range(rng.randint(2, 4))))
        made[lang] = words
    with open(path, "w") as f:
        for lang, words in made.items():
            others = set().union(*(w for l, w in made.items() if l != lang))
            for w in sorted(words - others):
                f.write(f"{lang}\t{w}\n")


def read_safetensors(path):
    """(header dict, raw data bytes) of a safetensors file, parsed by hand."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    return json.loads(blob[8:8 + n]), blob[8 + n:]


def check_export(exe, tsv, tmp):
    out = os.path.join(tmp, "split.safetensors")
    run([exe, "--data", tsv, "--max-len", "16", "--seed", "3", "--epochs", "0", "--limit", "500",
         "--export-data", out], want_json=False)
    header, data = read_safetensors(out)
    meta = header.pop("__metadata__")
    if meta.get("classes") != "4" or meta.get("max_len") != "16" or int(meta.get("vocab_size", 0)) < 10:
        fail(f"export metadata: {meta}")
    want = {"train_tokens": [500, 16], "train_lengths": [500], "train_labels": [500],
            "test_tokens": [500, 16], "test_lengths": [500], "test_labels": [500]}
    for key, shape in want.items():
        if header.get(key, {}).get("shape") != shape or header[key]["dtype"] != "I32":
            fail(f"export {key}: {header.get(key)}")
    b, e = header["train_labels"]["data_offsets"]
    labels = struct.unpack(f"<{(e - b) // 4}i", data[b:e])
    if sorted(set(labels)) != [0, 1, 2, 3]:
        fail(f"--limit did not keep every class: {sorted(set(labels))}")


def write_imdb(root, rng):
    good = ["great", "wonderful", "loved", "superb", "moving", "brilliant"]
    bad = ["awful", "boring", "hated", "dull", "terrible", "waste"]
    filler = ["the", "film", "was", "acting", "plot", "story", "and", "this", "movie", "really"]
    for split, n in (("train", 48), ("test", 16)):
        for label, words in (("pos", good), ("neg", bad)):
            d = os.path.join(root, split, label)
            os.makedirs(d)
            for i in range(n):
                text = " ".join(rng.choice(filler + words + words) for _ in range(rng.randint(6, 14)))
                with open(os.path.join(d, f"{i}_{rng.randint(1, 10)}.txt"), "w") as f:
                    f.write(text.capitalize() + ".<br /><br />" + rng.choice(words).capitalize() + "!")


def check_text_classify(exe, tmp):
    rng = random.Random(1)
    tsv = os.path.join(tmp, "langid.tsv")
    write_langid(tsv, 750, rng)
    check_export(exe, tsv, tmp)
    common = [exe, "--data", tsv, "--level", "chars", "--max-len", "16", "--batch", "32",
              "--seed", "3", "--precision", "mixed_f16"]
    keys = JSON_KEYS + ("train_tokens_per_sec",)
    result, result2 = train_and_resume(common, 3, 32, tmp, keys)
    if result["test_accuracy"] < 0.8:  # chance is 0.25
        fail(f"test accuracy {result['test_accuracy']} is not well above chance (0.25)")
    print(f"OK: text_classify (langid): test accuracy {result['test_accuracy']}, after resume "
          f"{result2['test_accuracy']}", file=sys.stderr)

    imdb = os.path.join(tmp, "aclImdb")
    write_imdb(imdb, rng)
    result, epoch_lines, _ = run([exe, "--imdb", imdb, "--rnn", "lstm", "--max-len", "24", "--batch", "16",
                                  "--lr", "5e-3", "--seed", "3", "--precision", "mixed_f16", "--epochs", "2"])
    check_result(result, epoch_lines, 2, keys)
    if result["train_images"] != 96 or not math.isfinite(result["test_loss"]):
        fail(f"IMDB run: {result}")
    print(f"OK: text_classify (IMDB, BCE head): test accuracy {result['test_accuracy']}", file=sys.stderr)

    if not os.path.exists(LANGID):
        print(f"(no {LANGID}: the real-data case is skipped; tools/make_text_datasets.sh builds it)", file=sys.stderr)
        return 0
    # 3,000 training and 3,000 test words drawn stratified; the largest class is 24% of them
    result, epoch_lines, _ = run([exe, "--data", LANGID, "--limit", "3000", "--epochs", "3", "--seed", "1",
                                  "--precision", "mixed_f16"])
    check_result(result, epoch_lines, 3, keys)
    if result["test_accuracy"] < 0.55:
        fail(f"langid.tsv: test accuracy {result['test_accuracy']} is not well above the largest class (0.24)")
    print(f"OK: text_classify (3,000 words of langid.tsv): test accuracy {result['test_accuracy']}", file=sys.stderr)
    return 0


# ---------------------------------------------------------------- char_lm

LM_BOUND = 0.8  # nats per character: about 0.45 after 300 steps here; unigram guessing costs 2.9


def write_sentences(path, lines, rng):
    subjects = ["the cat", "a dog", "my friend", "the old man", "she", "he", "our teacher"]
    verbs = ["sees", "likes", "eats", "finds", "wants", "paints"]
    objects = ["the fish", "a red ball", "some bread", "the moon", "a book", "two apples"]
    ends = [".", "!", " today.", " again."]
    with open(path, "w") as f:
        for i in range(lines):
            text = " ".join(f"{rng.choice(subjects)} {rng.choice(verbs)} {rng.choice(objects)}{rng.choice(ends)}"
                            for _ in range(rng.randint(1, 3)))
            f.write(f"topic{i % 3}\t{text.capitalize()}\n")


def check_char_lm(exe, tmp):
    rng = random.Random(1)
    tsv = os.path.join(tmp, "sentences.tsv")
    write_sentences(tsv, 800, rng)
    log = os.path.join(tmp, "log.csv")
    steps = 300
    result, epoch_lines, out = run([exe, "--data", tsv, "--context", "32", "--dim", "64", "--heads", "4",
                                    "--layers", "2", "--batch", "32", "--seed", "3", "--precision", "mixed_f16",
                                    "--epochs", "100", "--steps", str(steps), "--log", log, "--sample", "80"])
    for key in JSON_KEYS + ("test_bpc", "train_tokens_per_sec", "train_steps"):
        if key not in result:
            fail(f"JSON lacks {key}: {result}")
    if result["train_steps"] != steps or not epoch_lines:
        fail(f"--steps {steps}: {result['train_steps']} steps, {len(epoch_lines)} epoch lines")
    if abs(result["test_bpc"] - result["test_loss"] / math.log(2)) > 1e-3:
        fail(f"test_bpc is not test_loss / ln 2: {result}")
    if "sample (" not in out:
        fail("no sample printed")
    rows = read_log(log)
    if len(rows) != steps:
        fail(f"log has {len(rows)} rows, want {steps}")
    last = check_loss_falls(rows, 0.6)
    if not last < LM_BOUND or not result["test_loss"] < LM_BOUND:
        fail(f"after {steps} steps the loss is {last:.4f} (train) / {result['test_loss']:.4f} (test), "
             f"not below {LM_BOUND}")
    print(f"OK: char_lm: test loss {result['test_loss']:.4f} ({result['test_bpc']:.3f} bits/char) "
          f"after {steps} steps", file=sys.stderr)
    return 0


# ---------------------------------------------------------------- compress_fashion_mnist

COMPRESS_MODES = ("fp32", "mixed_f16", "pruned", "qat", "ptq", "shared", "student", "distilled")


def check_compress(exe):
    if not os.path.isdir(FASHION):
        print(f"SKIP: {FASHION} is absent (apt install dataset-fashion-mnist)", file=sys.stderr)
        return 77
    p = subprocess.run([exe, "--modes", "fp32,bogus"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode != 2 or "bogus" not in p.stderr:
        fail(f"--modes fp32,bogus: exit {p.returncode}, stderr {p.stderr[-300:]}")
    result, _, out = run([exe, "--data", FASHION, "--limit", "1024", "--epochs", "2", "--batch", "32", "--seed", "3",
                          "--finetune-epochs", "1", "--calib-batches", "4", "--json"])
    rows = {m["mode"]: m for m in result.get("methods", [])}
    if sorted(rows) != sorted(COMPRESS_MODES) or "distill_gain" not in result:
        fail(f"JSON methods {sorted(rows)}, keys {sorted(result)}")
    if "method" not in out or "distillation gain" not in out:
        fail("no table printed")
    P = rows["fp32"]["params"]
    for mode, r in rows.items():
        if not 0.2 < r["test_accuracy"] <= 1:  # chance is 0.1
            fail(f"{mode}: test accuracy {r['test_accuracy']}")
    want = {"fp32": (4 * P, 4 * P), "mixed_f16": (2 * P, 2 * P),
            "pruned": (0.2 * 2 * P, 0.4 * 2 * P),   # 80% zeros: F16 nonzeros + a 1-bit bitmap
            "qat": (P, 1.1 * P), "ptq": (P, 1.1 * P),  # I8 weights + scales + F32 biases
            "shared": (0.5 * P, 0.3 * 2 * P)}       # 4-bit indices + codebooks + F16 biases
    for mode, (lo, hi) in want.items():
        if not lo <= rows[mode]["model_bytes"] <= hi:
            fail(f"{mode}: {rows[mode]['model_bytes']} bytes, want [{lo:.0f}, {hi:.0f}] for {P} parameters")
    if not rows["student"]["params"] == rows["distilled"]["params"] < P / 3:
        fail(f"student params {rows['student']['params']} / {rows['distilled']['params']} (teacher {P})")
    gain = rows["distilled"]["test_accuracy"] - rows["student"]["test_accuracy"]
    if abs(result["distill_gain"] - gain) > 1e-3:
        fail(f"distill_gain {result['distill_gain']} is not distilled - student ({gain})")
    print("OK: compress_fashion_mnist: " + ", ".join(f"{m} {rows[m]['test_accuracy']:.3f}" for m in COMPRESS_MODES),
          file=sys.stderr)
    return 0


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    name, exe = sys.argv[1], sys.argv[2]
    tmp = tempfile.mkdtemp(prefix="halfcl-example-")
    try:
        if name in ("fashion_mnist", "cifar10"):
            return check_images(name, exe, tmp)
        if name == "text_classify":
            return check_text_classify(exe, tmp)
        if name == "char_lm":
            return check_char_lm(exe, tmp)
        if name == "compress_fashion_mnist":
            return check_compress(exe)
        fail("unknown example " + name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
