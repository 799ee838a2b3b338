"""LabelMe parsing and mask drawing: equal to labelme's own masks, and hostile files."""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import PIL.Image
import pytest

from assurexray.annotations.labelme import find_annotation, load_labelme
from assurexray.annotations.masks import AnnotationWarning, annotation_mask, draw_annotation
from assurexray.core.errors import AnnotationError


def picture(text: str) -> np.ndarray:
    """Turn a drawing of '#' (inside) and '.' (outside) into a boolean array."""
    return np.array([[c == "#" for c in row] for row in text.split()], dtype=bool)


def shape(points: list, shape_type: str = "polygon", label: str = "tumor", **extra: Any) -> dict:
    return {"label": label, "points": points, "shape_type": shape_type, **extra}


def write_labelme(
    folder: Path, shapes: list, height: int = 10, width: int = 12, name: str = "a.json"
) -> Path:
    path = folder / name
    document = {
        "version": "5.4.1",
        "shapes": shapes,
        "imagePath": "../../elsewhere/IMG.jpeg",
        "imageData": None,
        "imageHeight": height,
        "imageWidth": width,
    }
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def mask_of(folder: Path, shapes: list, **options: Any) -> np.ndarray:
    return annotation_mask(load_labelme(write_labelme(folder, shapes)), **options)


def png_base64(patch: np.ndarray) -> str:
    """Encode a boolean patch as LabelMe does: a 1-bit PNG (PIL mode "1"), base64."""
    buffer = io.BytesIO()
    PIL.Image.fromarray(patch).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


RECTANGLE = """
    ............
    ............
    ............
    ..####......
    ..####......
    ..####......
    ..####......
    ..####......
    ............
    ............
"""


@pytest.mark.parametrize(
    "corners",
    [[[2, 3], [5, 7]], [[5, 7], [2, 3]], [[5, 3], [2, 7]]],
    ids=["tl-br", "br-tl", "tr-bl"],
)
def test_rectangle_covers_both_corners_inclusive(tmp_path: Path, corners: list) -> None:
    mask = mask_of(tmp_path, [shape(corners, "rectangle")])
    assert mask.dtype == bool and mask.shape == (10, 12)
    np.testing.assert_array_equal(mask, picture(RECTANGLE))


def test_polygon_includes_vertices_and_edges(tmp_path: Path) -> None:
    expected = """
        ............
        .######.....
        .#####......
        .####.......
        .###........
        .##.........
        .#..........
        ............
        ............
        ............
    """
    mask = mask_of(tmp_path, [shape([[1, 1], [6, 1], [1, 6]])])
    np.testing.assert_array_equal(mask, picture(expected))


def test_linestrip_follows_every_segment(tmp_path: Path) -> None:
    expected = """
        ............
        .######.....
        ......#.....
        ......#.....
        ......#.....
        ......#.....
        ............
        ............
        ............
        ............
    """
    mask = mask_of(tmp_path, [shape([[1, 1], [6, 1], [6, 5]], "linestrip")], line_width=1)
    np.testing.assert_array_equal(mask, picture(expected))


LABELME = np.load(Path(__file__).parent / "fixtures" / "labelme_masks.npz")
LABELME_CASES = json.loads(str(LABELME["cases"]))


@pytest.mark.parametrize("case", sorted(LABELME_CASES))
def test_masks_equal_labelmes_own(tmp_path: Path, case: str) -> None:
    """Every shape type, drawn by labelme's code (tests/fixtures/make_labelme_masks.py)."""
    shapes, options = LABELME_CASES[case]["shapes"], LABELME_CASES[case]["options"]
    height, width = (int(v) for v in LABELME["size"])
    annotation = load_labelme(write_labelme(tmp_path, shapes, height, width))
    mask = annotation_mask(
        annotation,
        mode="all",
        line_width=options.get("line_width", 10),
        point_radius=options.get("point_size", 5),
    )
    np.testing.assert_array_equal(mask, LABELME[f"mask/{case}"])


def test_default_widths_are_labelmes(tmp_path: Path) -> None:
    shapes = LABELME_CASES["line"]["shapes"] + LABELME_CASES["point"]["shapes"]
    annotation = load_labelme(write_labelme(tmp_path, shapes, 40, 50))
    expected = LABELME["mask/line"] | LABELME["mask/point"]
    np.testing.assert_array_equal(annotation_mask(annotation, mode="all"), expected)


