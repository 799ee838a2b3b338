"""Streams of images through the model: batched prediction and explanation.

The building block of the jobs
(:mod:`assurexray.inference.infer`, :mod:`assurexray.inference.gallery`,
:mod:`assurexray.localisation.compare`), which decide what to stream and what to write.

Images are decoded and preprocessed by a small thread pool while the model
works on the previous batch; at most a few batches are in memory at once, so
a folder of thousands of radiographs streams through. A file that cannot be
read becomes a :class:`LoadFailure` and the run goes on.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from itertools import chain, islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import pandas as pd
import torch

from assurexray.core.callbacks import Progress, no_progress
from assurexray.core.errors import AssureXrayError
from assurexray.engine.jobs import StreamOptions
from assurexray.engine.model_opening import OpenedModel
from assurexray.engine.stream_items import ExplainedImage as ExplainedImage
from assurexray.engine.stream_items import LoadedImage as LoadedImage
from assurexray.engine.stream_items import LoadFailure as LoadFailure
from assurexray.engine.stream_items import Prediction as Prediction
from assurexray.imaging.header import decoded_pixels
from assurexray.imaging.preprocess import PreprocessConfig, decode_floor, preprocess_image
from assurexray.imaging.reading import DEFAULT_MAX_PIXELS, read_image

if TYPE_CHECKING:
    from assurexray.explain.explainer import Explainer

T = TypeVar("T")
DISPLAY_SIDE = 1024  # longest side of any picture the jobs draw of one image


class PixelBudget:
    """At most ``limit`` decoded pixels held by the images being read at once.

    An image larger than the whole budget still goes, alone. This bounds the
    memory of a folder run by the budget, whatever the number or size of files.
    """

    def __init__(self, limit: int) -> None:
        self.limit, self.used = limit, 0
        self._changed = threading.Condition()

    @contextmanager
    def hold(self, pixels: int) -> Iterator[None]:
        with self._changed:
            self._changed.wait_for(lambda: self.used == 0 or self.used + pixels <= self.limit)
            self.used += pixels
        try:
            yield
        finally:
            with self._changed:
                self.used -= pixels
                self._changed.notify_all()


def input_from_copy(config: PreprocessConfig) -> bool:
    """True when the network input is made from the kept copy (``radiograph.data``), so
    ``preprocess_image(copy, config, size=...)`` gives the stream's own input."""
    return config.resize_mode == "letterbox" and config.interpolation == "area" and not config.clahe


def _load_one(
    path: Path, config: PreprocessConfig, display_side: int, max_pixels: int, budget: PixelBudget
) -> LoadedImage | LoadFailure:
    """Decode, keep a display-size copy, and make the network input.

    A letterboxed input is resized from the copy, which keeps ``image_size``
    pixels along the longest side: one pass over the decoded pixels, not two
    (``tests/test_reduced_decode.py`` states the tolerance). CLAHE equalises
    the decoded image itself, and a stretch needs ``image_size`` pixels along
    the shortest side too, and a ``linear`` or ``cubic`` resize must see every
    pixel the trainer's did, so these start from the decoded image.
    """
    floor = decode_floor(config, display_side)
    try:
        with budget.hold(decoded_pixels(path, floor)):
            decoded = read_image(path, max_pixels=max_pixels, reduce_to=floor)
            radiograph = decoded.reduced(max(display_side, config.image_size))
            source = radiograph if input_from_copy(config) else decoded
            tensor, geometry = preprocess_image(source.data, config, size=decoded.size)
    except AssureXrayError as exc:
        return LoadFailure(path, str(exc))
    except (OSError, ValueError, MemoryError) as exc:
        return LoadFailure(path, f"{path}: cannot read ({exc})")
    return LoadedImage(path, radiograph, tensor, geometry)


def _non_finite(path: Path) -> LoadFailure:
    """The failure of an image whose class scores came out NaN or infinite."""
    return LoadFailure(path, f"{path}: the model's output is not finite (NaN or infinity)")


