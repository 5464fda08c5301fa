"""ts.agent.profile: task, modality per column or folder, missing values, class
imbalance, size; printing, JSON round trip, the tracking store; bad input.
Small data only (scikit-learn's bundled sets written to CSV, tiny folders)."""
import csv
import json
import os

import numpy as np
import pytest

import tessel as ts
from tessel import agent


def write_csv(path, header, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return str(path)


def sklearn_csv(tmp_path, name):
    from sklearn import datasets
    d = getattr(datasets, f"load_{name}")()
    cols = [str(c) for c in d.feature_names] if getattr(d, "feature_names", None) is not None else \
        [f"f{i}" for i in range(d.data.shape[1])]
    rows = [list(x) + [y] for x, y in zip(d.data.tolist(), d.target.tolist())]
    return write_csv(tmp_path / f"{name}.csv", cols + ["target"], rows)


# ----- tables ----------------------------------------------------------------------------------------

def test_iris_is_balanced_classification(tmp_path):
    p = agent.profile(sklearn_csv(tmp_path, "iris"), target="target")
    assert (p.kind, p.modality, p.task) == ("tabular", "tabular", "classification")
    assert (p.n_samples, p.n_features) == (150, 4)
    assert p.target.classes == {"0": 50, "1": 50, "2": 50}
    assert p.target.imbalance == 1.0
    assert all(c.modality == "numeric" and c.dtype == "float" and c.missing == 0 for c in p.columns)
    assert p.size_bytes == os.path.getsize(tmp_path / "iris.csv")
    # Stats against NumPy on the same column.
    from sklearn.datasets import load_iris
    x = load_iris().data[:, 0]
    s = p.columns[0].stats
    assert s["min"] == x.min() and s["max"] == x.max() and s["mean"] == pytest.approx(x.mean())


def test_diabetes_is_regression(tmp_path):
    p = agent.profile(sklearn_csv(tmp_path, "diabetes"), target="target")
    assert p.task == "regression"
    assert p.target.classes is None
    assert p.target.stats["min"] == 25 and p.target.stats["max"] == 346


def test_task_can_be_forced(tmp_path):
    path = sklearn_csv(tmp_path, "iris")
    assert agent.profile(path, target="target", task="regression").task == "regression"
    with pytest.raises(ValueError, match="task must be"):
        agent.profile(path, target="target", task="clustering")


def test_column_modalities_missing_and_imbalance(tmp_path):
    rows = []
    for i in range(60):
        rows.append([
            "" if i % 4 == 0 else str(i * 0.5),                          # numeric with 25% missing
            ["red", "green", "blue"][i % 3],                               # categorical
            f"review number {i} says the product was {'good' if i % 2 else 'bad'} overall",  # text
            f"img/{i}.png",                                                # image paths
            "NA" if i % 10 == 0 else str(i % 2),                          # missing tokens
            "spam" if i < 50 else "ham",                                   # 5:1 imbalance
        ])
    path = write_csv(tmp_path / "mixed.csv", ["num", "color", "review", "photo", "flag", "label"], rows)
    p = agent.profile(path, target="label")
    mods = {c.name: c.modality for c in p.columns}
    assert mods == {"num": "numeric", "color": "categorical", "review": "text", "photo": "image",
                    "flag": "numeric"}
    col = {c.name: c for c in p.columns}
    assert col["num"].missing == 15 and col["flag"].missing == 6
    assert col["color"].stats["top"][0][1] == 20
    assert col["photo"].stats == {"checked": 50, "found": 0}
    assert p.modality == "mixed"
    assert p.target.classes == {"ham": 10, "spam": 50} and p.target.imbalance == 5.0
    assert any("imbalance 5.0:1" in w for w in p.warnings)
    assert any("mixed modalities" in w for w in p.warnings)


def test_text_table_and_target_missing(tmp_path):
    rows = [[f"this is text sample {i} with words {'x' * (i % 5)}", "" if i == 3 else ("pos" if i % 2 else "neg")]
            for i in range(20)]
    p = agent.profile(write_csv(tmp_path / "t.csv", ["text", "sentiment"], rows), target="sentiment")
    assert (p.kind, p.modality, p.task) == ("text", "text", "classification")
    assert p.target.missing == 1
    assert any("missing in 1 rows" in w for w in p.warnings)


def test_identifier_and_constant_columns_are_flagged(tmp_path):
    rows = [[i, 7, i % 2] for i in range(30)]
    p = agent.profile(write_csv(tmp_path / "id.csv", ["id", "const", "y"], rows), target="y")
    assert any("'id'" in w and "identifier" in w for w in p.warnings)
    assert any("'const' is constant" in w for w in p.warnings)


def test_tsv_semicolon_and_jsonl(tmp_path):
    (tmp_path / "a.tsv").write_text("a\tb\n1\tx\n2\ty\n3\tx\n")
    assert [c.name for c in agent.profile(str(tmp_path / "a.tsv"), target="b").columns] == ["a"]
    (tmp_path / "s.csv").write_text("a;b;c\n1;2;x\n3;4;y\n5;6;x\n")
    assert agent.profile(str(tmp_path / "s.csv"), target="c").n_features == 2
    (tmp_path / "j.jsonl").write_text("\n".join(json.dumps({"a": i, "b": i % 2}) for i in range(10)) + "\n")
    p = agent.profile(str(tmp_path / "j.jsonl"), target="b")
    assert p.n_samples == 10 and p.task == "classification"


def test_integer_target_with_many_values_is_regression(tmp_path):
    rows = [[i, i * 3] for i in range(100)]
    assert agent.profile(write_csv(tmp_path / "r.csv", ["x", "y"], rows), target="y").task == "regression"
    rows = [[i, i % 2 * 1.5] for i in range(10)]  # two float values: still regression (not integral)
    assert agent.profile(write_csv(tmp_path / "f.csv", ["x", "y"], rows), target="y").task == "regression"


def test_no_target_profiles_columns_only(tmp_path):
    p = agent.profile(sklearn_csv(tmp_path, "iris"))
    assert p.target is None and p.task == "unknown" and p.n_features == 5


# ----- bad input ---------------------------------------------------------------------------------------

def test_missing_target_did_you_mean(tmp_path):
    path = sklearn_csv(tmp_path, "iris")
    with pytest.raises(agent.DataError, match=r"target column 'targte' is not in .*did you mean 'target'"):
        agent.profile(path, target="targte")
    with pytest.raises(ValueError, match="did you mean 'target'"):
        agent.profile(path, target="TARGET")
    with pytest.raises(ValueError, match="columns: 'sepal length"):
        agent.profile(path, target="zzz")


def test_empty_and_unreadable(tmp_path):
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(agent.DataError, match="empty"):
        agent.profile(str(tmp_path / "empty.csv"))
    (tmp_path / "header.csv").write_text("a,b\n")
    with pytest.raises(agent.DataError, match="header but no rows"):
        agent.profile(str(tmp_path / "header.csv"))
    (tmp_path / "bin.csv").write_bytes(b"\x00\x01\x02binary")
    with pytest.raises(agent.DataError, match="binary"):
        agent.profile(str(tmp_path / "bin.csv"))
    (tmp_path / "latin.csv").write_bytes("a,b\n\xe9t\xe9,1\n".encode("latin-1"))
    with pytest.raises(agent.DataError, match="not UTF-8"):
        agent.profile(str(tmp_path / "latin.csv"))
    (tmp_path / "ragged.csv").write_text("a,b\n1,2\n3\n")
    with pytest.raises(agent.DataError, match="line 3 has 1 fields"):
        agent.profile(str(tmp_path / "ragged.csv"))
    with pytest.raises(FileNotFoundError, match="no such file"):
        agent.profile(str(tmp_path / "nope.csv"))
    os.mkdir(tmp_path / "nothing")
    with pytest.raises(agent.DataError, match="no class subfolders"):
        agent.profile(str(tmp_path / "nothing"))
    with pytest.raises(TypeError, match="data must be"):
        agent.profile(42)
    rows = [["", 1], ["", 2]]
    with pytest.raises(agent.DataError, match="target column 'y' has no values"):
        agent.profile(write_csv(tmp_path / "nolabel.csv", ["x", "y"], [[1, ""], [2, "NA"]]), target="y")
    del rows


# ----- folders and arrays --------------------------------------------------------------------------------

def image_folder(root, per_class=(3, 2), size=(10, 12), gray=False):
    rng = np.random.default_rng(0)
    for c, n in zip(("cat", "dog"), per_class):
        os.makedirs(root / c, exist_ok=True)
        for i in range(n):
            shape = size if gray else (*size, 3)
            img = ts.from_numpy(rng.integers(0, 255, shape, dtype=np.uint8))
            ts.image.write(str(root / c / f"{i}.png"), img if gray else ts.image.as_image(img))
    return root


def test_image_folder(tmp_path):
    root = image_folder(tmp_path / "imgs", per_class=(6, 2))
    (root / "cat" / "notes.xyz").write_text("x")
    p = agent.profile(str(root))
    assert (p.kind, p.modality, p.task) == ("image_folder", "image", "classification")
    assert p.n_samples == 8 and p.target.classes == {"cat": 6, "dog": 2} and p.target.imbalance == 3.0
    assert p.details["image"]["height"] == {"min": 10, "max": 10, "mean": 10.0}
    assert p.details["image"]["width"]["max"] == 12 and p.details["image"]["channels"]["max"] == 3
    assert any(".xyz" in w for w in p.warnings)
    with pytest.raises(agent.DataError, match="folder names are the target"):
        agent.profile(str(root), target="label")


def test_corrupt_image_is_reported(tmp_path):
    root = image_folder(tmp_path / "imgs")
    (root / "dog" / "broken.png").write_bytes(b"not a png")
    p = agent.profile(str(root))
    assert any("cannot be read" in w and "broken.png" in w for w in p.warnings)
    assert p.details["unreadable"] == [str(root / "dog" / "broken.png")]


def test_audio_and_text_folders(tmp_path):
    import soundfile as sf
    for c in ("yes", "no"):
        os.makedirs(tmp_path / "aud" / c)
        os.makedirs(tmp_path / "txt" / c)
        for i in range(2):
            sf.write(str(tmp_path / "aud" / c / f"{i}.wav"), np.zeros(8000 + 800 * i), 8000)
            (tmp_path / "txt" / c / f"{i}.txt").write_text(f"say {c} number {i} please")
    a = agent.profile(str(tmp_path / "aud"))
    assert (a.kind, a.modality) == ("audio_folder", "audio")
    assert a.details["audio"]["sample_rate"]["max"] == 8000
    assert a.details["audio"]["seconds"]["max"] == pytest.approx(1.1)
    t = agent.profile(str(tmp_path / "txt"))
    assert (t.kind, t.modality, t.n_samples) == ("text_folder", "text", 4)
    assert t.details["text"]["words"]["mean"] == 5


def test_arrays(tmp_path):
    from sklearn.datasets import load_digits
    x, y = load_digits(return_X_y=True)
    p = agent.profile((x, y))
    assert (p.kind, p.task, p.n_samples, p.n_features) == ("arrays", "classification", 1797, 64)
    assert len(p.target.classes) == 10
    p2 = agent.profile(x, target=y.astype(np.float64) * 0.37)
    assert p2.task == "regression"
    imgs = np.zeros((5, 8, 8, 3), np.float32)
    p3 = agent.profile((imgs, [0, 1, 0, 1, 0]))
    assert p3.modality == "image" and p3.columns[0].stats["shape"] == [8, 8, 3]
    np.savez(tmp_path / "d.npz", x=x[:50], label=y[:50])
    p4 = agent.profile(str(tmp_path / "d.npz"))
    assert p4.n_samples == 50 and p4.details["arrays"] == {"inputs": "x", "label": "label"}
    p5 = agent.profile({"a": [1.0, 2.0, 3.0, 4.0], "b": ["u", "v", "u", "v"]}, target="b")
    assert p5.task == "classification" and p5.n_features == 1
    with pytest.raises(agent.DataError, match="X has 3 samples but y has 2"):
        agent.profile((np.zeros((3, 2)), [0, 1]))
    with pytest.raises(agent.DataError, match="empty"):
        agent.profile((np.zeros((0, 2)), []))


# ----- printing, JSON, store -------------------------------------------------------------------------------

def test_print_json_round_trip_and_store(tmp_path):
    p = agent.profile(sklearn_csv(tmp_path, "iris"), target="target")
    text = str(p)
    assert "task classification" in text and "150 samples, 4 features" in text
    assert "sepal length (cm)" in text and "3 classes (0: 50, 1: 50, 2: 50)" in text
    q = agent.Profile.from_json(p.to_json())
    assert q == p
    json.loads(p.to_json())  # plain JSON: no NaN tokens
    st = ts.store.open(str(tmp_path / "store"))
    try:
        with st.run("profiles") as run_id:
            p.log(st, run_id)
        arts = [a["path"] for a in st.list_artifacts(run_id)]
        assert arts == ["profile.json"]
        with open(st.artifact_file(run_id, "profile.json")) as f:
            assert agent.Profile.from_dict(json.load(f)) == p
        assert st.get_params(run_id)["profile.task"] == "classification"
    finally:
        st.close()


def test_wide_table_prints_a_bounded_number_of_columns():
    from sklearn.datasets import load_digits
    x, y = load_digits(return_X_y=True)
    text = str(agent.profile((x, y)))
    assert "39 more columns" in text


# ----- drift ---------------------------------------------------------------------------------------------------

def test_ks_matches_scipy_and_psi_reads_shift():
    from scipy import stats
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=300), rng.normal(0.3, 1.2, size=200)
    from tessel.agent.monitor import ks_2samp, psi, psi_categorical
    d, p = ks_2samp(a, b)
    ref = stats.ks_2samp(a, b, method="asymp")  # scipy as the oracle
    assert d == pytest.approx(ref.statistic, abs=1e-12)
    assert p == pytest.approx(ref.pvalue, rel=0.05)
    assert ks_2samp(a, a) == (0.0, 1.0)
    assert psi(a, a) == pytest.approx(0.0, abs=1e-12)
    same = psi(a, rng.normal(size=300))
    assert same < 0.1 < psi(a, rng.normal(1.0, 1.0, size=300))
    # By hand: shares r = (.5, .5), c = (.9, .1): (.4 ln 1.8) + (-.4 ln .2)
    assert psi_categorical(["x", "y"] * 50, ["x"] * 90 + ["y"] * 10) == pytest.approx(
        0.4 * np.log(0.9 / 0.5) + (-0.4) * np.log(0.1 / 0.5))
    with pytest.raises(ValueError, match="finite"):
        psi([np.nan], [1.0])


