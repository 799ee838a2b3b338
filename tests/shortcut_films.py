"""Films for the shortcut tests: noise-textured limbs, an optional burned-in marker, a site look.

Every random number is drawn whether or not the marker is drawn, so a film rendered with
and without its marker differs only in the marker's pixels (the exact counterfactual).
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import timm
import torch

from assurexray.imaging.preprocess import PreprocessConfig, preprocess_image
from assurexray.models.checkpoint import save_checkpoint

SIZE = 96
CONFIG = PreprocessConfig(image_size=128, resize_mode="stretch")


def film(
    seed: int, *, marker: bool, wide: bool = False, look: int = 0, stamp: str = "L"
) -> np.ndarray:
    """A 96 x 96 uint8 film: dark air, a vertical limb, maybe a marker in a corner.

    The marker is an "L" (``stamp="L"``) or a filled square (``stamp="square"``).

    ``wide`` widens the limb (the anatomical signal of model (b)); ``look`` 1 gives the
    films of one hospital a brighter, noisier look with a bright frame (a site leak).
    """
    rng = np.random.default_rng(seed)
    noise = rng.normal(0, 1, (SIZE // 8, SIZE // 8)).astype(np.float32)
    texture = cv2.resize(noise, (SIZE, SIZE), interpolation=cv2.INTER_CUBIC)
    grain = rng.normal(0, 1, (SIZE, SIZE)).astype(np.float32)
    half = int(rng.integers(11, 14)) + (8 if wide else 0)
    centre = int(rng.integers(44, 52))
    corner = int(rng.integers(4))
    image = np.full((SIZE, SIZE), 18.0, np.float32) + 3 * grain
    limb = np.zeros((SIZE, SIZE), bool)
    limb[:, centre - half : centre + half] = True
    image[limb] = 120 + 18 * texture[limb] + 4 * grain[limb]
    if look == 1:
        image = image * 1.25 + 20 + 6 * grain
        image[:3], image[-3:], image[:, :3], image[:, -3:] = 200, 200, 200, 200
    if marker:
        x = 4 if corner % 2 == 0 else SIZE - 20
        y = 20 if corner < 2 else SIZE - 5
        ink = np.zeros((SIZE, SIZE), np.uint8)
        if stamp == "square":
            cv2.rectangle(ink, (x + 2, y - 11), (x + 11, y - 2), 255, -1)
        else:
            cv2.putText(ink, "L", (x, y), cv2.FONT_HERSHEY_SIMPLEX, 0.6, 255, 2)
        image = np.maximum(image, ink.astype(np.float32) * 0.98)
    return np.clip(image, 0, 255).astype(np.uint8)


def tensors(films: list[np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(np.stack([preprocess_image(f, CONFIG)[0] for f in films]))


def train(films: list[np.ndarray], labels: list[int], path: Path, steps: int = 300) -> Path:
    """A ``test_efficientnet`` whose linear head is fitted on its frozen random features.

    Fitting only the head takes a second on two busy cores (the whole network ten times
    more); the random convolutional features are rich enough for these films.
    """
    torch.manual_seed(0)
    model = timm.create_model("test_efficientnet", pretrained=False, num_classes=2).eval()
    with torch.inference_mode():
        pooled = model.forward_head(model.forward_features(tensors(films)), pre_logits=True)
    pooled, y = pooled.clone(), torch.as_tensor(labels)
    head = model.get_classifier()
    optimiser = torch.optim.Adam(head.parameters(), lr=0.05)
    for _ in range(steps):
        loss = torch.nn.functional.cross_entropy(head(pooled), y)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return save_checkpoint(
        path, model, arch="test_efficientnet", class_names=("Normal", "Benign"), preprocess=CONFIG
    )


def predict(path: Path, films: list[np.ndarray]) -> np.ndarray:
    from assurexray.models.checkpoint import load_checkpoint

    model = load_checkpoint(path, device="cpu").model.eval()
    with torch.inference_mode():
        return torch.softmax(model(tensors(films)), dim=1).numpy()


def write_data_set(root: Path, films: list[np.ndarray], labels: list[str],
                   centers: list[int] | None = None) -> Path:  # fmt: skip
    """A BTXRD-layout data set with every film in the test split."""
    (root / "images").mkdir(parents=True, exist_ok=True)
    ids = [f"IMG{i:06d}" for i in range(len(films))]
    for name, f in zip(ids, films, strict=True):
        cv2.imwrite(str(root / "images" / f"{name}.png"), f)
    table = {
        "image_id": [f"{n}.png" for n in ids],
        "benign": [int(v == "Benign") for v in labels],
        "malignant": [0] * len(ids),
    }
    if centers is not None:
        table["center"] = centers
    pd.DataFrame(table).to_csv(root / "dataset.csv", index=False)
    pd.DataFrame({"image_id": ids, "split": "test", "label": labels}).to_csv(
        root / "splits.csv", index=False
    )
    return root


def labelme(path: Path, shapes: list[tuple[str, list[list[float]]]]) -> Path:
    data = {
        "shapes": [{"label": k, "points": p, "shape_type": "polygon"} for k, p in shapes],
        "imageHeight": SIZE,
        "imageWidth": SIZE,
    }
    path.write_text(json.dumps(data))
    return path
