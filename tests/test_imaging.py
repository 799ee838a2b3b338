"""Tests for assurexray.imaging.reading: every supported format, and every kind of bad input."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.pixels import get_decoder
from pydicom.uid import ExplicitVRLittleEndian, JPEGLSLossless, generate_uid

from assurexray.core.errors import ImageReadError
from assurexray.imaging.reading import (
    DEFAULT_MAX_PIXELS,
    IMAGE_EXTENSIONS,
    Radiograph,
    is_image_file,
    read_image,
)

GRADIENT = np.tile(np.arange(0, 256, 4, dtype=np.uint8), (48, 1))  # 48 x 64, 0..252
HALF_LEVEL = 0.5 / 255 + 1e-6  # Pillow's "L" conversion rounds luminance to 8-bit levels


def _save(img: Image.Image, path: Path, **kwargs) -> Path:
    img.save(path, **kwargs)
    return path


def _check_valid(rad: Radiograph) -> None:
    assert rad.data.dtype in (np.uint8, np.uint16, np.float32)
    assert rad.data.flags["C_CONTIGUOUS"] and rad.data.shape == rad.size
    assert rad.pixels.dtype == np.float32
    assert rad.pixels.ndim == 2
    assert rad.pixels.flags["C_CONTIGUOUS"]
    assert np.isfinite(rad.pixels).all()
    assert rad.pixels.min() >= 0.0 and rad.pixels.max() <= 1.0


# --- Pillow formats --------------------------------------------------------------------------


def test_png_8bit_gray_exact(tmp_path: Path) -> None:
    rad = read_image(_save(Image.fromarray(GRADIENT), tmp_path / "a.png"))
    _check_valid(rad)
    np.testing.assert_allclose(rad.pixels, GRADIENT / 255.0, atol=1e-6)
    assert (rad.source_format, rad.bit_depth, rad.original_mode) == ("PNG", 8, "L")
    assert rad.size == (48, 64) and (rad.height, rad.width) == (48, 64)
    assert rad.path == tmp_path / "a.png" and rad.warnings == ()


def test_jpeg_gray_close(tmp_path: Path) -> None:
    rad = read_image(_save(Image.fromarray(GRADIENT), tmp_path / "a.JPG", quality=95))
    _check_valid(rad)
    assert rad.source_format == "JPEG"
    np.testing.assert_allclose(rad.pixels, GRADIENT / 255.0, atol=0.03)


def test_png_16bit_scaled_by_65535(tmp_path: Path) -> None:
    arr = np.array([[0, 32768, 65535], [1, 1000, 65534]], dtype=np.uint16)
    rad = read_image(_save(Image.fromarray(arr), tmp_path / "a.png"))
    assert (rad.bit_depth, rad.original_mode) == (16, "I;16")
    assert rad.pixels[0, 0] == 0.0 and rad.pixels[0, 2] == 1.0
    assert rad.pixels[0, 1] == pytest.approx(32768 / 65535, abs=1e-6)
    np.testing.assert_allclose(rad.pixels, arr / 65535.0, atol=1e-6)


def test_rgb_becomes_luminance(tmp_path: Path) -> None:
    arr = np.zeros((2, 4, 3), dtype=np.uint8)
    arr[0, 0], arr[0, 1], arr[0, 2], arr[0, 3] = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255,) * 3
    rad = read_image(_save(Image.fromarray(arr), tmp_path / "a.png"))
    assert rad.original_mode == "RGB"
    np.testing.assert_allclose(rad.pixels[0], [0.299, 0.587, 0.114, 1.0], atol=HALF_LEVEL)
    assert (rad.pixels[1] == 0).all() and rad.data.dtype == np.uint8


def test_rgba_composited_on_black(tmp_path: Path) -> None:
    arr = np.full((1, 3, 4), 255, dtype=np.uint8)
    arr[0, :, 3] = (255, 0, 51)  # opaque, transparent, 20 % opaque white
    rad = read_image(_save(Image.fromarray(arr), tmp_path / "a.png"))
    assert rad.original_mode == "RGBA"
    np.testing.assert_allclose(rad.pixels[0], [1.0, 0.0, 0.2], atol=1e-6)
    assert any("black" in w for w in rad.warnings)


def test_opaque_rgba_has_no_warning(tmp_path: Path) -> None:
    arr = np.full((2, 2, 4), 255, dtype=np.uint8)
    rad = read_image(_save(Image.fromarray(arr), tmp_path / "a.png"))
    assert rad.warnings == () and (rad.pixels == 1.0).all()


def test_gray_alpha_la(tmp_path: Path) -> None:
    img = Image.fromarray(np.array([[200, 200]], dtype=np.uint8)).convert("LA")
    img.putalpha(Image.fromarray(np.array([[255, 0]], dtype=np.uint8)))
    rad = read_image(_save(img, tmp_path / "a.png"))
    np.testing.assert_allclose(rad.pixels[0], [200 / 255, 0.0], atol=1e-6)


def test_palette_image(tmp_path: Path) -> None:
    img = Image.new("P", (3, 1))
    img.putpalette([255, 0, 0, 0, 255, 0, 10, 10, 10] + [0] * (256 * 3 - 9))
    img.putdata([0, 1, 2])
    rad = read_image(_save(img, tmp_path / "a.png"))
    assert rad.original_mode == "P"
    np.testing.assert_allclose(rad.pixels[0], [0.299, 0.587, 10 / 255], atol=HALF_LEVEL)


def test_palette_with_transparency(tmp_path: Path) -> None:
    img = Image.new("P", (2, 1))
    img.putpalette([255, 255, 255, 128, 128, 128] + [0] * (256 * 3 - 6))
    img.putdata([0, 1])
    rad = read_image(_save(img, tmp_path / "a.png", transparency=0))
    np.testing.assert_allclose(rad.pixels[0], [0.0, 128 / 255], atol=1e-6)


def test_bilevel_image(tmp_path: Path) -> None:
    img = Image.fromarray(np.array([[0, 255]], dtype=np.uint8)).convert("1")
    rad = read_image(_save(img, tmp_path / "a.png"))
    np.testing.assert_array_equal(rad.pixels[0], [0.0, 1.0])


@pytest.mark.parametrize("mode", ["L", "I;16", "I;16B"])
def test_tiff_8_and_16_bit(tmp_path: Path, mode: str) -> None:
    if mode == "L":
        img, expected, depth = Image.fromarray(GRADIENT), GRADIENT / 255.0, 8
    else:
        arr = GRADIENT.astype(np.uint16) * 257
        dtype = ">u2" if mode == "I;16B" else "<u2"  # (Pillow's convert() to I;16B clips at 255)
        img = Image.frombytes(mode, (64, 48), arr.astype(dtype).tobytes())
        expected, depth = arr / 65535.0, 16
    rad = read_image(_save(img, tmp_path / "a.TIFF"))
    assert (rad.source_format, rad.bit_depth, rad.original_mode) == ("TIFF", depth, mode)
    np.testing.assert_allclose(rad.pixels, expected, atol=1e-6)


def test_tiff_32bit_int(tmp_path: Path) -> None:
    small = np.array([[0, 65535]], dtype=np.int32)
    rad = read_image(_save(Image.fromarray(small), tmp_path / "a.tif"))
    np.testing.assert_allclose(rad.pixels[0], [0.0, 1.0])
    big = np.array([[-10, 0, 200_000]], dtype=np.int32)
    rad = read_image(_save(Image.fromarray(big), tmp_path / "b.tif"))
    np.testing.assert_allclose(rad.pixels[0], [0.0, 10 / 200_010, 1.0], atol=1e-6)
    assert rad.warnings


def test_float_tiff_in_range_kept(tmp_path: Path) -> None:
    arr = np.array([[0.25, 0.5, 0.75]], dtype=np.float32)
    rad = read_image(_save(Image.fromarray(arr), tmp_path / "a.tif"))
    assert rad.original_mode == "F"
    np.testing.assert_allclose(rad.pixels, arr)


def test_float_tiff_out_of_range_min_max_and_nan(tmp_path: Path) -> None:
    arr = np.array([[-100.0, 0.0, 300.0, np.nan, np.inf]], dtype=np.float32)
    rad = read_image(_save(Image.fromarray(arr), tmp_path / "a.tif"))
    _check_valid(rad)
    np.testing.assert_allclose(rad.pixels[0], [0.0, 0.25, 1.0, 0.0, 1.0], atol=1e-6)


def test_constant_float_tiff_becomes_zeros(tmp_path: Path) -> None:
    arr = np.full((4, 4), 7.0, dtype=np.float32)
    rad = read_image(_save(Image.fromarray(arr), tmp_path / "a.tif"))
    assert (rad.pixels == 0).all()


def test_multipage_tiff_first_page_with_warning(tmp_path: Path) -> None:
    pages = [Image.fromarray(np.full((4, 4), v, dtype=np.uint8)) for v in (51, 204)]
    pages[0].save(tmp_path / "mp.tif", save_all=True, append_images=pages[1:])
    rad = read_image(tmp_path / "mp.tif")
    assert (rad.pixels == np.float32(0.2)).all()
    assert any("2 frames" in w for w in rad.warnings)


def test_bmp(tmp_path: Path) -> None:
    rad = read_image(_save(Image.fromarray(GRADIENT).convert("RGB"), tmp_path / "a.bmp"))
    assert rad.source_format == "BMP"
    np.testing.assert_allclose(rad.pixels, GRADIENT / 255.0, atol=1e-5)


@pytest.mark.parametrize(
    ("orientation", "corner"),
    [(1, (0, 0)), (3, (-1, -1)), (6, (0, -1)), (8, (-1, 0))],
)
def test_exif_orientation_applied(tmp_path: Path, orientation: int, corner: tuple) -> None:
    arr = np.zeros((40, 60), dtype=np.uint8)  # H=40, W=60, bright block at stored top-left
    arr[:10, :10] = 255
    exif = Image.Exif()
    exif[0x0112] = orientation
    rad = read_image(_save(Image.fromarray(arr), tmp_path / "a.jpg", exif=exif, quality=95))
    assert rad.size == ((60, 40) if orientation in (6, 8) else (40, 60))
    assert rad.pixels[corner] > 0.9
    assert rad.pixels.flags["C_CONTIGUOUS"]


def test_exif_orientation_on_16bit_png(tmp_path: Path) -> None:
    arr = np.zeros((4, 6), dtype=np.uint16)
    arr[0, 0] = 65535
    exif = Image.Exif()
    exif[0x0112] = 6
    rad = read_image(_save(Image.fromarray(arr), tmp_path / "a.png", exif=exif))
    assert rad.size == (6, 4) and rad.bit_depth == 16
    assert rad.pixels[0, -1] == 1.0 and rad.pixels.sum() == 1.0


# --- DICOM -------------------------------------------------------------------------------------


def _write_dicom(
    path: Path,
    arr: np.ndarray,
    photometric: str = "MONOCHROME2",
    bits_stored: int = 12,
    **attrs,
) -> Path:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"  # Digital X-Ray
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "DX"
    ds.set_pixel_data(arr, photometric, bits_stored)
    for key, value in attrs.items():
        setattr(ds, key, value)
    ds.save_as(path, enforce_file_format=True)
    return path


def test_dicom_monochrome2_with_rescale(tmp_path: Path) -> None:
    stored = np.array([[0, 100], [200, 400]], dtype=np.uint16)
    path = _write_dicom(tmp_path / "a.dcm", stored, RescaleSlope=2, RescaleIntercept=-100)
    rad = read_image(path)
    _check_valid(rad)
    assert (rad.source_format, rad.bit_depth, rad.original_mode) == ("DICOM", 12, "MONOCHROME2")
    np.testing.assert_allclose(rad.pixels, [[0, 0.25], [0.5, 1.0]], atol=1e-6)


def test_dicom_rescale_applied_before_window(tmp_path: Path) -> None:
    # Stored 500 -> HU 0 (window centre); stored 0 -> -1000 and 1000 -> +1000, both outside.
    stored = np.array([[0, 500, 1000]], dtype=np.uint16)
    path = _write_dicom(
        tmp_path / "ct.dcm",
        stored,
        RescaleSlope=2,
        RescaleIntercept=-1000,
        WindowCenter=0,
        WindowWidth=401,
    )
    np.testing.assert_allclose(read_image(path).pixels[0], [0.0, 0.5, 1.0], atol=0.01)


def test_dicom_window_clips_and_centres(tmp_path: Path) -> None:
    stored = np.array([[0, 1548, 2048, 2548, 4095]], dtype=np.uint16)
    path = _write_dicom(tmp_path / "w.dcm", stored, WindowCenter=2048, WindowWidth=1000)
    pixels = read_image(path).pixels[0]
    assert pixels[0] == 0.0 and pixels[-1] == 1.0
    assert pixels[2] == pytest.approx(0.5, abs=0.01)
    assert pixels[1] == pytest.approx(0.0, abs=0.01) and pixels[3] == pytest.approx(1.0, abs=0.01)


def test_dicom_voi_lut_sequence(tmp_path: Path) -> None:
    item = Dataset()
    item.LUTDescriptor = [256, 0, 8]
    item.add_new("LUTData", "US", list(range(255, -1, -1)))  # decreasing: shows it was applied
    stored = np.array([[0, 255, 1000]], dtype=np.uint16)
    path = _write_dicom(
        tmp_path / "lut.dcm", stored, VOILUTSequence=[item], WindowCenter=5, WindowWidth=2
    )
    np.testing.assert_allclose(read_image(path).pixels[0], [1.0, 0.0, 0.0], atol=1e-6)


def test_dicom_monochrome1_inverted(tmp_path: Path) -> None:
    stored = np.array([[0, 2000, 4000]], dtype=np.uint16)
    rad = read_image(_write_dicom(tmp_path / "m1.dcm", stored, photometric="MONOCHROME1"))
    assert rad.original_mode == "MONOCHROME1"
    np.testing.assert_allclose(rad.pixels[0], [1.0, 0.5, 0.0], atol=1e-6)


def test_dicom_constant_becomes_zeros(tmp_path: Path) -> None:
    path = _write_dicom(tmp_path / "c.dcm", np.full((3, 3), 77, dtype=np.uint16))
    assert (read_image(path).pixels == 0).all()


def test_dicom_signed_pixels(tmp_path: Path) -> None:
    stored = np.array([[-1000, 0, 1000]], dtype=np.int16)
    rad = read_image(_write_dicom(tmp_path / "s.dcm", stored, bits_stored=16))
    np.testing.assert_allclose(rad.pixels[0], [0.0, 0.5, 1.0], atol=1e-6)


def test_dicom_rgb_to_luminance(tmp_path: Path) -> None:
    arr = np.zeros((1, 2, 3), dtype=np.uint8)
    arr[0, 0] = (255, 0, 0)
    arr[0, 1] = (255, 255, 255)
    rad = read_image(_write_dicom(tmp_path / "rgb.dcm", arr, photometric="RGB", bits_stored=8))
    np.testing.assert_allclose(rad.pixels[0], [0.299, 1.0], atol=1e-6)


def test_dicom_multiframe_first_frame_with_warning(tmp_path: Path) -> None:
    frames = np.stack([np.full((4, 5), v, dtype=np.uint16) for v in (10, 20, 30)])
    frames[0, 0, 0] = 0  # first frame is not constant, so min-max shows it
    rad = read_image(_write_dicom(tmp_path / "mf.dcm", frames))
    assert rad.size == (4, 5)
    assert rad.pixels[0, 0] == 0.0 and rad.pixels[1, 1] == 1.0
    assert any("3 frames" in w for w in rad.warnings)


def test_dicom_detected_without_extension(tmp_path: Path) -> None:
    path = _write_dicom(tmp_path / "a.dcm", np.array([[0, 10]], dtype=np.uint16))
    for name in ("IM0001", "scan.png"):  # extension-less, and mis-named
        other = path.rename(tmp_path / name)
        assert read_image(other).source_format == "DICOM"
        path = other


def test_dicom_bare_dataset_without_preamble(tmp_path: Path) -> None:
    full = pydicom.dcmread(_write_dicom(tmp_path / "a.dcm", np.array([[0, 8]], dtype=np.uint16)))
    bare = Dataset()
    bare.update(full)
    pydicom.dcmwrite(tmp_path / "bare.dcm", bare, implicit_vr=True, little_endian=True)
    assert (tmp_path / "bare.dcm").read_bytes()[128:132] != b"DICM"
    np.testing.assert_allclose(read_image(tmp_path / "bare.dcm").pixels[0], [0.0, 1.0])


@pytest.mark.filterwarnings("ignore:Expected explicit VR")  # pydicom, on SC_rgb_jpeg.dcm
@pytest.mark.parametrize(
    "name",
    [
        "CT_small.dcm",
        "MR_small.dcm",
        "MR_small_RLE.dcm",  # RLE: decoded by pydicom itself
        "SC_rgb_jpeg.dcm",  # JPEG baseline: decoded through Pillow
        "SC_rgb_rle_2frame.dcm",
        "examples_palette.dcm",  # PALETTE COLOR
        "examples_ybr_color.dcm",  # YBR_FULL_422, 30 frames
    ],
)
def test_pydicom_bundled_samples(name: str) -> None:
    path = get_testdata_file(name)
    if path is None:  # the files ship inside the pydicom wheel; skip only if truly absent
        pytest.skip(f"pydicom test file {name} not available")
    rad = read_image(path)
    _check_valid(rad)
    assert rad.pixels.max() > rad.pixels.min()
    assert rad.source_format == "DICOM"


def test_dicom_without_pixel_data(tmp_path: Path) -> None:
    path = _write_dicom(tmp_path / "sr.dcm", np.zeros((2, 2), dtype=np.uint16))
    ds = pydicom.dcmread(path)
    del ds.PixelData
    ds.save_as(path, enforce_file_format=True)
    with pytest.raises(ImageReadError, match=r"sr\.dcm: .*no pixel data"):
        read_image(path)


def test_dicom_truncated_pixel_data(tmp_path: Path) -> None:
    path = _write_dicom(tmp_path / "t.dcm", np.zeros((2, 4), dtype=np.uint16))
    ds = pydicom.dcmread(path)
    ds.PixelData = ds.PixelData[:8]
    ds.save_as(path, enforce_file_format=True)
    with pytest.raises(ImageReadError, match=r"t\.dcm: invalid or truncated DICOM pixel data"):
        read_image(path)


def test_dicom_text_named_dcm(tmp_path: Path) -> None:
    (tmp_path / "x.dcm").write_text("just some text, not a DICOM file\n")
    with pytest.raises(ImageReadError, match=r"x\.dcm: not a valid DICOM"):
        read_image(tmp_path / "x.dcm")


def test_dicom_undecodable_transfer_syntax() -> None:
    if get_decoder(JPEGLSLossless).is_available:
        pytest.skip("a JPEG-LS handler is installed, so the file decodes")
    path = get_testdata_file("MR_small_jpeg_ls_lossless.dcm")
    if path is None:
        pytest.skip("pydicom test file not available")
    with pytest.raises(ImageReadError, match=r"transfer syntax JPEG-LS .* cannot be decoded"):
        read_image(path)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_dicom_bad_header_value() -> None:
    path = get_testdata_file("badVR.dcm")  # Rows is "1A"
    if path is None:
        pytest.skip("pydicom test file not available")
    with pytest.raises(ImageReadError, match=r"badVR\.dcm: invalid DICOM"):
        read_image(path)


def test_dicom_too_large(tmp_path: Path) -> None:
    path = _write_dicom(tmp_path / "big.dcm", np.zeros((10, 20), dtype=np.uint16))
    with pytest.raises(ImageReadError, match=r"too large \(20x10 = 200 pixels, limit 199\)"):
        read_image(path, max_pixels=199)


# --- Bad input -------------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ImageReadError, match=r"nope\.png: file not found"):
        read_image(tmp_path / "nope.png")


def test_directory(tmp_path: Path) -> None:
    (tmp_path / "folder.png").mkdir()
    with pytest.raises(ImageReadError, match=r"folder\.png: is a directory"):
        read_image(tmp_path / "folder.png")


def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / "empty.jpg").touch()
    with pytest.raises(ImageReadError, match=r"empty\.jpg: file is empty \(0 bytes\)"):
        read_image(tmp_path / "empty.jpg")


def test_text_named_png(tmp_path: Path) -> None:
    (tmp_path / "notes.png").write_text("not an image\n" * 20)
    with pytest.raises(ImageReadError, match=r"notes\.png: not a recognised image"):
        read_image(tmp_path / "notes.png")


def test_unsupported_format_gif(tmp_path: Path) -> None:
    path = _save(Image.fromarray(GRADIENT), tmp_path / "a.gif")
    with pytest.raises(ImageReadError, match="not a recognised image"):
        read_image(path)


@pytest.mark.parametrize(("suffix", "fmt"), [(".jpg", "JPEG"), (".png", "PNG")])
def test_truncated_image(tmp_path: Path, suffix: str, fmt: str) -> None:
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    path = _save(Image.fromarray(noise), tmp_path / f"cut{suffix}")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageReadError, match=rf"cut\{suffix}: truncated or corrupt {fmt} image"):
        read_image(path)


def test_too_large_checked_before_decoding(tmp_path: Path) -> None:
    path = _save(Image.fromarray(GRADIENT), tmp_path / "big.png")
    expected = r"big\.png: image too large \(64x48 = 3,072 pixels, limit 3,071\)"
    with pytest.raises(ImageReadError, match=expected):
        read_image(path, max_pixels=3071)
    assert read_image(path, max_pixels=3072).size == (48, 64)


def test_pillow_limit_never_stricter_than_ours(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # Pillow alone would refuse this image
    path = _save(Image.fromarray(GRADIENT), tmp_path / "a.png")
    assert read_image(path).size == (48, 64)
    with pytest.raises(ImageReadError, match="too large"):
        read_image(path, max_pixels=1000)


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow: "Corrupt EXIF data"
def test_corrupt_header_one_line_message(tmp_path: Path) -> None:
    path = tmp_path / "broken.tif"
    path.write_bytes(b"II*\x00" + b"\xff" * 50)  # TIFF magic, then garbage
    with pytest.raises(ImageReadError, match=r"corrupt TIFF image \(bad header\)") as info:
        read_image(path)
    message = str(info.value)
    assert message.startswith(str(path)) and "\n" not in message


# --- Extensions ------------------------------------------------------------------------------


def test_is_image_file_case_insensitive() -> None:
    names = ("a.png", "b.PNG", "c.JpEg", "d.JPG", "e.Tif", "f.TIFF", "g.bmp", "h.DCM", "i.dicom")
    for name in names:
        assert is_image_file(name), name
        assert is_image_file(Path("folder") / name), name
    for name in ("noext", "a.txt", "a.json", "a.png.bak", "dcm", ".png"):
        assert not is_image_file(name), name


def test_constants() -> None:
    assert DEFAULT_MAX_PIXELS == 100_000_000
    assert all(ext.startswith(".") and ext == ext.lower() for ext in IMAGE_EXTENSIONS)
    assert {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".dcm", ".dicom"} == IMAGE_EXTENSIONS


# --- Integer data, reduced decoding, notes ---------------------------------------------------


def _radiograph_like(height: int, width: int) -> np.ndarray:
    """A smooth bone-like band with texture: JPEG-friendly, not constant."""
    yy, xx = np.mgrid[:height, :width].astype(np.float32)
    band = np.exp(-(((xx - width / 2) / (0.15 * width)) ** 2))
    texture = 0.1 * np.sin(yy / 7.0) * np.cos(xx / 11.0)
    return np.clip(255 * (0.2 + 0.6 * band + texture), 0, 255).astype(np.uint8)


def test_integer_sources_stay_integer_until_asked(tmp_path: Path) -> None:
    rad8 = read_image(_save(Image.fromarray(GRADIENT), tmp_path / "a.png"))
    assert rad8.data.dtype == np.uint8 and rad8.white == 255
    np.testing.assert_array_equal(rad8.data, GRADIENT)
    assert rad8.pixels is rad8.pixels  # converted once, then kept
    arr16 = GRADIENT.astype(np.uint16) * 257
    rad16 = read_image(_save(Image.fromarray(arr16), tmp_path / "b.png"))
    assert rad16.data.dtype == np.uint16 and rad16.white == 65535
    np.testing.assert_array_equal(rad16.data, arr16)


def test_reduction_factor_never_goes_below_the_floor() -> None:
    from assurexray.imaging.header import reduction_factor

    assert reduction_factor((3000, 2000), None) == 1
    assert reduction_factor((3000, 2000), (224, 224)) == 8  # 375 x 250
    assert reduction_factor((3000, 2000), (1024, 224)) == 2  # 1500 x 1000
    assert reduction_factor((900, 700), (1024, 224)) == 1
    for height in range(60, 3000, 37):
        for need in ((224, 224), (1024, 224), (512, 100)):
            factor = reduction_factor((height, 1500), need)
            sides = sorted((-(-height // factor), -(-1500 // factor)))
            assert sides[1] >= min(need[0], max(height, 1500))
            assert sides[0] >= min(need[1], height, 1500)


def test_jpeg_decoded_at_reduced_scale_keeps_the_file_size(tmp_path: Path) -> None:
    full = _radiograph_like(700, 1000)
    path = _save(Image.fromarray(full), tmp_path / "big.jpg", quality=95)
    rad = read_image(path, reduce_to=(200, 100))
    assert rad.size == (700, 1000) and (rad.height, rad.width) == (700, 1000)
    assert rad.data.shape == (175, 250) and rad.data.dtype == np.uint8  # 1/4 scale
    whole = read_image(path)
    assert whole.data.shape == (700, 1000)
    import cv2

    shrunk = cv2.resize(whole.pixels, (250, 175), interpolation=cv2.INTER_AREA)
    assert np.abs(rad.pixels - shrunk).mean() < 0.01  # libjpeg's scaled IDCT ~ area average


def test_reduced_decode_follows_exif_orientation(tmp_path: Path) -> None:
    arr = np.zeros((200, 400), dtype=np.uint8)  # stored H=200, W=400, bright top-left block
    arr[:40, :40] = 255
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    path = _save(Image.fromarray(arr), tmp_path / "r.jpg", exif=exif, quality=95)
    rad = read_image(path, reduce_to=(100, 50))
    assert rad.size == (400, 200) and rad.data.shape == (100, 50)
    assert rad.pixels[0, -1] > 0.9 and rad.pixels[-1, 0] < 0.1


def test_colour_jpeg_decoded_straight_to_grey(tmp_path: Path) -> None:
    rgb = np.stack([_radiograph_like(48, 64), GRADIENT, np.full((48, 64), 90, np.uint8)], axis=2)
    path = _save(Image.fromarray(rgb), tmp_path / "c.jpg", quality=95)
    rad = read_image(path)
    assert rad.original_mode == "RGB" and rad.data.dtype == np.uint8
    with Image.open(path) as img:
        reference = np.asarray(img.convert("L"), dtype=np.int16)  # full RGB decode, then luma
    assert np.abs(rad.data.astype(np.int16) - reference).max() <= 3


def test_reduced_copy_keeps_the_frame(tmp_path: Path) -> None:
    rad = read_image(_save(Image.fromarray(_radiograph_like(300, 500)), tmp_path / "a.png"))
    small = rad.reduced(100)
    assert small.data.shape == (60, 100) and small.size == (300, 500)
    assert small.warnings == rad.warnings and small.path == rad.path
    assert rad.reduced(600) is rad


def test_all_infinite_tiff_is_an_error_without_numpy_warnings(tmp_path: Path) -> None:
    path = _save(Image.fromarray(np.full((4, 4), np.inf, np.float32)), tmp_path / "inf.tif")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a RuntimeWarning would fail the test
        with pytest.raises(ImageReadError, match=r"inf\.tif: no finite pixel value"):
            read_image(path)


def test_partly_non_finite_tiff_is_noted(tmp_path: Path) -> None:
    arr = np.array([[0.0, 2.0, np.nan, np.inf]], dtype=np.float32)
    rad = read_image(_save(Image.fromarray(arr), tmp_path / "nan.tif"))
    np.testing.assert_allclose(rad.pixels[0], [0.0, 1.0, 0.0, 1.0])
    assert any("2 NaN or infinite" in note for note in rad.warnings)


@pytest.mark.filterwarnings("ignore:Invalid value for VR DS")  # pydicom, on writing "nan"
@pytest.mark.parametrize("slope", ["1e400", "-1e400", "nan"])
def test_dicom_non_finite_rescale_is_an_error(tmp_path: Path, slope: str) -> None:
    path = _write_dicom(tmp_path / "s.dcm", np.array([[0, 100]], dtype=np.uint16))
    ds = pydicom.dcmread(path)
    ds.RescaleSlope, ds.RescaleIntercept = slope, "0"
    ds.save_as(path, enforce_file_format=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.raises(ImageReadError, match=r"s\.dcm: .*RescaleSlope .* not a finite number"):
            read_image(path)


def test_dicom_overflowing_rescale_is_an_error(tmp_path: Path) -> None:
    stored = np.array([[60000, 65000]], dtype=np.uint16)
    path = _write_dicom(
        tmp_path / "o.dcm", stored, bits_stored=16, RescaleSlope="1e305", RescaleIntercept="0"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.raises(ImageReadError, match=r"o\.dcm: no finite pixel value"):
            read_image(path)


@pytest.mark.filterwarnings("ignore:Expected explicit VR")  # pydicom, on SC_rgb_jpeg.dcm
@pytest.mark.parametrize("name", ["MR_small_RLE.dcm", "SC_rgb_jpeg.dcm"])
def test_corrupt_compressed_dicom_is_not_blamed_on_missing_packages(
    tmp_path: Path, name: str
) -> None:
    source = get_testdata_file(name)
    if source is None:
        pytest.skip(f"pydicom test file {name} not available")
    raw = Path(source).read_bytes()
    pixel_data = pydicom.dcmread(source).PixelData
    start, keep = raw.index(pixel_data), len(pixel_data) // 3  # zero the last two thirds
    zeros = b"\0" * (len(pixel_data) - keep)
    (tmp_path / "bad.dcm").write_bytes(raw[: start + keep] + zeros + raw[start + len(pixel_data) :])
    with pytest.raises(ImageReadError, match=r"bad\.dcm: corrupt .* pixel data") as info:
        read_image(tmp_path / "bad.dcm")
    assert "install" not in str(info.value) and "\n" not in str(info.value)


def test_decompression_bomb_message_quotes_our_limit(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # Pillow refuses above 2000 itself
    path = _save(Image.fromarray(GRADIENT), tmp_path / "bomb.png")
    with pytest.raises(ImageReadError) as info:
        read_image(path, max_pixels=1000)
    assert str(info.value) == f"{path}: image too large (3,072 pixels, limit 1,000)"