def load_images(
    paths: Iterable[str | Path],
    config: PreprocessConfig,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    workers: int = 2,
    prefetch: int = 16,
    display_side: int = DISPLAY_SIDE,
    pixels_in_flight: int | None = None,
) -> Iterator[LoadedImage | LoadFailure]:
    """Decode and preprocess images in background threads, in input order.

    Args:
        paths: Image files.
        config: The checkpoint's preprocessing.
        max_pixels: Decompression-bomb limit per image.
        workers: Decoding threads.
        prefetch: Images decoded ahead of the consumer at most.
        display_side: Longest side of the pictures to be drawn (0: none; the
            default suits every picture the jobs draw). JPEGs are decoded at
            reduced scale down to what the network and the pictures need, and
            each image keeps a copy this size (at least the network size).
        pixels_in_flight: Decoded pixels being read at once, all workers
            together (default ``max_pixels``: one image of the largest allowed
            size at a time), so peak memory does not grow with the files.
    """
    budget = PixelBudget(pixels_in_flight or max_pixels)
    pending: deque[Future[LoadedImage | LoadFailure]] = deque()
    iterator = iter(paths)

    def submit(path: str | Path) -> Future[LoadedImage | LoadFailure]:
        return pool.submit(_load_one, Path(path), config, display_side, max_pixels, budget)

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        pending.extend(submit(path) for path in islice(iterator, prefetch))
        while pending:
            result = pending.popleft().result()
            pending.extend(submit(path) for path in islice(iterator, 1))
            yield result


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Group ``items`` into lists of ``size`` (the last may be shorter)."""
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def _batches(
    paths: Iterable[str | Path],
    config: PreprocessConfig,
    run_batch: Callable[[list[LoadedImage], torch.Tensor, list[int]], list[T]],
    stream: StreamOptions,
    display_side: int = 0,
) -> Iterator[list[T | LoadFailure]]:
    """Load images in the background, batch them, and yield each batch's outputs in order.

    ``run_batch(images, batch, positions)`` turns a batch of loaded images
    (with their positions in ``paths``) into one output each; a file that
    could not be loaded is yielded as its :class:`LoadFailure` where it stands.
    The next forward pass starts only when the caller asks for the next batch.
    """
    images = load_images(
        paths,
        config,
        max_pixels=stream.max_pixels,
        workers=stream.workers,
        display_side=display_side,
    )
    device = stream.torch_device
    start = 0
    for chunk in batched(images, stream.batch_size):
        positions = [start + n for n, item in enumerate(chunk) if isinstance(item, LoadedImage)]
        start += len(chunk)
        loaded = [item for item in chunk if isinstance(item, LoadedImage)]
        outputs: Iterator[T] = iter(())
        if loaded:
            batch = torch.from_numpy(np.stack([i.tensor for i in loaded])).to(device)
            outputs = iter(run_batch(loaded, batch, positions))
        yield [item if isinstance(item, LoadFailure) else next(outputs) for item in chunk]


def predict_paths(
    paths: Iterable[str | Path],
    model: torch.nn.Module,
    config: PreprocessConfig,
    stream: StreamOptions,
) -> Iterator[Prediction | LoadFailure]:
    """Softmax probabilities for every image, streamed in batches (no heatmaps)."""
    model.eval()

    def run_batch(
        loaded: list[LoadedImage], batch: torch.Tensor, _: list[int]
    ) -> list[Prediction | LoadFailure]:
        with torch.inference_mode():
            logits = model(batch).float().cpu()
        probs = torch.softmax(logits, dim=1).numpy()
        return [
            _non_finite(i.path)
            if not np.isfinite(row).all()
            else Prediction(i.path, p, int(p.argmax()))
            for i, p, row in zip(loaded, probs, logits.numpy(), strict=True)
        ]

    yield from chain.from_iterable(_batches(paths, config, run_batch, stream))


def explain_paths(*args: Any, **kwargs: Any) -> Iterator[ExplainedImage | LoadFailure]:
    """:func:`explain_batches`, one image at a time."""
    return chain.from_iterable(explain_batches(*args, **kwargs))


def explain_batches(
    paths: Iterable[str | Path],
    explainer: Explainer,
    config: PreprocessConfig,
    stream: StreamOptions,
    *,
    targets: Sequence[int | None] | None = None,
    display_side: int = DISPLAY_SIDE,
) -> Iterator[list[ExplainedImage | LoadFailure]]:
    """Predict and explain every image, heatmaps mapped back to each image's frame.

    Yields the images of each forward pass together, in input order.

    Args:
        paths: Image files.
        explainer: An :class:`assurexray.explain.explainer.Explainer`.
        config: The checkpoint's preprocessing.
        stream: Device, images per forward pass, decoding threads, pixel limit.
        targets: Class index to explain, one per path (None: the predicted
            class); by default the predicted class of every image.
        display_side: Longest side of the pictures the caller will draw
            (0: none); see :func:`load_images`.
    """
    paths = list(paths)
    if targets is not None and len(targets) != len(paths):
        raise ValueError(f"{len(targets)} targets for {len(paths)} images")

    def run_batch(
        loaded: list[LoadedImage], batch: torch.Tensor, positions: list[int]
    ) -> list[ExplainedImage | LoadFailure]:
        wanted = [targets[p] for p in positions] if targets is not None else None
        with np.errstate(invalid="ignore", over="ignore"):  # non-finite outputs: see below
            result = explainer.explain(batch, targets=wanted)
        return [
            _non_finite(image.path)
            if not np.isfinite(result.logits[n]).all()
            else ExplainedImage(
                image=image,
                probabilities=result.probabilities[n],
                predicted=int(result.predicted[n]),
                target=int(result.targets[n]),
                network_heatmap=np.asarray(result.heatmaps[n]),
                empty=bool(result.empty[n]),
            )
            for n, image in enumerate(loaded)
        ]

    yield from _batches(paths, config, run_batch, stream, display_side)


def predict_records(
    records: pd.DataFrame,
    model: OpenedModel,
    stream: StreamOptions,
    *,
    progress: Progress = no_progress,
) -> tuple[pd.DataFrame, list[LoadFailure]]:
    """Predict every image of ``records`` (``image_id``, ``path``, ``label``)."""
    names = model.class_names
    by_path = {
        str(Path(p)): row for p, row in zip(records["path"], records.itertuples(), strict=True)
    }
    rows, failures = [], []
    items = predict_paths(records["path"], model.checkpoint.model, model.preprocess, stream)
    for done, item in enumerate(items, start=1):
        if isinstance(item, LoadFailure):
            failures.append(item)
        else:
            record = by_path[str(item.path)]
            rows.append(
                {
                    "image_id": record.image_id,
                    "path": str(item.path),
                    "true_label": record.label,
                    "predicted_label": names[item.predicted],
                    **{f"p_{n}": float(p) for n, p in zip(names, item.probabilities, strict=True)},
                    "correct": record.label == names[item.predicted],
                }
            )
        progress("predict", done, len(records))
    columns = [
        "image_id",
        "path",
        "true_label",
        "predicted_label",
        *(f"p_{n}" for n in names),
        "correct",
    ]
    return pd.DataFrame(rows, columns=columns), failures
