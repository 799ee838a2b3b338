"""Tests of the synthetic BTXRD-layout data set."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from skimage.draw import polygon2mask

from assurexray.annotations.labelme import load_labelme
from assurexray.annotations.masks import annotation_mask
from assurexray.core.errors import ConfigError, DatasetError
from assurexray.data.datasets import load_btxrd, validate_index
from assurexray.data.synthetic import (
    SUBTYPES,
    SyntheticSummary,
    dataset_matches,
    generate_dataset,
    plan_dataset,
    render_case,
)
from assurexray.data.synthetic.anatomy import draw_anatomy, sample_bone
from assurexray.data.synthetic.lesions import (
    LOOK_ALIKE_WEIGHT,
    draw_lesion,
    lesion_polygon,
    polygon_mask,
)
from assurexray.data.synthetic.plan import (
    CENTER_LOOK,
    LOOK_ALIKE_SHARE,
    SUBTLE_CONSPICUITY,
    SUBTLE_SHARE,
    PhantomCase,
)

SETTINGS = {"num_images": 60, "seed": 7, "min_size": 256, "max_size": 512}
SMALL = {"num_images": 12, "seed": 3, "min_size": 96, "max_size": 160}


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> SyntheticSummary:
    """A 60-image data set at the default sizes."""
    return generate_dataset(tmp_path_factory.mktemp("synthetic") / "data", **SETTINGS)


def _files(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for folder in ("images", "Annotations")
        for p in sorted((root / folder).iterdir())
    }


def _typical_tumours(count: int) -> list[PhantomCase]:
    """Tumour cases of the 60-image plan drawn as typical lesions."""
    cases = plan_dataset(**SETTINGS)
    typical = [c for c in cases if c.label != "Normal" and c.conspicuity == 1 and not c.look_alike]
    return typical[:count]


def _lesion_change(case: PhantomCase) -> np.ndarray:
    """Absolute difference between ``case`` drawn with and without its lesion."""
    return np.abs(render_case(case).image - render_case(case, draw_lesion=False).image)


def test_layout_counts_and_formats(generated: SyntheticSummary) -> None:
    summary = generated
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


def test_metadata_labels_and_annotations_agree(generated: SyntheticSummary) -> None:
    summary = generated
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


def test_labelme_files_are_btxrd_like(generated: SyntheticSummary) -> None:
    index = load_btxrd(generated.root)
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


def test_lesion_lies_inside_the_mask_that_is_scored(generated: SyntheticSummary) -> None:
    tumours = [case for case in plan_dataset(**SETTINGS) if case.label != "Normal"]
    for case in tumours[:12]:
        path = generated.root / "Annotations" / f"{case.image_id}.json"
        points = np.asarray(json.loads(path.read_text())["shapes"][0]["points"])
        change = _lesion_change(case)
        scored = annotation_mask(load_labelme(path))  # what compare scores against
        # skimage's rasteriser (pixel centres inside the polygon), independent of ours
        centres = polygon2mask(change.shape, points[:, ::-1])

        assert np.array_equal(render_case(case).polygon, points)
        assert change[~scored].max() == 0  # nothing drawn outside the saved polygon
        assert change[~centres].max() == 0
        assert (change[scored] > 0).mean() > 0.5  # and the lesion fills it


def test_typical_lesions_are_plain_to_see() -> None:
    for case in _typical_tumours(8):
        change, inside = _lesion_change(case), render_case(case).lesion_mask
        with_lesion, without = render_case(case).image, render_case(case, draw_lesion=False).image

        assert (change[inside] > 0.02).mean() > 0.5
        if case.label == "Benign":  # lucent
            assert with_lesion[inside].mean() < without[inside].mean() - 0.05


def test_subtle_lesions_are_smaller_and_fainter_but_still_there() -> None:
    for case in _typical_tumours(6):
        subtle = replace(case, conspicuity=SUBTLE_CONSPICUITY[0])  # the subtlest planned
        typical_mask, subtle_mask = render_case(case).lesion_mask, render_case(subtle).lesion_mask
        typical_change, subtle_change = _lesion_change(case), _lesion_change(subtle)

        assert subtle_mask.sum() < 0.6 * typical_mask.sum()
        assert subtle_change[subtle_mask].mean() < 0.5 * typical_change[typical_mask].mean()
        # hard, not impossible: most of the outline still differs from the bone beneath
        assert (subtle_change[subtle_mask] > 0.02).mean() > 0.4


def test_look_alikes_are_drawn_mostly_in_the_other_class_style() -> None:
    for case in _typical_tumours(6):
        other = "Benign" if case.label == "Malignant" else "Malignant"
        look_alike = replace(case, look_alike=True)
        # Outlined exactly like a lesion of the other class ...
        assert np.array_equal(
            render_case(look_alike).polygon, render_case(replace(case, label=other)).polygon
        )
        # ... and, on the same outline and bone, drawn nearer to its style than to its own.
        rng = np.random.default_rng(case.seed)
        bone = sample_bone(rng, case)
        background = draw_anatomy(rng, bone, case)
        polygon = lesion_polygon(rng, bone, look_alike)
        drawn = {}
        for name, variant in [
            ("look-alike", look_alike),
            ("own", case),
            ("other", replace(case, label=other)),
        ]:
            drawn[name] = background.copy()
            draw_lesion(np.random.default_rng(1), drawn[name], bone, polygon, variant)
        inside = polygon_mask(polygon, background.shape)
        to_other = np.abs(drawn["look-alike"] - drawn["other"])[inside].mean()
        to_own = np.abs(drawn["look-alike"] - drawn["own"])[inside].mean()
        low = LOOK_ALIKE_WEIGHT[0]  # the least weight on the other style
        assert to_other < to_own and to_other <= to_own * (1 - low) / low * 1.001


def test_class_is_independent_of_everything_but_the_lesion() -> None:
    cases = plan_dataset(num_images=3000, seed=1)
    frame = pd.DataFrame(
        {
            "label": [c.label for c in cases],
            "center": [c.center for c in cases],
            "png": [c.file_name.endswith(".png") for c in cases],
            "rgb": [c.rgb for c in cases],
            "portrait": [c.height > c.width for c in cases],
            "age": [c.age for c in cases],
        }
    )
    centre_shares = pd.crosstab(frame["label"], frame["center"], normalize="index")
    assert (centre_shares.max() - centre_shares.min()).max() < 0.06
    by_class = frame.groupby("label")[["png", "rgb", "portrait"]].mean()
    assert (by_class.max() - by_class.min()).max() < 0.06
    assert frame.groupby("label")["age"].mean().agg(np.ptp) < 4
    assert set(frame["center"]) == set(CENTER_LOOK)


def test_a_few_tumours_are_hard_and_the_manifest_lists_them(generated: SyntheticSummary) -> None:
    cases = plan_dataset(num_images=3000, seed=1)
    tumours = [c for c in cases if c.label != "Normal"]
    normals = [c for c in cases if c.label == "Normal"]
    subtle = np.mean([c.conspicuity < 1 for c in tumours])
    look_alike = np.mean([c.look_alike for c in tumours])

    assert abs(subtle - SUBTLE_SHARE) < 0.03 and abs(look_alike - LOOK_ALIKE_SHARE) < 0.03
    low, high = SUBTLE_CONSPICUITY
    assert all(c.conspicuity == 1 or low <= c.conspicuity <= high for c in tumours)
    assert all(c.conspicuity == 0 and not c.look_alike for c in normals)
    listed = json.loads(generated.manifest.read_text())["hard_cases"]
    expected = [
        c.image_id
        for c in plan_dataset(**SETTINGS)
        if c.label != "Normal" and (c.conspicuity < 1 or c.look_alike)
    ]
    assert [entry["image_id"] for entry in listed] == expected
    assert expected  # the 60-image set has some


def test_saved_png_is_the_rendered_image(generated: SyntheticSummary) -> None:
    case = next(c for c in plan_dataset(**SETTINGS) if c.file_name.endswith(".png"))
    saved = cv2.imread(str(generated.root / "images" / case.file_name), cv2.IMREAD_UNCHANGED)

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


def test_dataset_matches(generated: SyntheticSummary, tmp_path: Path) -> None:
    root = generated.root
    assert dataset_matches(root, **SETTINGS)
    assert not dataset_matches(root, **{**SETTINGS, "seed": 8})
    assert not dataset_matches(root, **{**SETTINGS, "num_images": 61})
    assert not dataset_matches(root, **{**SETTINGS, "max_size": 400})
    assert not dataset_matches(root, **SETTINGS, class_fractions=(0.5, 0.25, 0.25))
    assert not dataset_matches(tmp_path / "nothing", **SETTINGS)
    assert not dataset_matches(root, seed=7)  # the other settings at their defaults differ
    with pytest.raises(TypeError, match="size"):
        dataset_matches(root, **SETTINGS, size=256)

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