def test_mask_patch_is_placed_at_its_box(tmp_path: Path) -> None:
    patch = picture("#..# .##. #..#")
    expected = """
        ............
        ............
        ............
        ..#..#......
        ...##.......
        ..#..#......
        ............
        ............
        ............
        ............
    """
    mask_shape = shape([[2, 3], [5, 5]], "mask", mask=png_base64(patch))
    np.testing.assert_array_equal(mask_of(tmp_path, [mask_shape]), picture(expected))


def test_mask_patch_is_stretched_to_a_larger_box(tmp_path: Path) -> None:
    patch = picture("#. .#")
    expected = """
        ............
        ............
        ..##........
        ..##........
        ....##......
        ....##......
        ............
        ............
        ............
        ............
    """
    mask_shape = shape([[2, 2], [5, 5]], "mask", mask=png_base64(patch))
    np.testing.assert_array_equal(mask_of(tmp_path, [mask_shape]), picture(expected))


def test_shapes_outside_the_image_are_clipped(tmp_path: Path) -> None:
    mask = mask_of(tmp_path, [shape([[-5, -5], [1, 2]], "rectangle")])
    expected = np.zeros((10, 12), bool)
    expected[0:3, 0:2] = True
    np.testing.assert_array_equal(mask, expected)


def test_missing_shape_type_means_polygon(tmp_path: Path) -> None:
    raw = {"label": "tumor", "points": [[2, 3], [5, 3], [5, 7], [2, 7]]}
    np.testing.assert_array_equal(mask_of(tmp_path, [raw]), picture(RECTANGLE))


POLYGON = [[0, 0], [3, 0], [3, 3], [0, 3]]
BOX = [[6, 6], [8, 8]]


def _expected(*blocks: tuple[slice, slice]) -> np.ndarray:
    mask = np.zeros((10, 12), bool)
    for rows, cols in blocks:
        mask[rows, cols] = True
    return mask


POLYGON_PIXELS = (slice(0, 4), slice(0, 4))
BOX_PIXELS = (slice(6, 9), slice(6, 9))
LINE = [(1, 1), (2, 2)]  # the pixels of a one-pixel line from (1, 1) to (2, 2)


@pytest.mark.parametrize(
    ("shapes", "mode", "expected"),
    [
        ([shape(POLYGON), shape(BOX, "rectangle")], "btxrd", [POLYGON_PIXELS]),
        ([shape(BOX, "rectangle")], "btxrd", [BOX_PIXELS]),
        ([shape(POLYGON), shape(BOX, "rectangle")], "boxes", [BOX_PIXELS]),
        ([shape(POLYGON)], "boxes", []),
        ([shape(POLYGON), shape(BOX, "rectangle")], "all", [POLYGON_PIXELS, BOX_PIXELS]),
        ([shape(BOX, "rectangle"), shape([[1, 1], [2, 2]], "line")], "btxrd", [BOX_PIXELS, *LINE]),
    ],
    ids=["poly-wins", "box-fallback", "boxes", "boxes-none", "all", "other-types-kept"],
)
def test_modes(tmp_path: Path, shapes: list, mode: str, expected: list) -> None:
    mask = mask_of(tmp_path, shapes, mode=mode, line_width=1)
    np.testing.assert_array_equal(mask, _expected(*expected))


def test_btxrd_rule_applies_after_label_filter(tmp_path: Path) -> None:
    shapes = [shape(POLYGON, label="Osteochondroma"), shape(BOX, "rectangle", label="Other")]
    mask = mask_of(tmp_path, shapes, labels=["OTHER"])
    np.testing.assert_array_equal(mask, _expected(BOX_PIXELS))


def test_label_filter_is_case_insensitive_and_accepts_several(tmp_path: Path) -> None:
    shapes = [
        shape(POLYGON, label="Osteosarcoma"),
        shape([[6, 0], [8, 0], [8, 2]], label="osteochondroma"),
        shape(BOX, "rectangle", label="Other"),
    ]
    path = write_labelme(tmp_path, shapes)
    annotation = load_labelme(path)
    assert annotation.labels == ["Osteosarcoma", "osteochondroma", "Other"]
    both = annotation_mask(annotation, labels=["OSTEOSARCOMA", "Osteochondroma "])
    assert both[0, 0] and both[0, 8] and not both[7, 7]
    only = annotation_mask(annotation, labels="other")
    np.testing.assert_array_equal(only, _expected(BOX_PIXELS))
    assert not annotation_mask(annotation, labels=[]).any()


