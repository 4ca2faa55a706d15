"""gitmodel: version ML models and data inside Git.

The Python API (see gitmodel.api for the details of each call):

    gitmodel.save(obj, "models/clf.pkl", name="clf", params={...}, metrics={...}, data=[...])
    gitmodel.tag("clf", "v1.0.0"); gitmodel.promote("clf", "v1.0.0", "prod")
    gitmodel.load("clf#prod"); gitmodel.open("data/train.csv", rev="clf@v1.0.0")
    gitmodel.versions("clf"); gitmodel.rollback("clf", to="v1.0.0")

Errors are gitmodel.errors.GitmodelError with a one-line message.
"""

from __future__ import annotations

from .api import (Saved, add, checkout, load, open, promote, pull, push, read_bytes, rollback, save, status,
                  tag, versions)
from .errors import GitmodelError

__version__ = "0.1.0"

__all__ = ["GitmodelError", "Saved", "add", "checkout", "load", "open", "promote", "pull", "push", "read_bytes",
           "rollback", "save", "status", "tag", "versions", "__version__"]
