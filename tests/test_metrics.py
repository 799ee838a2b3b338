"""Localisation scores on hand-made arrays; classification metrics against scikit-learn."""

from __future__ import annotations

import math

import numpy as np
import pytest
from skimage.filters import threshold_otsu
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
    roc_auc_score,
)

from assurexray.evaluation.metrics import (
    ShapeMismatchError,
    classification_metrics,
    iou,
    localisation_scores,
    mask_fraction,
    otsu_iou,
    otsu_mask,
    pointing_game,
    relevance_mass,
)

# Worked example. The mask is the top-left 2×3 block (6 of 16 pixels).
#
#   heatmap               mask
#   0.9 0.8 0.1 0.0       # # # .
#   0.7 0.6 0.2 0.0       # # # .
#   0.3 0.2 0.1 0.0       . . . .
#   0.0 0.0 0.0 0.1       . . . .
#
# threshold 0.5:  heatmap >= 0.5 is the 2×2 block of 0.9/0.8/0.7/0.6:
#                 intersection 4, union 6            -> IoU 4/6 = 2/3
# threshold 0.15: adds 0.2 at (1,2) [in the mask], 0.3 at (2,0) and 0.2 at (2,1):
#                 7 pixels, intersection 5, union 8  -> IoU 5/8
# pointing game:  maximum 0.9 at (0,0) is in the mask -> hit
# relevance mass: total 4.0, inside 0.9+0.8+0.1+0.7+0.6+0.2 = 3.3 -> 0.825
# mask fraction:  6/16 = 0.375
HEATMAP = np.array(
    [
        [0.9, 0.8, 0.1, 0.0],
        [0.7, 0.6, 0.2, 0.0],
        [0.3, 0.2, 0.1, 0.0],
        [0.0, 0.0, 0.0, 0.1],
    ]
)
MASK = np.zeros((4, 4), bool)
MASK[:2, :3] = True


def test_worked_example() -> None:
    assert iou(HEATMAP, MASK, 0.5) == pytest.approx(2 / 3)
    assert iou(HEATMAP, MASK, 0.15) == pytest.approx(5 / 8)
    assert pointing_game(HEATMAP, MASK) is True
    assert relevance_mass(HEATMAP, MASK) == pytest.approx(0.825)
    assert mask_fraction(MASK) == 0.375


def test_threshold_is_inclusive() -> None:
    assert iou(HEATMAP, MASK, 0.6) == pytest.approx(4 / 6)
    assert iou(HEATMAP, MASK, 0.61) == pytest.approx(3 / 6)


def test_localisation_scores_collects_everything() -> None:
    scores = localisation_scores(HEATMAP.astype(np.float32), MASK, thresholds=(0.15, 0.5))
    assert set(scores) == {
        "iou",
        "otsu_iou",
        "hit",
        "relevance_mass",
        "mask_fraction",
        "empty_mask",
        "flat_heatmap",
    }
    assert scores["iou"] == pytest.approx({"0.15": 5 / 8, "0.5": 2 / 3})
    assert scores["hit"] is True
    assert scores["relevance_mass"] == pytest.approx(0.825)
    assert scores["mask_fraction"] == 0.375
    assert scores["otsu_iou"] == otsu_iou(HEATMAP, MASK)
    assert scores["empty_mask"] is False and scores["flat_heatmap"] is False


def bimodal() -> tuple[np.ndarray, np.ndarray]:
    """8×8 heatmap: background 0.1–0.2, a 4×4 blob of 0.8–0.9 at rows 2–5, cols 2–5."""
    heatmap = np.full((8, 8), 0.1)
    heatmap[::2, ::3] = 0.2
    heatmap[2:6, 2:6] = 0.8
    heatmap[3:5, 3:5] = 0.9
    blob = np.zeros((8, 8), bool)
    blob[2:6, 2:6] = True
    return heatmap, blob


def test_otsu_separates_a_bimodal_heatmap() -> None:
    heatmap, blob = bimodal()
    np.testing.assert_array_equal(otsu_mask(heatmap), blob)
    assert otsu_iou(heatmap, blob) == 1.0
    # The same blob shifted one column right: overlap 4×3 = 12, union 16 + 16 - 12 = 20.
    assert otsu_iou(heatmap, np.roll(blob, 1, axis=1)) == pytest.approx(12 / 20)
    # Otsu is invariant to the heatmap's scale and offset (min–max normalisation).
    np.testing.assert_array_equal(otsu_mask(heatmap * 3 + 1), blob)


