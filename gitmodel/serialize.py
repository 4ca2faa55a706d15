"""How `gitmodel.save` writes a model and `gitmodel.load` reads it back,
chosen by the file's name, never by its content (so a pickle cannot pass
for a safetensors file):

- `.safetensors`: a dict of NumPy arrays (or of PyTorch tensors, when torch
  is installed) via the safetensors package; loads back as the same kind.
  Tensors and a JSON header: loading runs no code.
- `.skops`: scikit-learn estimators via skops.  Loading first lists the
  types the file would build (`skops.io.get_untrusted_types`) and refuses
  any skops does not trust by default: only known scikit-learn, NumPy and
  SciPy types are built, no code of the file's choosing runs.
- `.onnx`: an ONNX model (`onnx.ModelProto`); loads back as a ModelProto
  (a graph, not code; external-data paths inside it are not followed).
- anything else (`.pkl`, `.joblib`, ...): joblib, which pickles.  Unpickling
  runs whatever code the file holds: `[security] pickle` (`pickle_policy`)
  decides whether such files load.

The packages are optional extras (`pip install 'gitmodel[safe]'`,
`'gitmodel[onnx]'`), imported only when a file needs them; a missing one
is one line naming the extra.
"""

from __future__ import annotations

import io
import posixpath
from typing import IO, Any

from gitmodel.errors import ConfigError, GitmodelError


class UnsafeFormatError(GitmodelError):
    """A model file would run code to load, and the policy refuses it."""


SAFETENSORS = "safetensors"
SKOPS = "skops"
ONNX = "onnx"
PICKLE = "pickle"

_BY_SUFFIX = {".safetensors": SAFETENSORS, ".skops": SKOPS, ".onnx": ONNX}

POLICIES = ("allow", "verified", "never")  # from loosest to strictest
DEFAULT_POLICY = "allow"  # the behaviour before the setting existed


def format_of(name: str) -> str:
    """The serialiser a file name picks: safetensors, skops, onnx or pickle."""
    return _BY_SUFFIX.get(posixpath.splitext(name.lower())[1], PICKLE)


def runs_code(name: str) -> bool:
    """Whether loading a file of this name unpickles (runs code)."""
    return format_of(name) == PICKLE


def pickle_policy(security: Any, floor: str | None = None) -> str:
    """`[security] pickle` of the config (`security`: its [security] table,
    or None), made at least as strict as `floor` (a caller's own choice,
    which can tighten the repository's setting, never loosen it)."""
    where = ".gitmodel/config.toml: [security] pickle"
    value: Any = DEFAULT_POLICY
    if security is not None:
        if not isinstance(security, dict):
            raise ConfigError(".gitmodel/config.toml: [security] must be a table")
        value = security.get("pickle", DEFAULT_POLICY)
    if value not in POLICIES:
        raise ConfigError(f"{where} must be \"allow\", \"verified\" or \"never\", not {str(value)[:40]!r}")
    if floor is not None and floor not in POLICIES:
        raise GitmodelError(f"pickle= must be \"allow\", \"verified\" or \"never\", not {str(floor)[:40]!r}")
    return str(max(value, floor or DEFAULT_POLICY, key=POLICIES.index))


