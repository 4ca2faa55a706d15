"""W6 for bench/run.py: model versions (issue 15).

A version series generated deterministically (numpy + safetensors): a
transformer-like checkpoint, then (a) a fine-tune of the head and last
block, (b) a LoRA update merged into a few layers, (c) a full fine-tune at
a small learning rate, (d) a layer inserted in the middle; a CSV with rows
appended then rows inserted mid-file; a JSONL file with records edited in
place.  On the same bytes, the bytes each method stores:

- whole files, deduplicated by the whole file's hash (gitmodel before
  chunking, DVC, git-lfs);
- fixed 64 KiB chunks, deduplicated by chunk hash;
- FastCDC at 64 KiB average (pyfastcdc with Xet's sizes: 8 / 64 / 128 KiB),
  deduplicated by chunk hash, no compression (the Xet-style reference), and
  the same chunks each compressed with zstd (level 3), to tell what
  compression alone buys from what structure buys;
- gitmodel end to end: a real repository where each version is `gitmodel
  add`ed and committed, its cache's bytes counted after each step;

then what `gitmodel push` sends to a folder remote for each version and what
a teammate's `gitmodel fetch` of version k+1 downloads after having k.

This module knows nothing of run.py's tables: run.py passes it a `measure`
function (time and peak memory of one command) and renders what it returns.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

FIXED = 64 << 10
# Xet's chunker (xet-core, deduplication/src/constants.rs): target 64 KiB,
# min target/8, max target*2.  pyfastcdc with these sizes averages ~69 KiB
# on random bytes (measured).
XET_AVG, XET_MIN, XET_MAX = 64 << 10, 8 << 10, 128 << 10
ZSTD_LEVEL = 3


# -- the data -----------------------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    """A transformer's sizes; float32 throughout (a 1e-5 relative move is
    below bf16's precision, so a fine-tune checkpoint of that kind is f32)."""
    d: int
    ff: int
    layers: int
    vocab: int
    ctx: int

    def params(self) -> int:
        per_layer = 4 * (self.d * self.d + self.d) + 2 * self.ff * self.d + self.ff + self.d + 4 * self.d
        return self.layers * per_layer + 2 * self.vocab * self.d + self.ctx * self.d + 2 * self.d


@dataclass(frozen=True)
class W6Sizes:
    model: Shape  # the version series (>= 200 MB in full mode)
    csv_bytes: int
    jsonl_bytes: int
    big: Shape  # the ~1 GiB checkpoint of the timed table


W6_FULL = W6Sizes(model=Shape(d=512, ff=2048, layers=20, vocab=8192, ctx=1024), csv_bytes=52 << 20,
                  jsonl_bytes=30 << 20, big=Shape(d=1024, ff=4096, layers=18, vocab=16384, ctx=2048))
W6_QUICK = W6Sizes(model=Shape(d=128, ff=512, layers=4, vocab=2048, ctx=128), csv_bytes=2 << 20,
                   jsonl_bytes=3 << 19, big=Shape(d=128, ff=512, layers=6, vocab=4096, ctx=128))


Tensors = dict[str, "object"]  # name -> numpy array (numpy is imported only when data is generated)


def layer_names(i: int) -> list[str]:
    p = f"model.layers.{i}"
    names = [f"{p}.input_layernorm.weight", f"{p}.input_layernorm.bias",
             f"{p}.post_attention_layernorm.weight", f"{p}.post_attention_layernorm.bias"]
    for proj in ("q_proj", "k_proj", "v_proj", "o_proj"):
        names += [f"{p}.self_attn.{proj}.weight", f"{p}.self_attn.{proj}.bias"]
    return names + [f"{p}.mlp.up_proj.weight", f"{p}.mlp.up_proj.bias", f"{p}.mlp.down_proj.weight",
                    f"{p}.mlp.down_proj.bias"]