@pytest.mark.parametrize("seed", range(5))
def test_otsu_mask_agrees_with_scikit_image(seed: int) -> None:
    rng = np.random.default_rng(seed)
    heatmap = rng.beta(0.5, 0.5, size=(32, 40))
    scaled = np.floor((heatmap - heatmap.min()) / np.ptp(heatmap) * 255 + 0.5).astype(np.uint8)
    np.testing.assert_array_equal(otsu_mask(heatmap), scaled > threshold_otsu(scaled))


def test_pointing_game_hit_miss_and_ties() -> None:
    heatmap = np.zeros((3, 3))
    mask = np.zeros((3, 3), bool)
    mask[0, 0] = True
    heatmap[2, 2] = 1.0
    assert pointing_game(heatmap, mask) is False
    heatmap[0, 0] = 1.0  # tie between (0,0) in the mask and (2,2) outside: a hit
    assert pointing_game(heatmap, mask) is True
    heatmap[0, 0] = 0.5
    assert pointing_game(heatmap, mask) is False


def test_relevance_mass_values() -> None:
    heatmap = np.array([[1.0, 3.0], [0.0, 0.0]])
    mask = np.array([[True, False], [True, False]])
    assert relevance_mass(heatmap, mask) == 0.25
    assert relevance_mass(heatmap, np.ones((2, 2), bool)) == 1.0


@pytest.mark.filterwarnings("error")  # no RuntimeWarning from a division by zero
def test_all_zero_heatmap_is_flagged_and_scores_without_nan() -> None:
    scores = localisation_scores(np.zeros((4, 4)), MASK)
    assert scores["flat_heatmap"] is True
    assert scores["iou"]["0.5"] == 0.0
    assert scores["otsu_iou"] == 0.0
    assert scores["hit"] is False
    assert scores["relevance_mass"] == 0.0
    assert scores["mask_fraction"] == 0.375


def test_constant_heatmap_points_nowhere() -> None:
    scores = localisation_scores(np.full((4, 4), 0.7), MASK)
    assert scores["flat_heatmap"] is True
    assert scores["hit"] is False and scores["otsu_iou"] == 0.0
    assert scores["iou"]["0.5"] == 0.375  # everything predicted: 6 / 16
    assert scores["relevance_mass"] == pytest.approx(0.375)  # equals the chance level


@pytest.mark.filterwarnings("error")
def test_empty_mask() -> None:
    empty = np.zeros((4, 4), bool)
    scores = localisation_scores(HEATMAP, empty)
    assert scores["empty_mask"] is True
    assert scores["iou"]["0.5"] == 0.0  # prediction not empty, nothing to hit
    assert scores["hit"] is False
    assert scores["relevance_mass"] == 0.0
    assert scores["mask_fraction"] == 0.0
    # Nothing predicted and nothing annotated: undefined.
    assert math.isnan(iou(HEATMAP, empty, threshold=0.95))
    assert math.isnan(localisation_scores(np.zeros((4, 4)), empty)["otsu_iou"])


def test_shape_mismatch_is_a_clear_error() -> None:
    for score in (iou, otsu_iou, pointing_game, relevance_mass, localisation_scores):
        with pytest.raises(ShapeMismatchError, match=r"heatmap shape \(4, 5\) .* \(4, 4\)"):
            score(np.zeros((4, 5)), MASK)
    assert issubclass(ShapeMismatchError, ValueError)


def test_bad_heatmaps_are_rejected() -> None:
    with pytest.raises(ValueError, match="H×W"):
        iou(np.zeros((4, 4, 3)), np.zeros((4, 4, 3), bool))
    with pytest.raises(ValueError, match="NaN"):
        relevance_mass(np.full((4, 4), np.nan), MASK)


