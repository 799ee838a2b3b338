"""Reading a weights file without running code from it.

``.pt``/``.pth``/``.ckpt`` files go through ``torch.load(weights_only=True)``,
which rebuilds only tensors and plain values. Real training scripts also store
a few harmless objects beside the weights; :data:`SAFE_GLOBALS` lets exactly
these through PyTorch's safe-globals mechanism
(:func:`torch.serialization.safe_globals`), nothing else:

* ``argparse.Namespace``: timm's ``train.py`` (``CheckpointSaver``) stores its ``args``;
* NumPy scalars, dtypes and arrays (``best_acc = np.float64(0.8)``, a metric history);
* ``pathlib`` paths (an output folder in a config; a Windows path becomes a
  ``PureWindowsPath`` on other systems);
* the standard containers torch already allows (dict, list, tuple, set,
  ``OrderedDict``, ``Counter``) plus ``frozenset``. ``defaultdict`` and ``deque``
  cannot be rebuilt by torch's weights-only unpickler and stay refused.

Any other class or function the pickle names is refused, naming it.
``.safetensors`` files hold only tensors and are read with :mod:`safetensors`.
"""

from __future__ import annotations

import argparse
import pathlib
import pickle
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from assurexray.core.errors import CheckpointError, refuse_special, why_missing
from assurexray.core.text import first_line

# torch names the global a pickle asked for when weights_only refuses it.
_UNSAFE_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")


def _numpy_globals() -> list[Any]:
    """NumPy's scalar, dtype and array reconstructors under NumPy 2 and 1.x module names."""
    import numpy.dtypes as dtypes

    core = getattr(np, "_core", None) or np.core
    scalar, reconstruct = core.multiarray.scalar, core.multiarray._reconstruct
    entries: list[Any] = [np.dtype, np.ndarray]
    for name in ("numpy._core.multiarray", "numpy.core.multiarray"):
        entries += [(scalar, f"{name}.scalar"), (reconstruct, f"{name}._reconstruct")]
    entries += [getattr(dtypes, n) for n in dir(dtypes) if n.endswith("DType")]
    return entries


def _path_globals() -> list[Any]:
    """Paths under every name a Python version pickles them as, rebuilt as pure paths."""
    entries: list[Any] = [pathlib.PurePath, pathlib.PurePosixPath, pathlib.PureWindowsPath]
    for module in ("pathlib", "pathlib._local"):
        entries += [
            (pathlib.PurePosixPath, f"{module}.PosixPath"),
            (pathlib.PureWindowsPath, f"{module}.WindowsPath"),
            (pathlib.PurePath, f"{module}.Path"),
            (pathlib.PurePosixPath, f"{module}.PurePosixPath"),
            (pathlib.PureWindowsPath, f"{module}.PureWindowsPath"),
        ]
    return entries


SAFE_GLOBALS: tuple[Any, ...] = (
    argparse.Namespace,
    frozenset,
    *_numpy_globals(),
    *_path_globals(),
)
"""The globals a checkpoint may name beyond torch's own (documented in the module docstring)."""


def read_checkpoint_file(path: Path) -> Any:
    """The object a weights file holds, read safely; each failure becomes one line.

    Raises:
        CheckpointError: missing, empty, a folder, a FIFO or device, corrupt, or naming a class
            or function outside :data:`SAFE_GLOBALS` (the message names it).
    """
    if not path.exists():
        raise CheckpointError(f"{path}: checkpoint file {why_missing(path)}")
    if path.is_dir():
        raise CheckpointError(f"{path}: is a folder, not a checkpoint file")
    refuse_special(path, CheckpointError)  # a FIFO's size is 0: it is not 'empty'
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: checkpoint file is empty")
    if path.suffix.lower() == ".safetensors":
        return _read_safetensors(path)
    try:
        with torch.serialization.safe_globals(list(SAFE_GLOBALS)):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = _UNSAFE_GLOBAL.search(str(exc))
        unsafe = found.group(1) if found else _pickle_globals(path)
        if unsafe is not None:
            named = f" ({unsafe})" if unsafe else ""
            raise CheckpointError(
                f"{path}: refused to load: the file holds Python objects{named} that would "
                "need unpickling arbitrary code (only tensors, plain values and the types "
                "listed in assurexray.models.safe_load are allowed)"
            ) from None
        raise CheckpointError(f"{path}: corrupt or not a PyTorch checkpoint") from None
    except Exception as exc:  # torch.load fails in many ways on a damaged file
        reason = f" ({first_line(exc)})" if isinstance(exc, RuntimeError) else ""
        raise CheckpointError(f"{path}: corrupt or not a PyTorch checkpoint{reason}") from None


def _read_safetensors(path: Path) -> dict[str, Any]:
    """A ``.safetensors`` file: its tensors, and its text metadata under ``__metadata__``."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            state = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
            metadata = handle.metadata() or {}
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own error types
        raise CheckpointError(f"{path}: corrupt safetensors file ({first_line(exc)})") from None
    return {"state_dict": state, **({"__metadata__": metadata} if metadata else {})}


def _pickle_globals(path: Path) -> str | None:
    """Whether ``path`` is a well-formed pickle (the whole file, or the ``data.pkl``
    of a torch zip archive), read with :mod:`pickletools` without running it.

    Returns:
        None for a file that is not a pickle (random bytes, a damaged file);
        otherwise the first global it imports other than torch's own, or ""
        when it imports none.
    """
    import pickletools
    import zipfile

    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                member = next(n for n in archive.namelist() if n.endswith("data.pkl"))
                data = archive.read(member)
        else:
            data = path.read_bytes()
        strings: list[str] = []
        names: list[str] = []
        for opcode, arg, _ in pickletools.genops(data):
            if opcode.name == "GLOBAL":
                names.append(str(arg).replace(" ", "."))
            elif opcode.name == "STACK_GLOBAL" and len(strings) >= 2:
                names.append(".".join(strings[-2:]))
            elif isinstance(arg, str):
                strings.append(arg)
    except Exception:  # noqa: BLE001 - any failure to parse means "not a pickle"
        return None
    foreign = [n for n in names if not n.startswith(("torch.", "collections.OrderedDict"))]
    return foreign[0] if foreign else ""