def new_layer(shape: Shape, i: int, rng: object) -> Tensors:
    """One block with values like trained weights: N(0, 0.02) matrices,
    small biases, layer norms near 1."""
    import numpy as np

    r: np.random.Generator = rng  # type: ignore[assignment]
    d, ff = shape.d, shape.ff

    def normal(*dims: int, std: float = 0.02, mean: float = 0.0) -> object:
        return (r.standard_normal(dims, dtype=np.float32) * np.float32(std) + np.float32(mean))

    p = f"model.layers.{i}"
    out: Tensors = {}
    for ln in ("input_layernorm", "post_attention_layernorm"):
        out[f"{p}.{ln}.weight"] = normal(d, std=0.05, mean=1.0)
        out[f"{p}.{ln}.bias"] = normal(d, std=0.01)
    for proj in ("q_proj", "k_proj", "v_proj", "o_proj"):
        out[f"{p}.self_attn.{proj}.weight"] = normal(d, d)
        out[f"{p}.self_attn.{proj}.bias"] = normal(d, std=0.01)
    out[f"{p}.mlp.up_proj.weight"] = normal(ff, d)
    out[f"{p}.mlp.up_proj.bias"] = normal(ff, std=0.01)
    out[f"{p}.mlp.down_proj.weight"] = normal(d, ff)
    out[f"{p}.mlp.down_proj.bias"] = normal(d, std=0.01)
    return out


def base_model(shape: Shape, seed: int) -> Tensors:
    import numpy as np

    r = np.random.default_rng(seed)
    t: Tensors = {
        "model.embed_tokens.weight": r.standard_normal((shape.vocab, shape.d), dtype=np.float32) * np.float32(0.02),
        "model.embed_positions.weight": r.standard_normal((shape.ctx, shape.d), dtype=np.float32) * np.float32(0.01),
    }
    for i in range(shape.layers):
        t.update(new_layer(shape, i, r))
    t["model.norm.weight"] = r.standard_normal(shape.d, dtype=np.float32) * np.float32(0.05) + np.float32(1)
    t["model.norm.bias"] = r.standard_normal(shape.d, dtype=np.float32) * np.float32(0.01)
    t["lm_head.weight"] = r.standard_normal((shape.vocab, shape.d), dtype=np.float32) * np.float32(0.02)
    return t


def finetune_head(shape: Shape, t: Tensors, seed: int) -> Tensors:
    """(a) the head and the last block move (by ~10% of their spread): the
    rest is frozen, byte for byte."""
    import numpy as np

    r = np.random.default_rng(seed)
    out = dict(t)
    for name in ["lm_head.weight", *layer_names(shape.layers - 1)]:
        w = t[name]
        out[name] = w + r.standard_normal(w.shape, dtype=np.float32) * np.float32(0.002)  # type: ignore[attr-defined]
    return out


