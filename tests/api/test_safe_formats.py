"""`gitmodel.save` picks the serialiser from the file name, `gitmodel.load`
gives back the same kind: safetensors (a dict of NumPy arrays), skops
(scikit-learn estimators, only types skops trusts), onnx (a ModelProto), and
joblib for the rest, which `[security] pickle = "never"` refuses to load.
Real files written by each package, read back by the package itself too."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gitmodel
from gitmodel.errors import ConfigError, GitmodelError
from gitmodel.serialize import UnsafeFormatError, format_of
from tests.support.git import git


def commit_and_tag(version: str) -> None:
    git("commit", "-qm", f"train {version}")
    gitmodel.tag("clf", version)


def never(root: Path) -> None:
    cfg = root / ".gitmodel" / "config.toml"
    cfg.write_text(cfg.read_text() + '\n[security]\npickle = "never"\n')


def test_the_name_picks_the_format() -> None:
    assert [format_of(n) for n in ("m.safetensors", "M.SKOPS", "a/b.onnx", "clf.pkl", "clf.joblib", "clf.bin")] \
        == ["safetensors", "skops", "onnx", "pickle", "pickle", "pickle"]


def test_safetensors_round_trip_of_numpy_arrays(repo: Path) -> None:
    from safetensors.numpy import load_file

    weights = {"w": np.arange(12, dtype=np.float32).reshape(3, 4), "b": np.array([1, -2], dtype=np.int64)}
    saved = gitmodel.save(weights, "models/clf.safetensors", name="clf")
    commit_and_tag("v1.0.0")
    assert saved.path == "models/clf.safetensors"
    on_disk = load_file(str(repo / "models" / "clf.safetensors"))  # a real safetensors file, by its own reader
    assert set(on_disk) == {"w", "b"} and np.array_equal(on_disk["w"], weights["w"])
    for ref in ("clf@v1.0.0", "models/clf.safetensors"):
        back = gitmodel.load(ref)
        assert set(back) == {"w", "b"} and back["w"].dtype == np.float32 and back["b"].dtype == np.int64
        assert np.array_equal(back["w"], weights["w"]) and np.array_equal(back["b"], weights["b"])
    never(repo)
    assert np.array_equal(gitmodel.load("clf@v1.0.0")["w"], weights["w"])  # runs no code: "never" lets it load


def test_safetensors_refuses_what_it_cannot_hold_and_writes_nothing(repo: Path) -> None:
    with pytest.raises(GitmodelError, match="holds a dict of named arrays, not a list"):
        gitmodel.save([1, 2], "models/x.safetensors")
    with pytest.raises(GitmodelError, match="'b' is a str"):
        gitmodel.save({"a": np.zeros(2), "b": "text"}, "models/x.safetensors")
    assert not (repo / "models" / "x.safetensors").exists()
    assert not [p for p in (repo / "models").iterdir()]  # no temp file either


def test_a_torch_state_dict_round_trips() -> None:
    torch = pytest.importorskip("torch")  # not installed here: the guarded path, coded for when it is
    import io

    from gitmodel import serialize

    state = {"w": torch.ones(2, 3)}
    buf = io.BytesIO()
    serialize.dump(state, "m.safetensors", buf)
    back = serialize.load(buf.getvalue(), "m.safetensors", "m.safetensors")
    assert isinstance(back["w"], torch.Tensor) and torch.equal(back["w"], state["w"])


def test_a_pickle_named_safetensors_is_parsed_as_safetensors_not_unpickled(repo: Path) -> None:
    gitmodel.save({"n": 1}, "models/clf.pkl")
    (repo / "models" / "x.safetensors").write_bytes((repo / "models" / "clf.pkl").read_bytes())
    gitmodel.add(["models/x.safetensors"])
    with pytest.raises(GitmodelError, match="models/x.safetensors is not a safetensors file we can read") as e:
        gitmodel.load("models/x.safetensors")
    assert "\n" not in str(e.value)


def test_skops_round_trip_of_a_scikit_learn_estimator(repo: Path) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 1.0], [3.0, 0.5], [0.5, 2.0], [2.5, 2.5]])
    y = np.array([0, 0, 1, 1, 0, 1])
    clf = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    gitmodel.save(clf, "models/clf.skops", name="clf")
    commit_and_tag("v1.0.0")
    import skops.io as sio

    assert sio.get_untrusted_types(file=str(repo / "models" / "clf.skops")) == []  # a real skops file
    never(repo)  # skops builds only trusted types: it loads under "never"
    back = gitmodel.load("clf@v1.0.0")
    assert type(back).__name__ == "Pipeline"
    assert np.array_equal(back.predict(X), clf.predict(X))
    assert np.allclose(back.predict_proba(X), clf.predict_proba(X))


class Gadget:
    """A type of this test's own: skops writes it, but would have to import
    and build it (run this module's code) to load it."""

    def __init__(self) -> None:
        self.armed = True


def test_a_skops_file_with_an_untrusted_type_is_refused(repo: Path) -> None:
    gitmodel.save({"model": Gadget()}, "models/clf.skops", name="clf")
    commit_and_tag("v1.0.0")
    with pytest.raises(UnsafeFormatError, match="holds types skops does not trust: tests.api.test_safe_formats.Gadget"
                       ) as e:
        gitmodel.load("clf@v1.0.0")
    assert "\n" not in str(e.value) and "skops.io.load" in (e.value.hint or "")


def test_a_file_named_skops_that_is_not_one_is_one_line(repo: Path) -> None:
    (repo / "models").mkdir()
    (repo / "models" / "x.skops").write_bytes(b"\x80\x04not a zip at all")  # a pickle, renamed
    gitmodel.add(["models/x.skops"])
    with pytest.raises(GitmodelError, match="models/x.skops is not a skops file we can read") as e:
        gitmodel.load("models/x.skops")
    assert "\n" not in str(e.value)


def test_onnx_round_trip_of_a_model_proto(repo: Path) -> None:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Add", ["x", "y"], ["z"])], "add",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2]),
                               helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
                              [helper.make_tensor_value_info("z", TensorProto.FLOAT, [2])])
    model = helper.make_model(graph)
    onnx.checker.check_model(model)
    gitmodel.save(model, "models/clf.onnx", name="clf")
    commit_and_tag("v1.0.0")
    assert onnx.load(str(repo / "models" / "clf.onnx")) == model  # onnx's own reader
    never(repo)
    back = gitmodel.load("clf@v1.0.0")
    assert isinstance(back, onnx.ModelProto) and back == model and back.graph.node[0].op_type == "Add"
    with pytest.raises(GitmodelError, match="holds an onnx.ModelProto, not a dict"):
        gitmodel.save({"a": 1}, "models/other.onnx")


