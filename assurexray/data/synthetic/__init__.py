"""A synthetic bone-radiograph data set in the exact BTXRD layout.

So that a user with no data and no internet can run the whole chain, this
package draws radiograph-like images of long bones and writes them as BTXRD
does::

    root/images/IMG000001.jpeg ...     (mostly .jpeg, some .jpg, ~10 % 16-bit .png)
    root/Annotations/IMG000001.json    (LabelMe; tumour images only)
    root/dataset.xlsx                  (image_id, center, age, gender, site flags,
                                        tumor, benign, malignant, subtype flags)
    root/synthetic.json                (manifest: generator version, settings and
                                        the hard cases)

As in BTXRD, the tumour images get the low ids and the normal images the high
ids, so ids are not a safe split order. The lesion is the only class signal:
centre, size, format and demographics are drawn independently of the class.
Some tumours are hard on purpose: small and faint, or drawn in the other
tumour class's style, so that a model trained on the set makes real errors.

Modules: :mod:`~assurexray.data.synthetic.plan` chooses every image's settings,
:mod:`~assurexray.data.synthetic.anatomy` and :mod:`~assurexray.data.synthetic.lesions`
draw the phantom, :mod:`~assurexray.data.synthetic.phantom` renders one image, and
:mod:`~assurexray.data.synthetic.writer` writes the files.
"""

from __future__ import annotations

from assurexray.data.synthetic.phantom import Phantom, render_case
from assurexray.data.synthetic.plan import SUBTYPES, PhantomCase, plan_dataset
from assurexray.data.synthetic.writer import (
    GENERATOR_VERSION,
    MANIFEST_NAME,
    METADATA_NAME,
    SyntheticSummary,
    dataset_matches,
    generate_dataset,
)

__all__ = [
    "GENERATOR_VERSION",
    "MANIFEST_NAME",
    "METADATA_NAME",
    "SUBTYPES",
    "Phantom",
    "PhantomCase",
    "SyntheticSummary",
    "dataset_matches",
    "generate_dataset",
    "plan_dataset",
    "render_case",
]
