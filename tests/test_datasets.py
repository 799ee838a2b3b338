"""Tests of the data set index: layouts, labels, splits and validation."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from assurexray.core.errors import DatasetError
from assurexray.data.datasets import (
    CLASS_NAMES,
    INDEX_COLUMNS,
    load_btxrd,
    load_class_folders,
    load_dataset,
    load_split_csv,
    select_split,
    stratified_split,
    validate_index,
    write_split,
)

# file on disk, image_id in the table, center, tumor, benign, malignant
BTXRD_ROWS = [
    ("IMG000001.jpeg", "IMG000001.jpeg", 1, 1, 0, 1),
    ("IMG000002.jpg", "IMG000002.jpg", 2, 1, 1, 0),
    ("IMG000003.png", "IMG000003.png", 1, 1, 1, 1),  # both flags: malignant wins
    ("IMG000004.jpg", "IMG000004.jpeg", 3, 0, 0, 0),  # the table says .jpeg, the file is .jpg
    ("IMG000005.jpeg", "IMG000005.jpeg", 2, 0, 0, 0),
]
BTXRD_LABELS = ["Malignant", "Benign", "Malignant", "Normal", "Normal"]
TABLE_COLUMNS = ["image_id", "center", "tumor", "benign", "malignant"]


def _image(path: Path) -> Path:
    """Write a tiny grey image (format from the suffix)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.full((8, 6), 128, np.uint8))
    return path


def _annotation(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"shapes": [], "imageHeight": 8, "imageWidth": 6}))
    return path