def lora_merge(shape: Shape, t: Tensors, seed: int, rank: int = 8) -> Tensors:
    """(b) W += (alpha/r) A @ B into q and v of four layers (PEFT's usual targets)."""
    import numpy as np

    r = np.random.default_rng(seed)
    out = dict(t)
    layers = sorted({shape.layers * k // 5 for k in range(1, 5)})
    for i in layers:
        for proj in ("q_proj", "v_proj"):
            name = f"model.layers.{i}.self_attn.{proj}.weight"
            a = r.standard_normal((shape.d, rank), dtype=np.float32) * np.float32(0.02)
            b = r.standard_normal((rank, shape.d), dtype=np.float32) * np.float32(0.02)
            out[name] = t[name] + (a @ b) * np.float32(16 / rank)  # type: ignore[operator]
    return out


def full_finetune(t: Tensors, seed: int, rel: float = 1e-5) -> Tensors:
    """(c) every weight moves by about `rel` of itself."""
    import numpy as np

    r = np.random.default_rng(seed)
    out: Tensors = {}
    for name, w in t.items():
        noise = r.standard_normal(w.shape, dtype=np.float32)  # type: ignore[attr-defined]
        out[name] = w * (np.float32(1) + np.float32(rel) * noise)  # type: ignore[operator]
    return out


def insert_layer(shape: Shape, t: Tensors, seed: int) -> Tensors:
    """(d) a new block in the middle: the blocks after it are renumbered,
    so their tensors keep their bytes under new names (and new offsets)."""
    import numpy as np

    at = shape.layers // 2
    out: Tensors = {}
    for name, w in t.items():
        if name.startswith("model.layers."):
            i = int(name.split(".")[2])
            if i >= at:
                name = name.replace(f"model.layers.{i}.", f"model.layers.{i + 1}.", 1)
        out[name] = w
    out.update(new_layer(shape, at, np.random.default_rng(seed)))
    return out


def save(t: Tensors, path: Path) -> None:
    from safetensors.numpy import save_file

    tmp = path.with_suffix(".tmp")
    save_file(t, str(tmp), metadata={"format": "pt"})  # type: ignore[arg-type]
    os.replace(tmp, path)


WORDS = ("alpha beta gamma delta model train eval loss token batch epoch layer weight bias norm head "
         "cat dog house tree river blue red green fast slow good bad new old data file row value").split()
COUNTRIES = ("DE", "FR", "US", "GB", "JP", "BR", "IN", "CN", "ES", "IT")


def csv_row(rng: random.Random, i: int) -> str:
    comment = " ".join(rng.choices(WORDS, k=rng.randint(2, 7)))
    return (f"{i},2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:"
            f"{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d},u{rng.randint(0, 99999):05d},"
            f"{rng.choice(COUNTRIES)},p{rng.randint(0, 4999):04d},{rng.randint(1, 20)},"
            f"{rng.randint(100, 99999) / 100:.2f},{comment}\n")


def jsonl_record(rng: random.Random, i: int, label: str | None = None) -> str:
    rec = {"id": i, "user": f"u{rng.randint(0, 99999):05d}", "text": " ".join(rng.choices(WORDS, k=rng.randint(5, 14))),
           "label": label or rng.choice(("pos", "neg", "neutral")), "score": round(rng.random(), 4)}
    return json.dumps(rec, separators=(",", ":")) + "\n"


def rows_until(make: Callable[[random.Random, int], str], rng: random.Random, start: int, nbytes: int
               ) -> list[str]:
    out: list[str] = []
    n = 0
    i = start
    while n < nbytes:
        out.append(make(rng, i))
        n += len(out[-1])
        i += 1
    return out


def write_lines(lines: list[str], path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(lines))
    os.replace(tmp, path)


@dataclass(frozen=True)
class Step:
    label: str  # what changed
    name: str  # the file's path in the workspace
    source: Path  # this version's bytes


def make_series(data: Path, sizes: W6Sizes, log: Callable[[str], None]) -> list[Step]:
    """The version series, generated once into `data` (kept between runs)."""
    shape = sizes.model
    folder = data / f"w6-series-{shape.params()}-{sizes.csv_bytes}-{sizes.jsonl_bytes}"
    m = [folder / f"model-v{i}.safetensors" for i in range(5)]
    c = [folder / f"data-v{i}.csv" for i in range(3)]
    j = [folder / f"records-v{i}.jsonl" for i in range(2)]
    steps = [
        Step("model: base checkpoint", "model.safetensors", m[0]),
        Step("(a) fine-tune of the head and last block", "model.safetensors", m[1]),
        Step("(b) LoRA (rank 8) merged into q, v of 4 layers", "model.safetensors", m[2]),
        Step("(c) full fine-tune, every weight moves ~1e-5 relative", "model.safetensors", m[3]),
        Step("(d) a layer inserted in the middle", "model.safetensors", m[4]),
        Step("CSV: first version", "data.csv", c[0]),
        Step("CSV: rows appended (+2%)", "data.csv", c[1]),
        Step("CSV: rows inserted mid-file (+1%)", "data.csv", c[2]),
        Step("JSONL: first version", "records.jsonl", j[0]),
        Step("JSONL: 100 records edited in place", "records.jsonl", j[1]),
    ]
    done = folder / "complete"
    if done.exists():
        return steps
    log(f"generating {folder.name} ...")
    folder.mkdir(parents=True, exist_ok=True)
    t = base_model(shape, 0)
    save(t, m[0])
    t = finetune_head(shape, t, 1)
    save(t, m[1])
    t = lora_merge(shape, t, 2)
    save(t, m[2])
    t = full_finetune(t, 3)
    save(t, m[3])
    t = insert_layer(shape, t, 4)
    save(t, m[4])
    del t
    rng = random.Random(5)
    rows = ["id,time,user,country,product,qty,price,comment\n"]
    rows += rows_until(csv_row, rng, 0, sizes.csv_bytes)
    write_lines(rows, c[0])
    rows += rows_until(csv_row, rng, len(rows), sizes.csv_bytes // 50)
    write_lines(rows, c[1])
    mid = len(rows) // 2
    rows[mid:mid] = rows_until(csv_row, rng, 10 ** 8, sizes.csv_bytes // 100)
    write_lines(rows, c[2])
    rng = random.Random(6)
    recs = rows_until(jsonl_record, rng, 0, sizes.jsonl_bytes)
    write_lines(recs, j[0])
    for i in sorted(rng.sample(range(len(recs)), 100)):
        recs[i] = jsonl_record(rng, i, label="relabelled")
    write_lines(recs, j[1])
    done.touch()
    return steps


def make_checkpoint(data: Path, shape: Shape, log: Callable[[str], None]) -> tuple[Path, Path]:
    """The ~1 GiB checkpoint of the timed table and its (a) fine-tune."""
    base = data / f"w6-ckpt-{shape.params()}.safetensors"
    tuned = data / f"w6-ckpt-{shape.params()}-a.safetensors"
    if base.is_file() and tuned.is_file():
        return base, tuned
    log(f"generating {base.name} and its fine-tune ...")
    t = base_model(shape, 10)
    save(t, base)
    save(finetune_head(shape, t, 11), tuned)
    return base, tuned


# -- stored bytes by each reference method -----------------------------------------------


def read_file(path: Path) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def fixed_cuts(data: bytes) -> Iterator[tuple[int, int]]:
    for off in range(0, len(data), FIXED):
        yield off, min(FIXED, len(data) - off)


def fastcdc_cuts(data: bytes) -> Iterator[tuple[int, int]]:
    from pyfastcdc import FastCDC

    for c in FastCDC(avg_size=XET_AVG, min_size=XET_MIN, max_size=XET_MAX).cut_buf(data):
        yield c.offset, c.length


@dataclass
class Reference:
    """Stored bytes per step for one method (dedup by hash over the whole series)."""
    name: str
    cut: Callable[[bytes], Iterator[tuple[int, int]]] | None  # None: whole files
    compress: bool = False
    seen: set[bytes] = field(default_factory=set)
    added: list[int] = field(default_factory=list)
    chunks: int = 0
    chunk_bytes: int = 0

    def add(self, data: bytes) -> None:
        import xxhash
        import zstandard

        comp = zstandard.ZstdCompressor(level=ZSTD_LEVEL) if self.compress else None
        view = memoryview(data)
        cuts = self.cut(data) if self.cut else iter([(0, len(data))])
        n = 0
        for off, length in cuts:
            piece = view[off:off + length]
            h = xxhash.xxh3_128_digest(piece)
            self.chunks += 1
            self.chunk_bytes += length
            if h in self.seen:
                continue
            self.seen.add(h)
            n += min(len(comp.compress(piece)), length) if comp else length
        self.added.append(n)


def reference_bytes(steps: list[Step], log: Callable[[str], None]) -> list[Reference]:
    refs = [Reference("whole files", None), Reference("fixed 64 KiB", fixed_cuts),
            Reference("FastCDC 64 KiB", fastcdc_cuts), Reference("FastCDC 64 KiB + zstd", fastcdc_cuts, True)]
    for s in steps:
        data = read_file(s.source)
        for r in refs:
            r.add(data)
    log(f"    W6 references: FastCDC mean chunk {refs[2].chunk_bytes / max(1, refs[2].chunks) / 1024:.1f} KiB")
    return refs


# -- gitmodel, end to end ----------------------------------------------------------------


@dataclass
class GmStep:
    stored: int | None = None  # cache bytes added by this step's add
    add_s: float | None = None
    add_rss_kib: int | None = None
    pushed_report: int | None = None  # PushReport.uploaded_bytes
    pushed_remote: int | None = None  # growth of the remote folder
    fetched_report: int | None = None  # FetchReport.downloaded_bytes
    fetched_cache: int | None = None  # growth of the teammate's cache
    error: str = ""


# What run.py lends: (wall seconds, peak RSS KiB) of one command; raises CommandFailed.
Measure = Callable[[list[str], Path], tuple[float, int]]


class CommandFailed(Exception):
    pass


def tree_bytes(*roots: Path) -> int:
    total = 0
    for root in roots:
        for folder, _, files in os.walk(root):
            for f in files:
                try:
                    total += os.lstat(os.path.join(folder, f)).st_size
                except OSError:
                    pass
    return total


def cache_bytes(repo: Path) -> int:
    """What the cache keeps of the data: packs, chunk lists and loose objects
    (not its stat cache, lock or temp files)."""
    g = repo / ".git" / "gitmodel"
    return tree_bytes(g / "objects", g / "packs", g / "chunked")


def run_cmd(argv: list[str], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if done.returncode != 0:
        msg = " | ".join(line for line in (done.stderr + done.stdout).splitlines() if line.strip())
        raise CommandFailed(f"`{' '.join([Path(argv[0]).name, *argv[1:]])}` exited {done.returncode}: {msg[:300]}")
    return done.stdout


def json_out(text: str) -> dict[str, object]:
    """The JSON document a --json command printed (what follows it is not JSON)."""
    start = text.find("{")
    if start < 0:
        raise CommandFailed("no JSON in the output")
    value, _ = json.JSONDecoder().raw_decode(text[start:])
    if not isinstance(value, dict):
        raise CommandFailed("the JSON output is not an object")
    return value


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(8 << 20):
            h.update(block)
    return h.hexdigest()


def gitmodel_series(steps: list[Step], gm: str, env: dict[str, str], folder: Path, measure: Measure,
                    log: Callable[[str], None]) -> list[GmStep]:
    """Each version `gitmodel add`ed and committed in one repository, its
    cache counted; each commit pushed to a folder remote (link = copy, so the
    bytes are really written); a teammate's clone walks the same commits,
    fetching each after having the previous one."""
    repo, remote, mate = folder / "repo", folder / "remote", folder / "mate"
    remote.mkdir(parents=True)
    repo.mkdir()
    out = [GmStep() for _ in steps]

    def sh(*argv: str | Path, cwd: Path = repo) -> str:
        return run_cmd([str(a) for a in argv], cwd, env)

    sh("git", "init", "-q", "-b", "main")
    sh(gm, "init")
    sh(gm, "remote", "add", "bench", remote, "--default")
    sh(gm, "remote", "modify", "bench", "link", "copy")
    sh("git", "add", "-A")
    sh("git", "commit", "-q", "-m", "init")
    commits: list[str] = []
    for s, r in zip(steps, out):
        shutil.copyfile(s.source, repo / s.name)
        before = cache_bytes(repo)
        try:
            r.add_s, r.add_rss_kib = measure([gm, "add", s.name], repo)
        except CommandFailed as e:
            r.error = str(e)
            log(f"    W6 gitmodel add ({s.label}) n/a: {e}")
            commits.append("")
            continue
        r.stored = cache_bytes(repo) - before
        sh("git", "add", "-A")
        sh("git", "commit", "-q", "--no-verify", "-m", s.label)
        commits.append(sh("git", "rev-parse", "HEAD").strip())
        remote_before = tree_bytes(remote)
        try:
            report = json_out(sh(gm, "push", "--json"))
            sent = report.get("uploaded_bytes")
            r.pushed_report = sent if isinstance(sent, int) else None
            if report.get("missing"):
                raise CommandFailed(f"push left {len(report['missing'])} object(s) behind: "  # type: ignore[arg-type]
                                    "it does not send chunked files")
            r.pushed_remote = tree_bytes(remote) - remote_before
        except CommandFailed as e:
            r.error = r.error or f"push: {e}"
        log(f"    W6 gitmodel {s.label[:40]:40} stored {fmt_bytes(r.stored)}, pushed {fmt_bytes(r.pushed_remote)}"
            f" in {r.add_s:.2f} s")
    # The teammate: a clone that has version k, then fetches version k+1.
    try:
        sh("git", "clone", "-q", repo, mate, cwd=folder)
    except CommandFailed as e:
        for r in out:
            r.error = r.error or f"clone: {e}"
        return out
    for s, r, commit in zip(steps, out, commits):
        if not commit or r.pushed_remote is None:
            r.error = r.error or "not pushed"
            continue
        try:
            sh("git", "checkout", "-q", commit, cwd=mate)
            before = cache_bytes(mate)
            report = json_out(sh(gm, "fetch", "--json", cwd=mate))
            got = report.get("downloaded_bytes")
            r.fetched_report = got if isinstance(got, int) else None
            r.fetched_cache = cache_bytes(mate) - before
            sh(gm, "checkout", s.name, cwd=mate)
            if file_digest(mate / s.name) != file_digest(s.source):
                raise CommandFailed(f"the teammate's {s.name} is not the pushed version")
        except CommandFailed as e:
            r.fetched_report = r.fetched_cache = None
            r.error = r.error or f"teammate: {e}"
    return out


# -- the report --------------------------------------------------------------------------


def fmt_bytes(n: int | None) -> str:
    if n is None:
        return "n/a"
    if n < 10 << 10:
        return f"{n:,} B"
    if n < 10 << 20:
        return f"{n / 1024:.1f} KiB"
    return f"{n / (1 << 20):.1f} MiB"


def pct(n: int | None, of: int) -> str:
    return "n/a" if n is None or not of else f"{100 * n / of:.1f}%"


def render_series(steps: list[Step], refs: list[Reference], gm: list[GmStep], notes: list[str]) -> list[str]:
    sizes = [s.source.stat().st_size for s in steps]
    cdc = refs[2]
    head = ["step", "file size", *(r.name for r in refs), "gitmodel", "gitmodel / FastCDC"]
    lines = ["### W6: model versions — bytes stored", "",
             "Bytes each method adds to the store for each version (deduplicated by hash over the whole series; "
             "gitmodel: its cache's packs, chunk lists and loose objects after `gitmodel add`).", "",
             "| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for i, s in enumerate(steps):
        g = gm[i].stored
        ratio = f"{g / cdc.added[i]:.2f}" if g is not None and cdc.added[i] else "n/a"
        lines.append("| " + " | ".join([s.label, fmt_bytes(sizes[i]), *(fmt_bytes(r.added[i]) for r in refs),
                                        fmt_bytes(g), ratio]) + " |")
    total_g = None if any(x.stored is None for x in gm) else sum(x.stored or 0 for x in gm)
    cdc_total = sum(cdc.added)
    ratio = f"**{total_g / cdc_total:.3f}**" if total_g is not None and cdc_total else "n/a"
    lines.append("| **whole series** | " + " | ".join(
        [fmt_bytes(sum(sizes)), *(fmt_bytes(sum(r.added)) for r in refs), fmt_bytes(total_g), ratio]) + " |")
    lines.append("")
    if total_g is not None and cdc_total:
        verdict = "meets" if total_g * 1.3 <= cdc_total else "misses"
        lines.append(f"- Target: gitmodel at most 1/1.3 = 0.769 of FastCDC-64 KiB over the series; it stores "
                     f"{total_g / cdc_total:.3f} of it ({cdc_total / total_g:.2f}x less): {verdict} the target.")
    lines.append(f"- FastCDC (pyfastcdc, min/avg/max {XET_MIN >> 10}/{XET_AVG >> 10}/{XET_MAX >> 10} KiB as Xet's "
                 f"chunker) made chunks of {cdc.chunk_bytes / max(1, cdc.chunks) / 1024:.1f} KiB on average here.")
    lines += render_transfers(steps, sizes, gm, notes)
    return lines


def render_transfers(steps: list[Step], sizes: list[int], gm: list[GmStep], notes: list[str]) -> list[str]:
    lines = ["", "### W6: model versions — transfers (folder remote, `link = copy`)", "",
             "Push: each version pushed right after its commit (`gitmodel push --json` uploaded_bytes; the remote "
             "folder's growth). Pull: a teammate's clone that has the previous version checks out the next commit "
             "and runs `gitmodel fetch --json` (downloaded_bytes; its cache's growth), then `gitmodel checkout`, "
             "and the file is compared with the pushed one.", "",
             "| step | file size | add | push: reported | push: remote grew | pull: reported | pull: cache grew |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for s, size, r in zip(steps, sizes, gm):
        add = "n/a" if r.add_s is None else f"{r.add_s:.2f} s · {(r.add_rss_kib or 0) / 1024:.0f} MiB"
        cells = [s.label, fmt_bytes(size), add]
        for n in (r.pushed_report, r.pushed_remote, r.fetched_report, r.fetched_cache):
            cells.append("n/a" if n is None else f"{fmt_bytes(n)} ({pct(n, size)})")
        if r.error:
            if r.error not in notes:
                notes.append(r.error)
            cells[-1] += f" [{notes.index(r.error) + 1}]"
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    a = gm[1] if len(gm) > 1 else None
    if a is not None:
        size = sizes[1]
        sent = a.pushed_remote
        got = a.fetched_cache
        lines.append(f"- Target for (a), whose changed tensors are {changed_share(steps[0].source, steps[1].source)} "
                     f"of its bytes: push and pull at most 15% of its size; push sent {pct(sent, size)}, "
                     f"pull downloaded {pct(got, size)}.")
    lines.append("")
    return lines


def changed_share(old: Path, new: Path) -> str:
    """The share of `new`'s bytes in tensors whose bytes differ from `old`'s."""
    try:
        from safetensors import safe_open
    except ImportError:
        return "?"
    with safe_open(str(old), "numpy") as a, safe_open(str(new), "numpy") as b:
        old_t = {k: a.get_tensor(k).tobytes() for k in a.keys()}  # noqa: SIM118 (safe_open is not a dict)
        changed = total = 0
        for k in b.keys():  # noqa: SIM118
            data = b.get_tensor(k).tobytes()
            total += len(data)
            if old_t.get(k) != data:
                changed += len(data)
    return f"{100 * changed / max(1, total):.1f}%"