def test_declared_size_differs_shapes_scaled_with_warning(tmp_path: Path) -> None:
    annotation = load_labelme(write_labelme(tmp_path, [shape([[2, 3], [5, 7]], "rectangle")]))
    with pytest.warns(
        AnnotationWarning, match=r"declared size 10x12 differs from image size 20x24"
    ):
        mask = annotation_mask(annotation, (20, 24))
    expected = np.zeros((20, 24), bool)
    expected[6:15, 4:11] = True  # corners (4, 6) and (10, 14)
    np.testing.assert_array_equal(mask, expected)

    resized = annotation.resized((20, 24))
    assert (resized.image_height, resized.image_width) == (20, 24)
    assert len(resized.warnings) == 1 and str(annotation.path) in resized.warnings[0]
    assert annotation.resized((10, 12)) is annotation


def test_same_size_gives_no_warning(tmp_path: Path, recwarn: pytest.WarningsRecorder) -> None:
    annotation = load_labelme(write_labelme(tmp_path, [shape(POLYGON)]))
    annotation_mask(annotation, (10, 12))
    assert not recwarn.list


def test_different_aspect_ratio_is_an_error(tmp_path: Path) -> None:
    annotation = load_labelme(write_labelme(tmp_path, [shape(POLYGON)]))
    with pytest.raises(AnnotationError, match=r"a\.json: declared size 10x12 .* image size 20x30"):
        annotation_mask(annotation, (20, 30))


def test_unknown_shape_type_is_skipped_with_warning(tmp_path: Path) -> None:
    shapes = [shape(POLYGON), shape([[1, 1], [2, 2]], "ellipse"), shape(POLYGON, ["polygon"])]
    path = write_labelme(tmp_path, shapes)
    annotation = load_labelme(path)
    assert [s.shape_type for s in annotation.shapes] == ["polygon"]
    assert annotation.warnings == (
        f"{path}: shape 1: unknown shape type 'ellipse' skipped",
        f"{path}: shape 2: unknown shape type ['polygon'] skipped",
    )


def test_shape_points_are_read_only(tmp_path: Path) -> None:
    annotation = load_labelme(write_labelme(tmp_path, [shape(POLYGON)]))
    points = annotation.shapes[0].points
    assert points.shape == (4, 2) and points.dtype == float
    with pytest.raises(ValueError):
        points[0, 0] = 5


def _document(**changes: Any) -> dict:
    document = {"shapes": [shape(POLYGON)], "imageHeight": 10, "imageWidth": 12}
    document.update(changes)
    return {k: v for k, v in document.items() if v is not ...}


MALFORMED = {
    "bad-json": ("{not json", r"invalid JSON"),
    "not-object": ("[1, 2]", r"top level must be a JSON object"),
    "no-shapes": (_document(shapes=...), r"missing 'shapes' list"),
    "shapes-not-list": (_document(shapes={}), r"missing 'shapes' list"),
    "no-height": (_document(imageHeight=...), r"missing 'imageHeight'"),
    "no-width": (_document(imageWidth=...), r"missing 'imageWidth'"),
    "zero-width": (_document(imageWidth=0), r"'imageWidth' must be a positive integer, got 0"),
    "text-height": (_document(imageHeight="10"), r"'imageHeight' must be a positive integer"),
    "float-height": (_document(imageHeight=10.5), r"'imageHeight' must be a positive integer"),
    "shape-not-object": (_document(shapes=[[1, 2]]), r"shape 0: not a JSON object"),
    "two-point-polygon": (
        _document(shapes=[shape(POLYGON), shape([[0, 0], [1, 1]])]),
        r"shape 1: polygon needs at least 3 points, got 2",
    ),
    "text-point": (
        _document(shapes=[shape([[0, 0], ["1", 1], [2, 2]])]),
        r"shape 0: 'points' must contain only numbers",
    ),
    "three-coordinates": (
        _document(shapes=[shape([[0, 0, 0], [1, 1, 1], [2, 2, 2]])]),
        r"shape 0: 'points' must be a list of \[x, y\] pairs",
    ),
    "no-points": (_document(shapes=[{"label": "x"}]), r"shape 0: 'points' must be a list"),
    "circle-three-points": (
        _document(shapes=[shape([[0, 0], [1, 1], [2, 2]], "circle")]),
        r"shape 0: circle needs 2 points, got 3",
    ),
    "mask-missing": (
        _document(shapes=[shape([[0, 0], [1, 1]], "mask")]),
        r"shape 0: mask shape needs a base64 PNG in 'mask'",
    ),
    "mask-bad-base64": (
        _document(shapes=[shape([[0, 0], [1, 1]], "mask", mask="not base64!")]),
        r"shape 0: 'mask' is not valid base64",
    ),
    "mask-not-png": (
        _document(shapes=[shape([[0, 0], [1, 1]], "mask", mask="aGVsbG8=")]),
        r"shape 0: 'mask' is not a PNG image",
    ),
}