def test_a_file_named_onnx_that_is_not_one_is_one_line(repo: Path) -> None:
    pytest.importorskip("onnx")
    (repo / "models").mkdir()
    (repo / "models" / "x.onnx").write_bytes(b"\xff\xff\xff\xff garbage, not protobuf")
    gitmodel.add(["models/x.onnx"])
    with pytest.raises(GitmodelError, match="models/x.onnx is not an ONNX model we can read") as e:
        gitmodel.load("models/x.onnx")
    assert "\n" not in str(e.value)


def test_pickle_is_refused_under_never_and_still_loads_by_default(repo: Path) -> None:
    gitmodel.save({"n": 1}, "models/clf.pkl", name="clf")
    gitmodel.save({"n": 2}, "models/other.joblib")
    commit_and_tag("v1.0.0")
    assert gitmodel.load("clf@v1.0.0") == {"n": 1}  # "allow", the default: today's behaviour
    with pytest.raises(UnsafeFormatError, match='pickle = "never"'):
        gitmodel.load("clf@v1.0.0", pickle="never")  # the caller's own floor
    never(repo)
    for ref in ("clf@v1.0.0", "models/clf.pkl", "models/other.joblib"):
        with pytest.raises(UnsafeFormatError, match=r'is pickle-based, and \[security\] pickle = "never" refuses') \
                as e:
            gitmodel.load(ref)
        assert "\n" not in str(e.value) and ".skops" in (e.value.hint or "")
    with pytest.raises(UnsafeFormatError):
        gitmodel.load("clf@v1.0.0", pickle="allow")  # a caller cannot loosen the committed setting
    assert gitmodel.read_bytes("clf@v1.0.0")[:1] == b"\x80"  # bytes are not unpickled: still readable


def test_a_bad_pickle_setting_is_one_line(repo: Path) -> None:
    gitmodel.save({"n": 1}, "models/clf.pkl")
    with pytest.raises(GitmodelError, match="pickle= must be"):
        gitmodel.load("models/clf.pkl", pickle="no")
    cfg = repo / ".gitmodel" / "config.toml"
    cfg.write_text(cfg.read_text() + '\n[security]\npickle = "sometimes"\n')
    with pytest.raises(ConfigError, match=r'\[security\] pickle must be "allow", "verified" or "never", not '
                                          r"'sometimes'") as e:
        gitmodel.load("models/clf.pkl")
    assert "\n" not in str(e.value)


def test_a_missing_extra_is_one_line_naming_it(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "skops.io", None)  # as if skops were not installed: import fails
    with pytest.raises(GitmodelError, match="saving clf.skops needs the skops package") as e:
        gitmodel.save({"a": 1}, "models/clf.skops")
    assert e.value.hint == "pip install 'gitmodel[safe]'" and "\n" not in str(e.value)
    assert not (repo / "models" / "clf.skops").exists()


@settings(max_examples=60, deadline=None)
@given(body=st.binary(max_size=300), header=st.one_of(st.none(), st.dictionaries(
    st.text(max_size=8), st.dictionaries(st.sampled_from(["dtype", "shape", "data_offsets"]),
                                         st.one_of(st.text(max_size=4), st.lists(st.integers(-2, 40), max_size=3))),
    max_size=3)), name=st.sampled_from(["m.safetensors", "m.skops", "m.onnx"]))
def test_any_bytes_under_a_safe_name_load_or_are_one_line(body: bytes, header: dict[str, object] | None,
                                                          name: str) -> None:
    """What a repository or remote supplies, under a name that picks a safe
    format: a value, or one GitmodelError line; never another exception."""
    from gitmodel import serialize

    if header is not None:  # a safetensors-shaped prefix, so the parser gets past the length
        raw = json.dumps(header).encode()
        body = len(raw).to_bytes(8, "little") + raw + body
    try:
        serialize.load(body, name, name)
    except GitmodelError as e:
        assert "\n" not in str(e)
