"""The PNG encoder: what it writes, OpenCV and Pillow decode to the same pixels."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from assurexray.core import png
from assurexray.core.png import encode_png
from assurexray.reporting.render import heat_levels, palette

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, (37, 53, 3), dtype=np.uint8)


def _smooth_levels(height: int = 120, width: int = 90) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width]
    return heat_levels(np.exp(-(((yy - 40) / 30.0) ** 2 + ((xx - 50) / 20.0) ** 2)))


def _pillow(data: bytes) -> Image.Image:
    Image.open(io.BytesIO(data)).verify()  # checks every chunk's CRC
    return Image.open(io.BytesIO(data))


def _opencv(data: bytes) -> np.ndarray:
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert decoded is not None, "OpenCV could not decode the PNG"
    return decoded


@pytest.mark.parametrize(
    ("pixels", "mode"),
    [(RGB, "RGB"), (RGB[:, :, 0], "L"), (np.dstack([RGB, RGB[:, :, 1]]), "RGBA")],
    ids=["rgb", "grey", "rgba"],
)
def test_pillow_and_opencv_decode_the_same_pixels(pixels: np.ndarray, mode: str) -> None:
    data = encode_png(pixels)
    image = _pillow(data)
    assert image.mode == mode
    np.testing.assert_array_equal(np.asarray(image), pixels)
    decoded = _opencv(data)
    if pixels.ndim == 3:  # OpenCV gives BGR(A)
        code = cv2.COLOR_BGR2RGB if pixels.shape[2] == 3 else cv2.COLOR_BGRA2RGBA
        decoded = cv2.cvtColor(decoded, code)
    np.testing.assert_array_equal(decoded, pixels)


def test_palette_png_keeps_indexes_and_shows_the_colours() -> None:
    levels = _smooth_levels()
    colours = palette("jet")
    image = _pillow(encode_png(levels, palette=colours))
    assert image.mode == "P"
    np.testing.assert_array_equal(np.asarray(image), levels)
    shown = cv2.cvtColor(_opencv(encode_png(levels, palette=colours)), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(shown, colours[levels])


def test_rows_differ_from_the_row_above_modulo_256() -> None:
    rows = np.array([[10, 200], [5, 250], [5, 250]], np.uint8)
    filtered = png._filtered_up(rows)
    np.testing.assert_array_equal(filtered, [[2, 10, 200], [2, 251, 50], [2, 0, 0]])


def test_compressed_data_split_over_several_chunks_is_one_image(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(png, "_MAX_CHUNK", 100)
    data = encode_png(RGB)
    assert data.count(b"IDAT") > 10
    np.testing.assert_array_equal(np.asarray(_pillow(data)), RGB)


def test_as_small_as_opencvs_fast_png() -> None:
    """Same filter, another deflate: within a quarter of OpenCV's zlib level 1."""
    yy, xx = np.mgrid[0:300, 0:200]
    smooth = np.dstack([(yy % 256), (xx % 256), ((yy + xx) // 2 % 256)]).astype(np.uint8)
    ours = len(encode_png(smooth))
    _, theirs = cv2.imencode(".png", smooth, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    assert ours < 1.25 * theirs.size
    assert ours < smooth.nbytes / 10  # it does compress


@pytest.mark.parametrize(
    "pixels",
    [
        np.zeros((4, 4), np.uint16),
        np.zeros((4, 4, 2), np.uint8),
        np.zeros((0, 4), np.uint8),
        np.zeros(4, np.uint8),
    ],
    ids=["16-bit", "two-channels", "empty", "one-axis"],
)
def test_refuses_what_it_cannot_write(pixels: np.ndarray) -> None:
    with pytest.raises(ValueError, match="cannot write"):
        encode_png(pixels)


def test_palette_needs_indexes() -> None:
    with pytest.raises(ValueError, match="palette"):
        encode_png(RGB, palette=palette("jet"))


def _grey_png_file(path, bits: int, interlaced: bool = False):
    dtype = np.uint16 if bits == 16 else np.uint8
    pixels = RNG.integers(0, np.iinfo(dtype).max, (61, 47), dtype=dtype)
    Image.fromarray(pixels).save(path, format="PNG", interlace=interlaced)  # Pillow: I;16 or L
    return pixels


@pytest.mark.parametrize(("bits", "interlaced"), [(8, False), (16, False), (16, True)])
def test_read_image_decodes_grey_pngs_through_opencv_to_pillows_pixels(
    tmp_path, monkeypatch: pytest.MonkeyPatch, bits: int, interlaced: bool
) -> None:
    from assurexray.imaging import reading as imaging

    decoded = []

    def spy(*args):
        decoded.append(png.decode_grey_png(*args))
        return decoded[-1]

    monkeypatch.setattr(imaging, "decode_grey_png", spy)
    path = tmp_path / "grey.png"
    pixels = _grey_png_file(path, bits, interlaced)
    radiograph = imaging.read_image(path)
    assert decoded and decoded[0] is not None  # OpenCV read it
    np.testing.assert_array_equal(radiograph.data, pixels)
    np.testing.assert_array_equal(radiograph.data, np.asarray(Image.open(path)))
    assert radiograph.bit_depth == bits and radiograph.data.dtype == pixels.dtype


def test_chunk_types_finds_every_kind_of_damage(tmp_path) -> None:
    data = encode_png(RGB)
    assert png.chunk_types(data) == [b"IHDR", b"IDAT", b"IEND"]
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0xFF
    damaged = {
        "truncated": data[:-20],
        "no IEND": data[:-12],
        "flipped byte": bytes(flipped),
        "not a PNG": b"GIF89a" + data[6:],
    }
    for name, bad in damaged.items():
        assert png.chunk_types(bad) is None, name


@pytest.mark.parametrize("damage", ["truncated", "flipped byte"])
def test_damaged_grey_png_is_reported_without_libpng_noise(
    tmp_path, capfd: pytest.CaptureFixture[str], damage: str
) -> None:
    from assurexray.core.errors import ImageReadError
    from assurexray.imaging.reading import read_image

    path = tmp_path / "grey.png"
    _grey_png_file(path, 16)
    data = bytearray(path.read_bytes())
    if damage == "truncated":
        del data[len(data) // 2 :]
    else:
        data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    assert png.decode_grey_png(path, (61, 47), 16) is None
    with pytest.raises(ImageReadError, match="truncated or corrupt PNG") as error:
        read_image(path)  # by Pillow, which words the damage
    assert str(error.value).startswith(f"{path}: ") and "\n" not in str(error.value)
    assert "libpng" not in capfd.readouterr().err
