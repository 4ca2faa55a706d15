#!/usr/bin/env python3
"""The five steps of model versioning with gitmodel, end to end, on
scikit-learn and a dataset that ships inside it (nothing is downloaded).

    1. train     a RandomForest on the breast-cancer dataset
    2. save      v1.0.0 with its data, params and metrics  (gitmodel.save + git commit + gitmodel.tag)
    3. retrain   with other params and save v1.1.0
    4. compare   the two versions  (gitmodel versions / metrics diff / diff)
    5. deploy    promote the better one to prod, load it by stage, then roll back

and a teammate who clones the repository and runs `gitmodel pull`.

Run it with `python3 run.py demo`: it works in a throwaway folder with a
local-folder remote (the embedded default) and prints every step.  Each
`$ gitmodel ...` line is the command a user would type; Python calls are
shown as `>>>`.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
from typing import Any

import gitmodel

GITMODEL = [sys.executable, "-m", "gitmodel"]


def step(title: str) -> None:
    print(f"\n{'=' * 78}\n{title}\n{'=' * 78}", flush=True)


def sh(*args: str, cwd: str, ok: tuple[int, ...] = (0,)) -> str:
    """Run a command as a user would type it, print it and its output."""
    print(f"\n$ {' '.join(shlex.quote(a) for a in args)}", flush=True)
    cmd = [*GITMODEL, *args[1:]] if args[0] == "gitmodel" else list(args)
    proc = subprocess.run(cmd, cwd=cwd, text=True, capture_output=True)
    out = (proc.stdout + proc.stderr).rstrip()
    if out:
        print(out, flush=True)
    if proc.returncode not in ok:
        raise SystemExit(f"demo: `{' '.join(args)}` failed with exit code {proc.returncode}")
    return proc.stdout


def py(call: str) -> None:
    print(f"\n>>> {call}", flush=True)


def train(n_estimators: int, max_depth: int | None) -> tuple[Any, dict[str, float]]:
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.model_selection import train_test_split

    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0)
    clf = RandomForestClassifier(n_estimators=n_estimators, max_depth=max_depth, random_state=0)
    clf.fit(X_train, y_train)
    pred = clf.predict(X_test)
    return clf, {"accuracy": round(float(accuracy_score(y_test, pred)), 4),
                 "f1": round(float(f1_score(y_test, pred)), 4)}


def write_dataset(path: str) -> None:
    import csv

    from sklearn.datasets import load_breast_cancer

    ds = load_breast_cancer()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([*ds.feature_names, "target"])
        w.writerows([*row, label] for row, label in zip(ds.data.tolist(), ds.target.tolist()))


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="gitmodel-demo-") as tmp:
        project = os.path.join(tmp, "project")
        storage = os.path.join(tmp, "storage")  # the shared remote: any folder, or s3://bucket/prefix
        origin = os.path.join(tmp, "origin.git")  # where the team pushes git commits
        os.makedirs(project)
        print(f"gitmodel demo: a throwaway project in {project}")
        subprocess.run(["git", "init", "-q", "--bare", "-b", "main", origin], check=True)
        for args in (["git", "init", "-q", "-b", "main"], ["git", "config", "user.email", "demo@example.com"],
                     ["git", "config", "user.name", "Demo"], ["git", "remote", "add", "origin", origin]):
            subprocess.run(args, cwd=project, check=True)
        os.chdir(project)

        step("0. set up: gitmodel init, a remote for the team, git hooks")
        sh("gitmodel", "init", cwd=project)
        sh("gitmodel", "remote", "add", "storage", storage, "--default", cwd=project)
        write_dataset(os.path.join(project, "data", "train.csv"))

        step("1-2. train a model and save version v1.0.0 with its data, params and metrics")
        params1 = {"n_estimators": 10, "max_depth": 2}
        clf, metrics1 = train(**params1)
        py(f"gitmodel.save(clf, 'models/clf.pkl', name='clf', params={params1}, metrics={metrics1}, "
           f"data=['data/train.csv'])")
        saved = gitmodel.save(clf, "models/clf.pkl", name="clf", params=params1, metrics=metrics1,
                              data=["data/train.csv"])
        print(f"saved {saved.path} ({saved.size} bytes, {saved.oid})")
        sh("cat", "models/clf.pkl.gm", cwd=project)
        sh("git", "commit", "-qm", "Train clf: 10 shallow trees", cwd=project)
        sh("gitmodel", "tag", "clf", "v1.0.0", "-m", "baseline", cwd=project)
        print("\n# git push uploads the objects first (the pre-push hook `gitmodel init` installed);")
        print("# `gitmodel push` does the same by hand")
        sh("git", "push", "-q", "origin", "main", "--tags", cwd=project)
        sh("gitmodel", "push", cwd=project)
        sh("gitmodel", "status", cwd=project)

        step("3. retrain with other params and save v1.1.0")
        params2 = {"n_estimators": 200, "max_depth": None}
        clf2, metrics2 = train(**params2)
        py(f"gitmodel.save(clf2, 'models/clf.pkl', name='clf', params={params2}, metrics={metrics2}, "
           f"data=['data/train.csv'])")
        gitmodel.save(clf2, "models/clf.pkl", name="clf", params=params2, metrics=metrics2, data=["data/train.csv"])
        sh("git", "commit", "-qm", "Train clf: 200 deep trees", cwd=project)
        sh("gitmodel", "tag", "clf", "--bump", "minor", "-m", "more trees", cwd=project)
        sh("git", "push", "-q", "origin", "main", "--tags", cwd=project)

        step("4. compare the two versions")
        sh("gitmodel", "versions", "clf", cwd=project)
        sh("gitmodel", "metrics", "diff", "clf@v1.0.0", "clf@v1.1.0", cwd=project)
        sh("gitmodel", "params", "diff", "clf@v1.0.0", "clf@v1.1.0", cwd=project)
        sh("gitmodel", "diff", "clf@v1.0.0", "clf@v1.1.0", cwd=project)

        step("5. deploy the better version, load it by stage, roll back")
        best = "v1.1.0" if metrics2["accuracy"] >= metrics1["accuracy"] else "v1.0.0"
        other = "v1.0.0" if best == "v1.1.0" else "v1.1.0"
        sh("gitmodel", "promote", "clf", best, "prod", cwd=project)
        py("gitmodel.load('clf#prod')")
        prod = gitmodel.load("clf#prod")
        print(f"loaded {type(prod).__name__} with {len(prod.estimators_)} trees; "
              f"first prediction: {prod.predict(_sample())[0]}")
        print("\n# a problem in production: put the previous version back in the prod stage")
        sh("gitmodel", "promote", "clf", other, "prod", cwd=project)
        py("gitmodel.load('clf#prod')")
        prod = gitmodel.load("clf#prod")
        print(f"loaded {type(prod).__name__} with {len(prod.estimators_)} trees")
        sh("gitmodel", "history", "clf", cwd=project)
        print("\n# and on the development side, put v1.0.0's artifact back in the workspace, staged")
        sh("gitmodel", "rollback", "clf", "--to", "v1.0.0", cwd=project)
        sh("git", "status", "--short", cwd=project)
        sh("git", "commit", "-qm", "Roll clf back to v1.0.0", cwd=project)
        sh("gitmodel", "push", cwd=project)
        sh("git", "push", "-q", "origin", "main", "--tags", cwd=project)

        step("a teammate: git clone, then gitmodel pull")
        mate = os.path.join(tmp, "teammate")
        sh("git", "clone", "-q", origin, mate, cwd=tmp)
        sh("gitmodel", "pull", cwd=mate)
        sh("gitmodel", "status", cwd=mate)
        sh("gitmodel", "versions", "clf", cwd=mate)
        os.chdir(tmp)
    print("\ndemo finished: the project above was temporary and is gone.")
    return 0


def _sample() -> Any:
    from sklearn.datasets import load_breast_cancer

    return load_breast_cancer(return_X_y=True)[0][:1]


if __name__ == "__main__":
    sys.exit(main())
