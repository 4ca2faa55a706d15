"""Helpers for the metrics tests: a real repository with several model versions.

History built by `build_history` (tags are annotated, GTO grammar, made with
plain `git tag -a`, so they read back through the registry like any others):

    clf@v1.0.0  accuracy .91, loss .30, eval.f1 .80, note "base"; lr .01;
                models/clf.pkl "model A"; data/train/{a,b}.csv
    clf@v1.1.0  accuracy .93, loss .35, eval.f1 .80, note "new";  lr .005;
                models/clf.pkl "model B"; data/train: a removed, b modified, c added
    clf@v1.2.0  metrics.json malformed (params unchanged)
    clf@v1.3.0  metrics.json deleted; models/clf.pkl "model D"
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.support.files import write
from tests.support.git import commit_without_hooks, git, gm_add

CONFIG = """
[model.clf]
path = "models/clf.pkl"
data = ["data/train"]
params = "params.yaml"
metrics = "metrics.json"
"""


def metrics_json(**values: Any) -> str:
    return json.dumps(values, indent=1) + "\n"


def build_history(root: Path, upto: int = 4) -> dict[str, str]:
    """Versions clf@v1.0.0 .. clf@v1.{upto-1}.0 in `root` (a `gitmodel init`ed repo).
    Returns {tag: commit}."""
    with open(root / ".gitmodel" / "config.toml", "a") as f:
        f.write(CONFIG)
    commits: dict[str, str] = {}
    # v1.0.0
    write(root, "models/clf.pkl", "model A")
    write(root, "data/train/a.csv", "x,y\n1,2\n")
    write(root, "data/train/b.csv", "x,y\n3,4\n")
    gm_add(root, "models/clf.pkl", "data/train")
    write(root, "params.yaml", "train:\n  lr: 0.01\n  epochs: 10\n")
    write(root, "metrics.json", metrics_json(accuracy=0.91, loss=0.3, eval={"f1": 0.8}, note="base"))
    commits["clf@v1.0.0"] = commit_without_hooks(root, "v1", "clf@v1.0.0")
    if upto < 2:
        return commits
    # v1.1.0
    write(root, "models/clf.pkl", "model B")
    os.remove(root / "data/train/a.csv")
    write(root, "data/train/b.csv", "x,y\n3,5\n")
    write(root, "data/train/c.csv", "x,y\n6,7\n")
    gm_add(root, "models/clf.pkl", "data/train")
    write(root, "params.yaml", "train:\n  lr: 0.005\n  epochs: 10\n")
    write(root, "metrics.json", metrics_json(accuracy=0.93, loss=0.35, eval={"f1": 0.8}, note="new"))
    commits["clf@v1.1.0"] = commit_without_hooks(root, "v2", "clf@v1.1.0")
    if upto < 3:
        return commits
    # v1.2.0: a broken metrics file
    write(root, "metrics.json", '{"accuracy": 0.95,\n "loss": }\n')
    commits["clf@v1.2.0"] = commit_without_hooks(root, "v3", "clf@v1.2.0")
    if upto < 4:
        return commits
    # v1.3.0: no metrics file at all
    os.remove(root / "metrics.json")
    write(root, "models/clf.pkl", "model D")
    gm_add(root, "models/clf.pkl")
    commits["clf@v1.3.0"] = commit_without_hooks(root, "v4", "clf@v1.3.0")
    return commits


def set_config(root: Path, text: str) -> None:
    with open(root / ".gitmodel" / "config.toml", "a") as f:
        f.write("\n" + text + "\n")


def build_many_versions(root: Path, n: int, metrics: Callable[[int], dict[str, Any]] | None = None,
                        tag: Callable[[int], str] | None = None) -> None:
    """n commits, each tagged (annotated) `tag(i)` (default clf@v1.I.0) with
    metrics.json = `metrics(i)`, written in one `git fast-import`: no git
    process and no hook per commit, so hundreds of versions take a fraction
    of a second to set up."""
    metrics = metrics or (lambda i: {"accuracy": 0.5 + i / (2 * n), "loss": 1 - i / n})
    tag = tag or (lambda i: f"clf@v1.{i}.0")
    with open(root / ".gitmodel" / "config.toml", "a") as f:
        f.write('\n[model.clf]\npath = "models/clf.pkl"\nparams = "params.yaml"\nmetrics = "metrics.json"\n')
    config = (root / ".gitmodel" / "config.toml").read_bytes()
    stream: list[bytes] = []
    t = 1_700_000_000
    for i in range(n):
        files = {
            "metrics.json": json.dumps(metrics(i)).encode(),
            "params.yaml": f"train:\n  lr: {0.01 / (1 + i % 5)}\n".encode(),
            ".gitmodel/config.toml": config,
        }
        msg = f"v{i}".encode()
        stream.append(b"commit refs/heads/main\nmark :%d\ncommitter T <t@e> %d +0000\ndata %d\n%s\n"
                      % (i + 1, t + 60 * i, len(msg), msg))
        if i:
            stream.append(b"from :%d\n" % i)
        for path, data in files.items():
            stream.append(b"M 100644 inline %s\ndata %d\n%s\n" % (path.encode(), len(data), data))
        stream.append(b"tag %s\nfrom :%d\ntagger T <t@e> %d +0000\ndata %d\n%s\n"
                      % (tag(i).encode(), i + 1, t + 60 * i, len(msg), msg))
    subprocess.run(["git", "fast-import", "--quiet"], cwd=root, input=b"".join(stream), check=True)
    git("checkout", "-q", "-f", "main", cwd=root)