@pytest.mark.parametrize(("content", "message"), MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_files_name_file_and_problem(tmp_path: Path, content: Any, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    with pytest.raises(AnnotationError, match=re.escape(str(path)) + ": " + message) as info:
        load_labelme(path)
    assert "\n" not in str(info.value)


def test_non_finite_points_are_an_error(tmp_path: Path) -> None:
    path = tmp_path / "nan.json"
    text = json.dumps(_document()).replace("[0, 0]", "[NaN, 0]", 1)
    path.write_text(text, encoding="utf-8")
    with pytest.raises(AnnotationError, match=r"shape 0: 'points' must be finite"):
        load_labelme(path)


def test_unreadable_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(AnnotationError, match=r"missing\.json: cannot read file"):
        load_labelme(tmp_path / "missing.json")


def test_image_path_and_data_are_ignored(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_text(
        json.dumps(_document(imagePath="/nonexistent/x.png", imageData="%%% not base64")),
        encoding="utf-8",
    )
    assert len(load_labelme(path).shapes) == 1


def test_find_annotation_matches_stem_with_any_suffix_case(tmp_path: Path) -> None:
    (tmp_path / "IMG000001.json").write_text("{}")
    (tmp_path / "IMG000002.JSON").write_text("{}")
    (tmp_path / "IMG000003.json").mkdir()
    (tmp_path / "IMG000004.txt").write_text("{}")
    assert find_annotation(tmp_path, "IMG000001") == tmp_path / "IMG000001.json"
    assert find_annotation(tmp_path, "IMG000002") == tmp_path / "IMG000002.JSON"
    assert find_annotation(tmp_path, "IMG000003") is None
    assert find_annotation(tmp_path, "IMG000004") is None
    assert find_annotation(tmp_path, "IMG00000[1]") is None
    with pytest.raises(ValueError, match="plain file name"):
        find_annotation(tmp_path, "../IMG000001")
    with pytest.raises(AnnotationError, match="annotation folder not found"):
        find_annotation(tmp_path / "nowhere", "IMG000001")


def test_bad_mode_is_rejected(tmp_path: Path) -> None:
    annotation = load_labelme(write_labelme(tmp_path, [shape(POLYGON)]))
    with pytest.raises(ValueError, match="unknown annotation mode 'circles'"):
        annotation_mask(annotation, mode="circles")


# -- hostile files: one clear AnnotationError naming the file, never a crash ------------


def _write_text(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "hostile.json"
    path.write_text(text, encoding="utf-8")
    return path


NOT_FINITE = r"shape 0: 'points' must be finite numbers"
HOSTILE_EDITS = {  # case: (text of a valid file, what it becomes, the error expected)
    "coordinate-10e400-integer": ("[3, 0]", "[1" + "0" * 400 + ", 0]", NOT_FINITE),
    "coordinate-1e400-float": ("[3, 0]", "[1e400, 0]", NOT_FINITE),
    "coordinate-far-outside": ("[3, 0]", "[1e12, 0]", r"shape 0: a coordinate lies beyond"),
    "height-10e400": (
        '"imageHeight": 10',
        '"imageHeight": 1' + "0" * 400,
        r"declared image size 1000000000000000000000000000000000000\.\.\.x12 exceeds the limit",
    ),
    "height-1e400-float": (
        '"imageHeight": 10',
        '"imageHeight": 1e400',
        r"'imageHeight' must be a positive integer, got inf",
    ),
    "integer-of-5000-digits": (
        '"imageHeight": 10',
        '"imageHeight": 1' + "0" * 5000,
        r"invalid JSON \(Exceeds the limit",
    ),
}
HOSTILE = {
    "nested-100000-deep": ('{"shapes": ' + "[" * 100_000 + "]" * 100_000 + "}", r"nested too deep"),
    **{
        case: (json.dumps(_document()).replace(old, new), message)
        for case, (old, new, message) in HOSTILE_EDITS.items()
    },
    "declared-size-over-limit": (
        json.dumps(_document(imageHeight=100_000, imageWidth=100_000)),
        r"declared image size 100000x100000 exceeds the limit of 100,000,000 pixels",
    ),
}


@pytest.mark.parametrize(("text", "message"), HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_files_are_one_line_errors(tmp_path: Path, text: str, message: str) -> None:
    path = _write_text(tmp_path, text)
    with pytest.raises(AnnotationError, match=re.escape(str(path)) + ": .*" + message) as info:
        load_labelme(path)
    assert "\n" not in str(info.value) and len(str(info.value)) < 300


def _png_of_size(height: int, width: int) -> str:
    buffer = io.BytesIO()
    PIL.Image.new("1", (width, height)).save(buffer, format="PNG", optimize=True)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def test_huge_mask_patch_is_refused_before_decoding(tmp_path: Path) -> None:
    encoded = _png_of_size(8000, 8000)  # about 10 KB of PNG for 64 million pixels
    assert len(encoded) < 100_000
    patch_shape = shape([[0, 0], [11, 9]], "mask", mask=encoded)
    path = tmp_path / "patch.json"
    path.write_text(json.dumps(_document(shapes=[patch_shape])), encoding="utf-8")
    with pytest.raises(AnnotationError, match=r"shape 0: mask patch of 8000x8000 pixels is larger"):
        load_labelme(path)


def test_patches_share_the_pixel_limit(tmp_path: Path) -> None:
    shapes = [shape([[0, 0], [9, 9]], "mask", mask=_png_of_size(10, 10)) for _ in range(3)]
    path = tmp_path / "patches.json"
    path.write_text(json.dumps(_document(shapes=shapes)), encoding="utf-8")
    assert len(load_labelme(path, max_pixels=300).shapes) == 3
    left = r"shape 2: mask patch of 10x10 pixels exceeds the 50 pixels left"
    with pytest.raises(AnnotationError, match=left):
        load_labelme(path, max_pixels=250)
    with pytest.raises(AnnotationError, match=r"declared image size 10x12 exceeds the limit"):
        load_labelme(path, max_pixels=100)


def test_rescaling_far_beyond_the_coordinate_limit_is_an_error(tmp_path: Path) -> None:
    path = write_labelme(tmp_path, [shape([[0, 0], [1, 1], [1, 0]])], height=1, width=1)
    annotation = load_labelme(path).resized((2000, 2000))
    object.__setattr__(annotation.shapes[0], "points", annotation.shapes[0].points * 1e3)
    with pytest.raises(AnnotationError, match=re.escape(str(path)) + ": a coordinate lies beyond"):
        annotation_mask(annotation)


# -- empty tumour masks say why ----------------------------------------------------------


EMPTY = {
    "no-shapes": ([], {}, "no shapes"),
    "unknown-types-only": (
        [shape(POLYGON, "ellipse"), shape(POLYGON, "cuboid")],
        {},
        "only unknown shape types ('ellipse', 'cuboid')",
    ),
    "all-zero-patch": (
        [shape([[0, 0], [9, 9]], "mask", mask=png_base64(np.zeros((10, 10), bool)))],
        {},
        "shapes cover no pixel of the image",
    ),
    "outside-the-image": (
        [shape([[20, 20], [30, 20], [30, 30]])],
        {},
        "shapes cover no pixel of the image",
    ),
    "label-filter": ([shape(POLYGON, label="Other")], {"labels": ["tumor"]}, "no shape left"),
    "boxes-mode": ([shape(POLYGON)], {"mode": "boxes"}, "no shape left after the label filter"),
}


@pytest.mark.parametrize(("shapes", "options", "reason"), EMPTY.values(), ids=EMPTY.keys())
def test_empty_masks_say_why(tmp_path: Path, shapes: list, options: dict, reason: str) -> None:
    drawn = draw_annotation(load_labelme(write_labelme(tmp_path, shapes)), **options)
    assert not drawn.mask.any()
    assert drawn.empty_reason is not None and drawn.empty_reason.startswith(reason)


def test_a_drawn_mask_has_no_empty_reason(tmp_path: Path) -> None:
    annotation = load_labelme(write_labelme(tmp_path, [shape(POLYGON)]))
    with pytest.warns(AnnotationWarning, match="shapes rescaled"):
        drawn = draw_annotation(annotation, (20, 24))
    assert drawn.empty_reason is None and drawn.mask.shape == (20, 24) and drawn.mask.any()