def test_drift_between_tables(tmp_path):
    rng = np.random.default_rng(1)

    def table(name, shift, colors):
        rows = [[f"{v:.4f}", f"{w:.4f}", colors[i % len(colors)], i % 2]
                for i, (v, w) in enumerate(zip(rng.normal(shift, 1, 400), rng.normal(0, 1, 400)))]
        return write_csv(tmp_path / name, ["a", "b", "color", "y"], rows)

    ref = table("ref.csv", 0.0, ["r", "g", "b"])
    same = agent.drift(ref, table("same.csv", 0.0, ["r", "g", "b"]), target="y")
    assert not same.drifted and [f["name"] for f in same.features] == ["a", "b", "color"]
    moved = agent.drift(ref, table("moved.csv", 1.0, ["r", "r", "r", "g"]), target="y")
    assert moved.drifted_features == ["a", "color"]
    a = moved.features[0]
    assert a["ks"] > 0.3 and a["p_value"] < 1e-6
    assert "DRIFT" in str(moved) and "2 of 3 features drifted: a, color" in str(moved)
    assert json.loads(moved.to_json())["drifted"] is True
    (tmp_path / "renamed.csv").write_text("A,b,color,y\n1,2,r,0\n")
    with pytest.raises(agent.DataError, match="did you mean 'A'"):
        agent.drift(ref, str(tmp_path / "renamed.csv"), target="y")
    with pytest.raises(ValueError, match="threshold"):
        agent.drift(ref, ref, threshold=0)
