#!/bin/sh
# Builds two small text classification data sets from Debian packages, deterministically (the same
# bytes on every run from the same package versions): OUTDIR/langid.tsv (language of a word, from
# the /usr/share/dict word lists) and OUTDIR/fortunes.tsv (topic of a fortune, from the fortune
# files). Usage: tools/make_text_datasets.sh [OUTDIR]   (default data/text)
#
# langid.tsv   label<TAB>word. Lists: english (wamerican), french (wfrench), german (wngerman),
#              spanish (wspanish), italian (witalian), portuguese (wportuguese), dutch (wdutch,
#              included when installed). Each word is lowercased (Python's full Unicode
#              str.lower()); words with an apostrophe (' or U+2019) or white space are dropped, and
#              so are words with anything but letters and hyphens (digits, periods: "06-dealer",
#              "apr.") or a hyphen at either end; duplicates within a list are merged; a word that
#              is in more than one list is removed from all of them. Lines are grouped by label in
#              the order above, words sorted by code point within a label.
# fortunes.tsv label<TAB>text. One line per fortune of every file in /usr/share/games/fortunes
#              (packages fortunes and fortunes-min; not the .dat indexes or the .u8 links), label =
#              the file's name. Entries are the text between lines holding only "%"; overstrike
#              sequences (char, backspace) are removed, other control characters, tabs and newlines
#              become spaces, runs of white space collapse to one, and empty entries are dropped.
#              A fortune repeated within a file is kept once; one found in more than one file is
#              removed from all of them (it has no single label). Files with fewer than 50
#              fortunes (after that) are skipped: too few to learn or test a topic.
#              Files are decoded as UTF-8 (Latin-1 for a file that is not valid UTF-8). Lines are
#              grouped by file name (sorted), fortunes in file order.
# Both files are written to a temporary name and renamed. Counts per label are printed. Exits 2
# when a required word list or the fortune folder is missing (names the package to install).
set -eu
OUT=${1:-data/text}
PY=${PYTHON:-python3}
command -v "$PY" >/dev/null || { echo "make_text_datasets: $PY not found" >&2; exit 2; }
mkdir -p "$OUT"
exec "$PY" - "$OUT" <<'PY'
import os, re, sys

out = sys.argv[1]
DICT = "/usr/share/dict"
FORTUNES = "/usr/share/games/fortunes"
LISTS = [("english", "american-english", "wamerican", True),
         ("french", "french", "wfrench", True),
         ("german", "ngerman", "wngerman", True),
         ("spanish", "spanish", "wspanish", True),
         ("italian", "italian", "witalian", True),
         ("portuguese", "portuguese", "wportuguese", True),
         ("dutch", "dutch", "wdutch", False)]
MIN_FORTUNES = 50
WORD = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*\Z")  # letters, with single inner hyphens


def write_atomic(name, lines):
    path = os.path.join(out, name)
    tmp = os.path.join(out, ".%s.tmp.%d" % (name, os.getpid()))
    try:
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            for line in lines:
                f.write(line)
                f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def langid():
    words = {}
    for label, fname, package, required in LISTS:
        path = os.path.join(DICT, fname)
        if not os.path.isfile(path):
            if required:
                sys.exit("make_text_datasets: %s is missing (install the Debian package %s)" % (path, package))
            print("langid: %s is missing (package %s): %s left out" % (path, package, label))
            continue
        kept, dropped = set(), 0
        with open(path, "rb") as f:
            for raw in f:
                w = raw.rstrip(b"\r\n").decode("utf-8", "surrogateescape").lower()
                if not w or "'" in w or "\u2019" in w or any(c.isspace() for c in w) or not WORD.match(w):
                    dropped += 1
                    continue
                kept.add(w)
        words[label] = kept
        print("langid: %-10s %7d words from %s (%d entries dropped)" % (label, len(kept), path, dropped))
    seen, shared = {}, set()
    for label, ws in words.items():
        for w in ws:
            if w in seen:
                shared.add(w)
            seen[w] = label
    lines = []
    counts = []
    for label, ws in words.items():
        unique = sorted(ws - shared)
        counts.append((label, len(unique)))
        lines.extend("%s\t%s" % (label, w) for w in unique)
    path = write_atomic("langid.tsv", lines)
    print("langid: %d words in more than one list removed" % len(shared))
    for label, n in counts:
        print("langid.tsv %-10s %d" % (label, n))
    print("langid.tsv total      %d -> %s" % (len(lines), path))


def fortune_entries(data):
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    prev = None
    while prev != text:  # "_\bx" underlines, "x\bx" bold: keep the last character
        prev, text = text, re.sub(r"[^\x08\n]\x08", "", text)
    entries, cur = [], []
    for line in text.split("\n"):
        if line.rstrip("\r") == "%":
            entries.append(cur)
            cur = []
        else:
            cur.append(line)
    entries.append(cur)
    result = []
    for e in entries:
        t = " ".join(e)
        t = "".join(" " if (ord(c) < 32 or 127 <= ord(c) < 160) else c for c in t)
        t = " ".join(t.split())
        if t:
            result.append(t)
    return result


def fortunes():
    if not os.path.isdir(FORTUNES):
        sys.exit("make_text_datasets: %s is missing (install the Debian packages fortunes and fortunes-min)" % FORTUNES)
    files = []
    for name in sorted(os.listdir(FORTUNES)):
        path = os.path.join(FORTUNES, name)
        if name.startswith(".") or name.endswith((".dat", ".u8")) or not os.path.isfile(path):
            continue
        with open(path, "rb") as f:
            entries = list(dict.fromkeys(fortune_entries(f.read())))  # first of each repeat, in order
        files.append((name, entries))
    owners = {}
    for name, entries in files:
        for e in entries:
            owners[e] = owners.get(e, 0) + 1
    shared = sum(1 for n in owners.values() if n > 1)
    lines, counts, skipped = [], [], []
    for name, entries in files:
        entries = [e for e in entries if owners[e] == 1]
        if len(entries) < MIN_FORTUNES:
            skipped.append("%s (%d)" % (name, len(entries)))
            continue
        counts.append((name, len(entries)))
        lines.extend("%s\t%s" % (name, e) for e in entries)
    path = write_atomic("fortunes.tsv", lines)
    print("fortunes: %d fortunes found in more than one file removed" % shared)
    if skipped:
        print("fortunes: skipped, fewer than %d fortunes: %s" % (MIN_FORTUNES, ", ".join(skipped)))
    for label, n in counts:
        print("fortunes.tsv %-14s %d" % (label, n))
    print("fortunes.tsv total          %d in %d classes -> %s" % (len(lines), len(counts), path))


langid()
fortunes()
PY
