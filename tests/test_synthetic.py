"""Tests of the synthetic BTXRD-layout data set."""

from __future__ import annotations

import json
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from assurexray.datasets import load_btxrd, validate_index
from assurexray.errors import ConfigError, DatasetError
from assurexray.synthetic import (
    SUBTYPES,
    SyntheticSummary,
    dataset_matches,
    generate_dataset,
    plan_dataset,
    render_case,
)

SETTINGS = {"num_images": 60, "seed": 7, "min_size": 256, "max_size": 512}
SMALL = {"num_images": 12, "seed": 3, "min_size": 96, "max_size": 160}


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[SyntheticSummary, float]:
    """A 60-image data set at the default sizes, and the seconds it took."""
    root = tmp_path_factory.mktemp("synthetic") / "data"
    start = time.perf_counter()
    summary = generate_dataset(root, **SETTINGS)
    return summary, time.perf_counter() - start


def _files(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for folder in ("images", "Annotations")
        for p in sorted((root / folder).iterdir())
    }


def _rasterise(points: list[list[float]], shape: tuple[int, int]) -> np.ndarray:
    """Fill a LabelMe polygon as assurexray.annotations does (pixel centres, floor(x + 0.5))."""
    mask = np.zeros(shape, np.uint8)
    cv2.fillPoly(mask, [np.floor(np.asarray(points) + 0.5).astype(np.int32)], 1)
    return mask.astype(bool)


def test_sixty_images_take_well_under_a_few_seconds(
    generated: tuple[SyntheticSummary, float],
) -> None:
    assert generated[1] < 5.0


def test_layout_counts_and_formats(generated: tuple[SyntheticSummary, float]) -> None:
    summary = generated[0]
    images = sorted((summary.root / "images").iterdir())

    assert summary.counts == {"Normal": 24, "Benign": 18, "Malignant": 18}
    assert len(images) == 60
    assert {p.suffix for p in images} == {".jpeg", ".jpg", ".png"}
    portrait = 0
    for path in images:
        pixels = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        assert pixels.dtype == (np.uint16 if path.suffix == ".png" else np.uint8)
        height, width = pixels.shape[:2]
        assert 256 <= min(height, width) and max(height, width) <= 512
        portrait += height > width
    assert portrait >= 0.6 * len(images)


def test_metadata_labels_and_annotations_agree(generated: tuple[SyntheticSummary, float]) -> None:
    summary = generated[0]
    table = pd.read_excel(summary.metadata)
    index = load_btxrd(summary.root)
    validate_index(index)

    assert {"image_id", "center", "tumor", "benign", "malignant", "age", "gender"} <= set(
        table.columns
    )
    assert set(table["center"]) <= {1, 2, 3}
    assert (table["tumor"] == table["benign"] | table["malignant"]).all()
    assert index["label"].value_counts().to_dict() == {k: v for k, v in summary.counts.items() if v}
    tumour = index["label"] != "Normal"
    assert index.loc[tumour, "annotation"].notna().all()
    assert index.loc[~tumour, "annotation"].isna().all()
    assert {p.stem for p in (summary.root / "Annotations").iterdir()} == set(
        index.loc[tumour, "image_id"]
    )
    # As in BTXRD, the tumour images have the low ids, so ids are no split order.
    assert tumour.tolist() == sorted(tumour.tolist(), reverse=True)


def test_labelme_files_are_btxrd_like(generated: tuple[SyntheticSummary, float]) -> None:
    index = load_btxrd(generated[0].root)
    labels_seen = set()
    for row in index.dropna(subset=["annotation"]).itertuples():
        document = json.loads(Path(row.annotation).read_text())
        height, width = cv2.imread(row.path, cv2.IMREAD_UNCHANGED).shape[:2]
        assert (document["imageHeight"], document["imageWidth"]) == (height, width)
        assert document["imagePath"] == Path(row.path).name
        assert document["imageData"] is None and document["flags"] == {} and "version" in document
        polygon, rectangle = document["shapes"]
        assert (polygon["shape_type"], rectangle["shape_type"]) == ("polygon", "rectangle")
        points = np.asarray(polygon["points"])
        assert len(points) >= 8
        assert np.allclose(rectangle["points"], [points.min(axis=0), points.max(axis=0)])
        assert (points >= 0).all() and (points < [width, height]).all()
        assert polygon["label"] == rectangle["label"]
        assert polygon["label"].lower() in SUBTYPES[row.label]
        labels_seen.add(polygon["label"])
    assert len({label.lower() for label in labels_seen}) < len(labels_seen)  # cases vary