def _need(module: str, extra: str, what: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise GitmodelError(f"{what} needs the {module.split('.')[0]} package",
                            hint=f"pip install 'gitmodel[{extra}]'") from None


# -- save -------------------------------------------------------------------------------

def dump(obj: Any, name: str, f: IO[bytes]) -> str:
    """Write `obj` to the open file `f` in the format `name` picks; that format."""
    kind = format_of(name)
    if kind == SAFETENSORS:
        f.write(_safetensors_bytes(obj, name))
    elif kind == SKOPS:
        sio = _need("skops.io", "safe", f"saving {name}")
        f.write(sio.dumps(obj))
    elif kind == ONNX:
        onnx = _need("onnx", "onnx", f"saving {name}")
        if not isinstance(obj, onnx.ModelProto):
            raise GitmodelError(f"{name}: a .onnx file holds an onnx.ModelProto, not a {type(obj).__name__}",
                                hint="convert the model first (skl2onnx, torch.onnx.export), or pick another suffix")
        f.write(obj.SerializeToString())
    else:
        import joblib  # type: ignore[import-untyped]

        joblib.dump(obj, f)
    return kind


def _torch_tensors(obj: dict[Any, Any]) -> bool:
    """Whether `obj` is a PyTorch state dict (torch is imported only when
    it is already loaded: a dict of its tensors means it is)."""
    import sys

    torch = sys.modules.get("torch")
    return torch is not None and bool(obj) and all(isinstance(v, torch.Tensor) for v in obj.values())


def _safetensors_bytes(obj: Any, name: str) -> bytes:
    if not isinstance(obj, dict) or not all(isinstance(k, str) for k in obj):
        raise GitmodelError(f"{name}: a .safetensors file holds a dict of named arrays, not a {type(obj).__name__}",
                            hint="save a state dict ({name: array}), or pick another suffix (.skops, .pkl)")
    if _torch_tensors(obj):
        st_torch = _need("safetensors.torch", "safe", f"saving {name}")
        data: bytes = st_torch.save(obj, metadata={"format": "pt"})
        return data
    np = _need("numpy", "safe", f"saving {name}")
    bad = next((k for k, v in obj.items() if not isinstance(v, np.ndarray)), None)
    if bad is not None:
        raise GitmodelError(f"{name}: {bad!r} is a {type(obj[bad]).__name__}; a .safetensors file holds only "
                            f"NumPy arrays (or PyTorch tensors)")
    st_numpy = _need("safetensors.numpy", "safe", f"saving {name}")
    try:
        out: bytes = st_numpy.save(obj, metadata={"format": "np"})
    except Exception as e:  # safetensors' own refusals: object dtypes, shared memory, ...
        raise GitmodelError(f"{name}: safetensors cannot store it ({str(e)[:200]})") from None
    return out


# -- load -------------------------------------------------------------------------------

def load(data: bytes, name: str, label: str) -> Any:
    """What `dump` wrote, from its bytes (already hash-checked); `label`
    names the file in errors.  A pickle-based file is loaded only when the
    caller's policy allowed it (see gitmodel.api.load)."""
    kind = format_of(name)
    if kind == SAFETENSORS:
        return _load_safetensors(data, name, label)
    if kind == SKOPS:
        return _load_skops(data, name, label)
    if kind == ONNX:
        onnx = _need("onnx", "onnx", f"loading {name}")
        try:
            return onnx.load_model_from_string(data)
        except Exception as e:  # protobuf's DecodeError and kin: a file that is not a model
            raise GitmodelError(f"{label} is not an ONNX model we can read ({str(e)[:120] or type(e).__name__})") \
                from None
    import joblib

    return joblib.load(io.BytesIO(data))


def _load_safetensors(data: bytes, name: str, label: str) -> Any:
    st_numpy = _need("safetensors.numpy", "safe", f"loading {name}")
    try:
        import json

        # Which kind was saved: PyTorch's writer says format "pt" (as `dump` does).
        n = int.from_bytes(data[:8], "little")
        header = json.loads(data[8:8 + n]) if 0 < n <= len(data) - 8 else {}
        meta = header.get("__metadata__") if isinstance(header, dict) else None
        if isinstance(meta, dict) and meta.get("format") == "pt":
            import importlib.util

            if importlib.util.find_spec("torch") is not None:
                st_torch = _need("safetensors.torch", "safe", f"loading {name}")
                return st_torch.load(data)
        return st_numpy.load(data)
    except GitmodelError:
        raise
    except Exception as e:  # a malformed header, a dtype NumPy lacks (bf16): one line
        raise GitmodelError(f"{label} is not a safetensors file we can read ({str(e)[:160] or type(e).__name__})") \
            from None


def _load_skops(data: bytes, name: str, label: str) -> Any:
    sio = _need("skops.io", "safe", f"loading {name}")
    try:
        untrusted = sio.get_untrusted_types(data=data)
    except Exception as e:  # not a zip, no schema, ...: a file skops did not write
        raise GitmodelError(f"{label} is not a skops file we can read ({str(e)[:160] or type(e).__name__})") \
            from None
    if untrusted:
        shown = ", ".join(sorted(untrusted)[:5]) + (f" (and {len(untrusted) - 5} more)" if len(untrusted) > 5 else "")
        raise UnsafeFormatError(f"{label} holds types skops does not trust: {shown}",
                                hint="review them, then load it yourself with skops.io.load(..., trusted=[...])")
    try:
        return sio.loads(data)  # trusted=None: only the types skops trusts by default
    except Exception as e:
        raise GitmodelError(f"{label}: skops cannot load it ({str(e)[:160] or type(e).__name__})") from None


__all__ = ["DEFAULT_POLICY", "ONNX", "PICKLE", "POLICIES", "SAFETENSORS", "SKOPS", "UnsafeFormatError", "dump",
           "format_of", "load", "pickle_policy", "runs_code"]