def _table(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame([row[1:] for row in rows], columns=TABLE_COLUMNS)


@pytest.fixture
def btxrd_root(tmp_path: Path) -> Path:
    """A BTXRD folder with an ``.xlsx`` table, mixed suffixes and tumour annotations."""
    root = tmp_path / "btxrd"
    for file_name, _, _, tumor, *_ in BTXRD_ROWS:
        _image(root / "images" / file_name)
        if tumor:
            _annotation(root / "Annotations" / f"{Path(file_name).stem}.json")
    _table(BTXRD_ROWS).to_excel(root / "dataset.xlsx", index=False)
    return root


@pytest.fixture
def folders_root(tmp_path: Path) -> Path:
    """A class-per-folder tree; folder names in any case, one name in two folders."""
    root = tmp_path / "folders"
    for name in ("Normal/a.png", "Normal/b.jpg", "benign/a.png", "benign/sub/c.jpeg"):
        _image(root / name)
    _image(root / "MALIGNANT" / "d.jpeg")
    _annotation(root / "MALIGNANT" / "d.json")  # LabelMe saves the JSON beside the image
    (root / "Normal" / "notes.txt").write_text("not an image")
    return root


def _index(counts: dict[str, int], centers: int = 3) -> pd.DataFrame:
    """An in-memory index with BTXRD-like ids: tumours first, normals last."""
    labels = [label for label in ("Malignant", "Benign", "Normal") for _ in range(counts[label])]
    ids = [f"IMG{number:06d}" for number in range(1, len(labels) + 1)]
    return pd.DataFrame(
        {
            "image_id": ids,
            "path": [f"/nowhere/{i}.jpeg" for i in ids],
            "label": labels,
            "split": [None] * len(ids),
            "annotation": [None] * len(ids),
            "center": [1 + n % centers for n in range(len(ids))],
        }
    )


# --- BTXRD layout -------------------------------------------------------------


def test_load_btxrd_reads_the_xlsx_layout(btxrd_root: Path) -> None:
    index = load_btxrd(btxrd_root)

    assert list(index.columns[:5]) == INDEX_COLUMNS
    assert index["image_id"].tolist() == [f"IMG00000{n}" for n in range(1, 6)]
    assert index["label"].tolist() == BTXRD_LABELS
    assert index["center"].tolist() == [1, 2, 1, 3, 2]
    assert index["split"].isna().all()
    assert [Path(p).name for p in index["path"]] == [row[0] for row in BTXRD_ROWS]
    assert all(Path(p).is_absolute() and Path(p).is_file() for p in index["path"])
    has_annotation = index["annotation"].notna().tolist()
    assert has_annotation == [bool(row[3]) for row in BTXRD_ROWS]
    assert index.loc[3, "annotation"] is None
    validate_index(index)


def test_load_btxrd_reads_a_csv_table_the_same(btxrd_root: Path, tmp_path: Path) -> None:
    expected = load_btxrd(btxrd_root)
    table = _table(BTXRD_ROWS).rename(columns={"image_id": " Image_ID ", "benign": "BENIGN"})
    (btxrd_root / "dataset.xlsx").unlink()
    table.to_csv(btxrd_root / "dataset.csv", index=False)
    elsewhere = tmp_path / "metadata.csv"
    table.to_csv(elsewhere, index=False)

    found = load_btxrd(btxrd_root)
    given = load_btxrd(btxrd_root, metadata=elsewhere)

    for index in (found, given):
        pd.testing.assert_frame_equal(index, expected)


@pytest.mark.parametrize(
    ("benign", "malignant", "label"),
    [
        (0, 1, "Malignant"),
        (1, 0, "Benign"),
        (1, 1, "Malignant"),
        (0, 0, "Normal"),
        (None, None, "Normal"),
    ],
)
def test_label_rule(tmp_path: Path, benign: int | None, malignant: int | None, label: str) -> None:
    _image(tmp_path / "images" / "IMG000001.jpeg")
    row = {"image_id": "IMG000001.jpeg", "benign": benign, "malignant": malignant}
    pd.DataFrame([row]).to_csv(tmp_path / "dataset.csv", index=False)

    assert load_btxrd(tmp_path)["label"].tolist() == [label]


def test_load_btxrd_errors_name_the_file_and_problem(btxrd_root: Path, tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"empty: no images/ folder"):
        (tmp_path / "empty").mkdir()
        load_btxrd(tmp_path / "empty")
    (btxrd_root / "dataset.xlsx").rename(btxrd_root / "renamed.xlsx")
    with pytest.raises(DatasetError, match=r"btxrd: no dataset.xlsx or dataset.csv"):
        load_btxrd(btxrd_root)

    bad = btxrd_root / "bad.csv"
    _table(BTXRD_ROWS).drop(columns=["malignant"]).to_csv(bad, index=False)
    with pytest.raises(DatasetError, match=r"bad.csv: missing column malignant"):
        load_btxrd(btxrd_root, metadata=bad)
    _table(BTXRD_ROWS).assign(benign=["0", "yes", "1", "0", "0"]).to_csv(bad, index=False)
    with pytest.raises(
        DatasetError, match=r"bad.csv: column 'benign' must hold 0/1, got 'yes' in row 3"
    ):
        load_btxrd(btxrd_root, metadata=bad)
    _table(BTXRD_ROWS).assign(image_id=["IMG000001.jpeg", " ", "a", "b", "c"]).to_csv(
        bad, index=False
    )
    with pytest.raises(DatasetError, match=r"bad.csv: row 3 has no image_id"):
        load_btxrd(btxrd_root, metadata=bad)
    (btxrd_root / "broken.xlsx").write_bytes(b"not a zip file")
    with pytest.raises(DatasetError, match=r"broken.xlsx: cannot read table"):
        load_btxrd(btxrd_root, metadata=btxrd_root / "broken.xlsx")
    with pytest.raises(DatasetError, match=r"table.json: unsupported table type"):
        load_btxrd(btxrd_root, metadata=_annotation(btxrd_root / "table.json"))


# --- class folders and split CSVs ---------------------------------------------------


def test_load_class_folders(folders_root: Path) -> None:
    index = load_class_folders(folders_root)

    assert index["image_id"].tolist() == [
        "Normal/a",
        "Normal/b",
        "benign/a",
        "benign/sub/c",
        "MALIGNANT/d",
    ]
    assert index["label"].tolist() == ["Normal", "Normal", "Benign", "Benign", "Malignant"]
    assert index["annotation"].notna().tolist() == [False, False, False, False, True]
    assert index["split"].isna().all()
    validate_index(index)


def test_load_class_folders_keeps_unknown_folders_for_validation(folders_root: Path) -> None:
    _image(folders_root / "tumour" / "x.png")
    index = load_class_folders(folders_root)

    with pytest.raises(DatasetError, match=r"folders: labels not in the class list .*: tumour"):
        validate_index(index)


def test_load_split_csv_finds_images_by_id_path_or_stem(
    folders_root: Path, btxrd_root: Path
) -> None:
    csv = folders_root / "my_split.csv"
    rows = [
        ("Normal/a.png", "TRAIN", "normal"),
        ("benign/sub/c", "val", "Benign"),
        ("d", "test", "malignant"),
    ]
    pd.DataFrame(rows, columns=["image_id", "split", "label"]).to_csv(csv, index=False)

    index = load_split_csv(csv, folders_root)

    assert index["image_id"].tolist() == ["Normal/a", "benign/sub/c", "d"]
    assert index["split"].tolist() == ["train", "val", "test"]
    assert index["label"].tolist() == ["Normal", "Benign", "Malignant"]
    assert index["annotation"].notna().tolist() == [False, False, True]
    validate_index(index)

    btxrd_csv = btxrd_root / "split.csv"
    pd.DataFrame([("IMG000002", "train", "Benign")], columns=["image_id", "split", "label"]).to_csv(
        btxrd_csv, index=False
    )
    index = load_split_csv(btxrd_csv, btxrd_root)
    assert Path(index.loc[0, "path"]).name == "IMG000002.jpg"
    assert Path(index.loc[0, "annotation"]).name == "IMG000002.json"


def test_load_dataset_detects_each_layout(btxrd_root: Path, folders_root: Path) -> None:
    assert load_dataset(btxrd_root)["label"].tolist() == BTXRD_LABELS
    assert load_dataset(btxrd_root / "dataset.xlsx")["label"].tolist() == BTXRD_LABELS
    assert len(load_dataset(folders_root)) == 5
    _table(BTXRD_ROWS).to_csv(btxrd_root / "other.csv", index=False)
    assert load_dataset(btxrd_root / "other.csv")["label"].tolist() == BTXRD_LABELS


def test_load_dataset_rejects_unknown_input(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"missing: no such file or folder"):
        load_dataset(tmp_path / "missing")
    (tmp_path / "stuff").mkdir()
    with pytest.raises(DatasetError, match=r"stuff: not a BTXRD folder .* nor a class-per-folder"):
        load_dataset(tmp_path / "stuff")
    pd.DataFrame({"a": [1]}).to_csv(tmp_path / "table.csv", index=False)
    with pytest.raises(DatasetError, match=r"table.csv: neither a split CSV"):
        load_dataset(tmp_path / "table.csv")


def test_split_file_is_applied(btxrd_root: Path, tmp_path: Path) -> None:
    split = stratified_split(load_dataset(btxrd_root), seed=3)
    write_split(split, btxrd_root / "splits.csv")

    automatic = load_dataset(btxrd_root)
    from_csv = load_dataset(btxrd_root / "splits.csv")
    assert automatic["split"].tolist() == split["split"].tolist()
    assert from_csv["split"].tolist() == split["split"].tolist()
    assert from_csv["center"].tolist() == [1, 2, 1, 3, 2]  # the layout's extras are kept

    partial = tmp_path / "partial.csv"
    pd.DataFrame({"image_id": ["IMG000004.jpeg"], "split": ["test"]}).to_csv(partial, index=False)
    index = load_dataset(btxrd_root, split_file=partial)
    assert index["split"].tolist() == [None, None, None, "test", None]


def test_split_file_must_fit_the_data_set(btxrd_root: Path, tmp_path: Path) -> None:
    csv = tmp_path / "split.csv"
    pd.DataFrame({"image_id": ["IMG000001", "IMG999999"], "split": ["train", "test"]}).to_csv(
        csv, index=False
    )
    with pytest.raises(
        DatasetError, match=r"split.csv: 1 image ids not in the data set .*IMG999999"
    ):
        load_dataset(btxrd_root, split_file=csv)
    pd.DataFrame({"image_id": ["IMG000001"], "split": ["train"], "label": ["Benign"]}).to_csv(
        csv, index=False
    )
    with pytest.raises(
        DatasetError, match=r"1 labels disagree .* IMG000001 is 'Benign' here but 'Malignant'"
    ):
        load_dataset(btxrd_root, split_file=csv)
    pd.DataFrame({"image_id": ["IMG000001", "IMG000001.jpeg"], "split": ["train", "val"]}).to_csv(
        csv, index=False
    )
    with pytest.raises(DatasetError, match=r"split.csv: 1 duplicate image ids \(IMG000001\)"):
        load_dataset(btxrd_root, split_file=csv)


def test_bad_split_name_is_blamed_on_the_split_file(btxrd_root: Path, tmp_path: Path) -> None:
    for csv in (btxrd_root / "splits.csv", tmp_path / "other.csv"):
        pd.DataFrame({"image_id": ["IMG000001"], "split": ["training"]}).to_csv(csv, index=False)
        with pytest.raises(DatasetError, match=r"unknown split names training") as info:
            load_dataset(btxrd_root, split_file=None if csv.parent == btxrd_root else csv)
        assert str(info.value).startswith(f"{csv}: ")
        assert "dataset.xlsx" not in str(info.value)


def test_annotations_match_by_stem_with_the_suffix_in_any_case(btxrd_root: Path) -> None:
    """The rule of annotations.find_annotation; the Annotations folder wins over one beside."""
    (btxrd_root / "Annotations" / "IMG000001.json").rename(
        btxrd_root / "Annotations" / "IMG000001.JSON"
    )
    _annotation(btxrd_root / "images" / "IMG000002.json")  # also one beside the image
    _annotation(btxrd_root / "images" / "IMG000004.Json")  # a normal image, only beside
    index = load_btxrd(btxrd_root)
    found = [None if a is None else Path(a) for a in index["annotation"]]
    assert found[0] == (btxrd_root / "Annotations" / "IMG000001.JSON").absolute()
    assert found[1] == (btxrd_root / "Annotations" / "IMG000002.json").absolute()
    assert found[3] == (btxrd_root / "images" / "IMG000004.Json").absolute()


# --- stratified split ---------------------------------------------------------------


def test_stratified_split_proportions_per_class() -> None:
    index = _index({"Normal": 200, "Benign": 100, "Malignant": 40})
    split = stratified_split(index, seed=0)

    counts = split.groupby(["label", "split"]).size().unstack()
    assert counts.loc["Normal"].to_dict() == {"train": 140, "val": 30, "test": 30}
    assert counts.loc["Benign"].to_dict() == {"train": 70, "val": 15, "test": 15}
    assert counts.loc["Malignant"].to_dict() == {"train": 28, "val": 6, "test": 6}
    assert index["split"].isna().all()  # the input is not modified


def test_stratified_split_is_deterministic_and_not_in_id_order() -> None:
    index = _index({"Normal": 60, "Benign": 30, "Malignant": 30})
    first = stratified_split(index, seed=5)
    again = stratified_split(index.sample(frac=1, random_state=1), seed=5).sort_index()
    other = stratified_split(index, seed=6)

    assert first["split"].tolist() == again["split"].tolist()
    assert first["split"].tolist() != other["split"].tolist()
    normal_test = set(first.query("label == 'Normal' and split == 'test'")["image_id"])
    assert normal_test != set(index["image_id"][-len(normal_test) :])


def test_stratified_split_gives_every_split_each_class_when_possible() -> None:
    index = _index({"Normal": 20, "Benign": 3, "Malignant": 1})
    split = stratified_split(index, seed=0)

    assert sorted(split.query("label == 'Benign'")["split"]) == ["test", "train", "val"]
    assert split.query("label == 'Malignant'")["split"].tolist() == ["train"]
    assert set(split.query("label == 'Normal'")["split"]) == {"train", "val", "test"}


def test_stratified_split_holds_out_a_center() -> None:
    index = _index({"Normal": 30, "Benign": 30, "Malignant": 30})
    split = stratified_split(index, seed=0, holdout_center="2")

    held = split["center"] == 2
    assert (split.loc[held, "split"] == "test").all()
    assert set(split.loc[~held, "split"]) == {"train", "val"}
    rest = split[~held].groupby(["label", "split"]).size().unstack()
    assert (rest["val"] >= 1).all() and (rest["train"] > rest["val"]).all()


def test_stratified_split_errors() -> None:
    index = _index({"Normal": 5, "Benign": 5, "Malignant": 5})
    with pytest.raises(DatasetError, match=r"center 7 not in the data set \(centers: 1, 2, 3\)"):
        stratified_split(index, holdout_center=7)
    with pytest.raises(DatasetError, match=r"the data set has no 'center' column"):
        stratified_split(index.drop(columns=["center"]), holdout_center=1)
    with pytest.raises(DatasetError, match=r"holding out center 1 leaves no images to train on"):
        stratified_split(index.assign(center=1), holdout_center=1)
    with pytest.raises(DatasetError, match=r"split fractions must be 3 non-negative numbers"):
        stratified_split(index, fractions=(0.8, -0.1, 0.3))
    with pytest.raises(DatasetError, match=r"split seed must be a non-negative integer"):
        stratified_split(index, seed=-1)
    with pytest.raises(DatasetError, match=r"cannot split an empty data set"):
        stratified_split(index.iloc[:0])


# --- writing and selecting splits -----------------------------------------------------


def test_write_split_writes_id_split_label(tmp_path: Path) -> None:
    split = stratified_split(_index({"Normal": 4, "Benign": 3, "Malignant": 3}), seed=0)
    path = write_split(split, tmp_path / "out" / "splits.csv")

    written = pd.read_csv(path)
    assert written.columns.tolist() == ["image_id", "split", "label"]
    assert written.to_dict("list") == split[["image_id", "split", "label"]].to_dict("list")


def test_write_split_refuses_unassigned_rows(tmp_path: Path) -> None:
    with pytest.raises(
        DatasetError, match=r"splits.csv: 10 images have no split \(IMG000001, .*, and 7 more\)"
    ):
        write_split(_index({"Normal": 4, "Benign": 3, "Malignant": 3}), tmp_path / "splits.csv")


def test_select_split() -> None:
    index = _index({"Normal": 4, "Benign": 0, "Malignant": 0})
    index["split"] = ["train", "train", "test", None]

    chosen = select_split(index, "train")
    assert chosen["image_id"].tolist() == ["IMG000001", "IMG000002"]
    assert chosen.index.tolist() == [0, 1]
    with pytest.raises(
        DatasetError, match=r"split 'val' is empty \(the data set has: train, test\)"
    ):
        select_split(index, "val")
    with pytest.raises(
        DatasetError, match=r"unknown split 'valid' \(the data set has: train, test\)"
    ):
        select_split(index, "valid")
    with pytest.raises(DatasetError, match=r"the data set has no split assigned"):
        select_split(index.assign(split=None), "train")


# --- validation -------------------------------------------------------------------


def test_validate_index_accepts_a_good_index(btxrd_root: Path) -> None:
    validate_index(load_btxrd(btxrd_root))


def test_validate_index_reports_missing_images(btxrd_root: Path) -> None:
    for name in ("IMG000001.jpeg", "IMG000002.jpg", "IMG000003.png", "IMG000005.jpeg"):
        (btxrd_root / "images" / name).unlink()
    index = load_btxrd(btxrd_root)
    first_three = r".*IMG000001.jpeg, .*IMG000002.jpg, .*IMG000003.png"

    with pytest.raises(
        DatasetError,
        match=rf"dataset.xlsx: 4 images listed but missing on disk \({first_three}, and 1 more\)",
    ):
        validate_index(index)


def test_validate_index_reports_bad_content() -> None:
    good = _index({"Normal": 2, "Benign": 2, "Malignant": 2})
    good.attrs["source"] = "table.csv"
    with pytest.raises(DatasetError, match=r"table.csv: the data set is empty \(no images found\)"):
        validate_index(good.iloc[:0])
    with pytest.raises(DatasetError, match=r"table.csv: 1 duplicate image ids \(IMG000001\)"):
        validate_index(good.assign(image_id=["IMG000001"] * 2 + good["image_id"][2:].tolist()))
    with pytest.raises(
        DatasetError, match=r"labels not in the class list Normal, Benign, Malignant: Tumour"
    ):
        validate_index(good.assign(label=["Tumour", *good["label"][1:]]))
    with pytest.raises(
        DatasetError, match=r"labels not in the class list A, B: Benign, Malignant, Normal"
    ):
        validate_index(good, class_names=("A", "B"))
    with pytest.raises(
        DatasetError, match=r"unknown split names validation \(use train, val, test\)"
    ):
        validate_index(good.assign(split="validation"))
    with pytest.raises(DatasetError, match=r"table.csv: missing column annotation"):
        validate_index(good.drop(columns=["annotation"]))
    assert set(CLASS_NAMES) == set(good["label"])