def test_classification_hand_example() -> None:
    # Two classes; one "a" is called "b", every "b" is right.
    y_true = [0, 0, 1, 1]
    y_pred = [0, 1, 1, 1]
    probabilities = np.array([[0.9, 0.1], [0.4, 0.6], [0.3, 0.7], [0.2, 0.8]])
    result = classification_metrics(y_true, y_pred, probabilities, ["a", "b"])
    assert result["num_images"] == 4 and result["class_names"] == ["a", "b"]
    assert result["confusion_matrix"] == [[1, 1], [0, 2]]
    assert result["accuracy"] == 0.75
    # a: precision 1/1, recall 1/2, F1 2/3; b: precision 2/3, recall 1, F1 0.8.
    assert result["per_class"]["a"] == pytest.approx(
        {"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 2, "roc_auc": 1.0}
    )
    assert result["per_class"]["b"]["f1"] == pytest.approx(0.8)
    assert result["macro_f1"] == pytest.approx((2 / 3 + 0.8) / 2)
    assert result["macro_roc_auc"] == 1.0


def random_case(seed: int, n: int = 80) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Three classes; class 2 is never predicted; probabilities rounded so that many tie."""
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, 3, size=n)
    y_pred = np.where(rng.random(n) < 0.6, np.minimum(y_true, 1), rng.integers(0, 2, size=n))
    probabilities = np.round(rng.dirichlet([1.0, 1.0, 1.0], size=n), 1)
    return y_true, y_pred, probabilities


@pytest.mark.parametrize("seed", range(6))
def test_classification_metrics_match_scikit_learn(seed: int) -> None:
    y_true, y_pred, probabilities = random_case(seed)
    labels = [0, 1, 2]
    result = classification_metrics(
        y_true, y_pred, probabilities, ["Normal", "Benign", "Malignant"]
    )

    assert result["accuracy"] == pytest.approx(accuracy_score(y_true, y_pred))
    assert result["confusion_matrix"] == confusion_matrix(y_true, y_pred, labels=labels).tolist()
    expected_f1 = f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)
    assert result["macro_f1"] == pytest.approx(expected_f1)
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    aucs = [roc_auc_score(y_true == c, probabilities[:, c]) for c in labels]
    for c, stats in enumerate(result["per_class"].values()):
        assert stats["precision"] == pytest.approx(precision[c])
        assert stats["recall"] == pytest.approx(recall[c])
        assert stats["f1"] == pytest.approx(f1[c])
        assert stats["support"] == support[c]
        assert stats["roc_auc"] == pytest.approx(aucs[c])
    assert result["per_class"]["Malignant"]["precision"] == 0.0  # never predicted
    assert result["macro_roc_auc"] == pytest.approx(np.mean(aucs))


def test_roc_auc_undefined_for_a_class_without_positives() -> None:
    y_true, y_pred, probabilities = random_case(0)
    y_true = np.minimum(y_true, 1)  # class 2 never occurs
    result = classification_metrics(y_true, y_pred, probabilities, ["x", "y", "z"])
    assert result["per_class"]["z"]["roc_auc"] is None
    assert result["per_class"]["z"]["support"] == 0
    assert result["per_class"]["z"]["recall"] == 0.0
    defined = [roc_auc_score(y_true == c, probabilities[:, c]) for c in (0, 1)]
    assert result["macro_roc_auc"] == pytest.approx(np.mean(defined))


def test_roc_auc_all_ties_is_one_half() -> None:
    result = classification_metrics([0, 1, 0, 1], [0, 0, 0, 0], np.full((4, 2), 0.5), ["a", "b"])
    assert result["per_class"]["a"]["roc_auc"] == 0.5


@pytest.mark.parametrize(
    ("y_true", "y_pred", "probabilities", "names", "message"),
    [
        ([0, 1], [0], np.zeros((2, 2)), ["a", "b"], "equal length"),
        ([], [], np.zeros((0, 2)), ["a", "b"], "non-empty"),
        ([0, 1], [0, 1], np.zeros((2, 3)), ["a", "b"], r"shape \(2, 2\)"),
        ([0, 2], [0, 1], np.zeros((2, 2)), ["a", "b"], "y_true must hold class indices 0..1"),
        ([0, 1], [0, -1], np.zeros((2, 2)), ["a", "b"], "y_pred must hold class indices"),
        ([0.0, 1.0], [0, 1], np.zeros((2, 2)), ["a", "b"], "y_true must hold class indices"),
        ([0, 1], [0, 1], np.zeros((2, 2)), ["a", "a"], "distinct"),
    ],
)
def test_classification_input_errors(y_true, y_pred, probabilities, names, message) -> None:
    with pytest.raises(ValueError, match=message):
        classification_metrics(y_true, y_pred, probabilities, names)