def test_polygon_covers_the_drawn_lesion(generated: tuple[SyntheticSummary, float]) -> None:
    summary = generated[0]
    tumours = [case for case in plan_dataset(**SETTINGS) if case.label != "Normal"]
    for case in tumours[:12]:
        document = json.loads((summary.root / "Annotations" / f"{case.image_id}.json").read_text())
        with_lesion, without = render_case(case), render_case(case, draw_lesion=False)
        inside = _rasterise(document["shapes"][0]["points"], with_lesion.image.shape)
        change = np.abs(with_lesion.image - without.image)

        assert np.array_equal(with_lesion.polygon, document["shapes"][0]["points"])
        assert change[~inside].max() == 0  # nothing drawn outside the saved polygon
        assert (change[inside] > 0.02).mean() > 0.5  # and the lesion fills it
        if case.label == "Benign":  # lucent
            assert with_lesion.image[inside].mean() < without.image[inside].mean() - 0.05


def test_saved_png_is_the_rendered_image(generated: tuple[SyntheticSummary, float]) -> None:
    case = next(c for c in plan_dataset(**SETTINGS) if c.file_name.endswith(".png"))
    saved = cv2.imread(str(generated[0].root / "images" / case.file_name), cv2.IMREAD_UNCHANGED)

    assert np.array_equal(saved, np.round(render_case(case).image * 65535).astype(np.uint16))


def test_same_seed_gives_identical_files(tmp_path: Path) -> None:
    first = generate_dataset(tmp_path / "a", **SMALL).root
    second = generate_dataset(tmp_path / "b", **SMALL).root
    other = generate_dataset(tmp_path / "c", **{**SMALL, "seed": 4}).root

    assert _files(first) == _files(second)
    pd.testing.assert_frame_equal(
        pd.read_excel(first / "dataset.xlsx"), pd.read_excel(second / "dataset.xlsx")
    )
    assert (first / "synthetic.json").read_bytes() == (second / "synthetic.json").read_bytes()
    assert _files(first) != _files(other)


def test_dataset_matches(generated: tuple[SyntheticSummary, float], tmp_path: Path) -> None:
    root = generated[0].root
    assert dataset_matches(root, **SETTINGS)
    assert not dataset_matches(root, **{**SETTINGS, "seed": 8})
    assert not dataset_matches(root, **{**SETTINGS, "num_images": 61})
    assert not dataset_matches(root, **{**SETTINGS, "max_size": 400})
    assert not dataset_matches(root, **SETTINGS, class_fractions=(0.5, 0.25, 0.25))
    assert not dataset_matches(tmp_path / "nothing", **SETTINGS)

    small = generate_dataset(tmp_path / "small", **SMALL).root
    next((small / "images").iterdir()).unlink()
    assert not dataset_matches(small, **SMALL)  # incomplete
    (small / "synthetic.json").unlink()
    assert not dataset_matches(small, **SMALL)


def test_regenerating_replaces_a_previous_set(tmp_path: Path) -> None:
    root = tmp_path / "data"
    generate_dataset(root, **SMALL)
    (root / "splits.csv").write_text("image_id,split,label\n")

    summary = generate_dataset(root, **{**SMALL, "num_images": 5, "class_fractions": (0, 1, 0)})

    assert summary.counts == {"Normal": 0, "Benign": 5, "Malignant": 0}
    assert len(list((root / "images").iterdir())) == 5
    assert len(list((root / "Annotations").iterdir())) == 5
    assert not (root / "splits.csv").exists()


def test_refuses_a_folder_it_did_not_make(tmp_path: Path) -> None:
    (tmp_path / "mine.txt").write_text("keep me")
    with pytest.raises(DatasetError, match=r"folder is not empty and is not a synthetic data set"):
        generate_dataset(tmp_path, **SMALL)
    with pytest.raises(DatasetError, match=r"mine.txt: exists and is not a folder"):
        generate_dataset(tmp_path / "mine.txt", **SMALL)
    assert (tmp_path / "mine.txt").read_text() == "keep me"


def test_progress_is_reported_per_image(tmp_path: Path) -> None:
    calls: list[tuple[int, int]] = []
    generate_dataset(
        tmp_path / "data",
        **{**SMALL, "num_images": 4},
        progress=lambda _stage, d, t: calls.append((d, t)),
    )
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"num_images": 0}, r"num_images must be a positive integer"),
        ({"class_fractions": (0.5, 0.5)}, r"class_fractions must be 3 non-negative numbers"),
        ({"class_fractions": (1, -1, 1)}, r"class_fractions must be 3 non-negative numbers"),
        ({"min_size": 300, "max_size": 200}, r"min_size <= max_size, got 300, 200"),
        ({"seed": -1}, r"seed must be a non-negative integer"),
    ],
)
def test_invalid_options(tmp_path: Path, options: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        generate_dataset(tmp_path / "data", **{**SMALL, **options})
    assert not (tmp_path / "data").exists()


def test_plan_follows_the_class_fractions() -> None:
    labels = [case.label for case in plan_dataset(num_images=10, class_fractions=(0.4, 0.3, 0.3))]
    assert {name: labels.count(name) for name in set(labels)} == {
        "Normal": 4,
        "Benign": 3,
        "Malignant": 3,
    }
    assert labels[-4:] == ["Normal"] * 4
