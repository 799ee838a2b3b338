from __future__ import annotations

import pandas as pd
import pytest

from assurexray.data.selection import select_examples, stratified_choice

NAMES = ("Normal", "Benign", "Malignant")


def _table(rows: list[tuple[str, str, str, float]]) -> pd.DataFrame:
    """Rows of (image_id, true, predicted, confidence of predicted)."""
    records = []
    for image_id, true, pred, conf in rows:
        probs = {f"p_{n}": (conf if n == pred else (1 - conf) / 2) for n in NAMES}
        records.append({"image_id": image_id, "true_label": true, "predicted_label": pred, **probs})
    return pd.DataFrame(records)


TABLE = _table(
    [
        ("a", "Benign", "Benign", 0.9),
        ("b", "Benign", "Benign", 0.6),
        ("c", "Benign", "Benign", 0.9),  # ties with a: a first by id
        ("d", "Normal", "Benign", 0.8),  # FP for Benign, FN for Normal
        ("e", "Malignant", "Benign", 0.95),  # FP for Benign, FN for Malignant
        ("f", "Benign", "Malignant", 0.7),  # FN for Benign, FP for Malignant
        ("g", "Normal", "Normal", 0.5),
        ("h", "Benign", "Normal", 0.99),  # FN for Benign (more confident wrong)
    ]
)


def _ids(frame: pd.DataFrame) -> list[str]:
    return list(frame["image_id"])


def test_known_answers_with_ties_and_ordering() -> None:
    chosen = select_examples(TABLE, NAMES, k=2)
    assert _ids(chosen["Benign"]["TP"]) == ["a", "c"]
    assert _ids(chosen["Benign"]["FP"]) == ["e", "d"]
    assert _ids(chosen["Benign"]["FN"]) == ["h", "f"]
    assert _ids(chosen["Normal"]["TP"]) == ["g"]
    assert _ids(chosen["Normal"]["FP"]) == ["h"]
    assert _ids(chosen["Normal"]["FN"]) == ["d"]
    assert _ids(chosen["Malignant"]["TP"]) == []
    assert _ids(chosen["Malignant"]["FN"]) == ["e"]


def test_k_larger_than_a_category_returns_what_exists() -> None:
    chosen = select_examples(TABLE, NAMES, k=5)
    assert _ids(chosen["Benign"]["TP"]) == ["a", "c", "b"]
    assert len(chosen["Malignant"]["FP"]) == 1


def test_k_out_of_range() -> None:
    with pytest.raises(ValueError, match="between 1 and 5"):
        select_examples(TABLE, NAMES, k=6)


def test_stratified_choice_takes_both_classes_when_file_order_favours_one() -> None:
    frame = pd.DataFrame(
        {
            "image_id": [f"IMG{i:04d}" for i in range(30)],
            "label": ["Malignant"] * 25 + ["Benign"] * 5,
        }
    )
    chosen, counts = stratified_choice(frame, "label", 4, seed=1)
    assert (chosen["label"] == "Benign").sum() == 4 and (chosen["label"] == "Malignant").sum() == 4
    assert counts == {
        "Benign": {"available": 5, "used": 4},
        "Malignant": {"available": 25, "used": 4},
    }
    again, _ = stratified_choice(frame, "label", 4, seed=1)
    assert _ids(again) == _ids(chosen)
    everything, _ = stratified_choice(frame, "label", None)
    assert len(everything) == 30
