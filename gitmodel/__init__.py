"""gitmodel: version ML models and data inside Git.

The Python API (see gitmodel.api for the details of each call):

    gitmodel.save(obj, "models/clf.pkl", name="clf", params={...}, metrics={...}, data=[...])
    gitmodel.tag("clf", "v1.0.0"); gitmodel.promote("clf", "v1.0.0", "prod")
    gitmodel.load("clf#prod"); gitmodel.open("data/train.csv", rev="clf@v1.0.0")
    gitmodel.load("clf#prod", verify=True)   # only what allowed signers promoted
    gitmodel.save(weights, "model.safetensors")  # .safetensors/.skops/.onnx run no code to load
    gitmodel.load_tensors("model.safetensors", ["lm_head.weight"], rev="llm@v2.0.0")
    gitmodel.versions("clf"); gitmodel.rollback("clf", to="v1.0.0")

Errors are gitmodel.errors.GitmodelError: `e.message` says what happened,
`e.hint` (or None) what to run next, and str(e) is both on one line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gitmodel.errors import GitmodelError

if TYPE_CHECKING:
    from gitmodel.api import (
        Saved,
        add,
        checkout,
        load,
        load_tensors,
        open,
        promote,
        pull,
        push,
        read_bytes,
        remote_add,
        rollback,
        save,
        status,
        tag,
        versions,
    )

__version__ = "0.1.0"

_API = frozenset({"Saved", "add", "checkout", "load", "load_tensors", "open", "promote", "pull", "push", "read_bytes",
                  "remote_add", "rollback", "save", "status", "tag", "versions"})


def __getattr__(name: str) -> Any:
    # The API is imported on first use (PEP 562): every CLI command imports
    # this package, and the API's imports (json, tempfile, ...) would cost
    # each of them start-up time, `status` in a git hook included.
    if name in _API:
        from gitmodel import api

        value = getattr(api, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = ["GitmodelError", "Saved", "add", "checkout", "load", "load_tensors", "open", "promote", "pull", "push",
           "read_bytes", "remote_add", "rollback", "save", "status", "tag", "versions", "__version__"]
