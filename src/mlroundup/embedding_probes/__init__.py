"""Substance or style: what an image embedding knows about the transformations applied to an image.

Rashtchian et al., "Substance or Style: What Does Your Image Embedding Know?" (arXiv 2307.05610)
train small probes on frozen embeddings to predict which of dozens of transformations was applied.
This package is the probing toolkit, usable with any encoder (a callable ``(N, H, W, 3)`` float32
in ``[0, 1]`` -> ``(N, D)``), plus four small encoders trained here (no pretrained image encoder
ships offline).

Example: probe your own encoder on composites of bundled digits and photos::

    import numpy as np
    from mlroundup.embedding_probes import build_probe_set, make_composites, run_readouts

    def my_encoder(images):                    # (N, H, W, 3) float32 in [0, 1] -> (N, D)
        return images.reshape(len(images), -1)[:, ::7]

    ps = build_probe_set(make_composites(40, 32))    # 40 images x 35 transformations
    r = run_readouts(my_encoder, ps, name="mine")
    r.summary()    # {'fine_grained': ..., 'family': ..., 'generalisation': ..., 'semantic': ...}

From the command line, over a folder of your images (subfolders, if any, are semantic labels)::

    mlroundup probe --encoder mypackage.encoders:clip_embed IMAGES_DIR --json readouts.json
    mlroundup reproduce substance-style       # the paper's readouts for four encoders trained here

Public names (imported lazily so ``mlroundup list`` does not import torch or scikit-learn):

=================== ==========================================================================
:mod:`.transforms`  :class:`Transformation`, :data:`TRANSFORMATIONS`, :data:`FAMILIES`,
                    :data:`IDENTITY`, :data:`SIMCLR_AUGMENTATIONS`, :func:`get`, :func:`names`,
                    :func:`family_members`, :func:`check_image`
:mod:`.images`      :class:`ImageSet`, :func:`make_composites`, :func:`load_image_folder`,
                    :func:`read_image`, :class:`ImageReadError`
:mod:`.encoders`    :func:`embed`, :class:`EncoderOutputError`, :class:`EncoderConfig`,
                    :func:`load_or_train`, :func:`train_encoder`, :func:`pixels`,
                    :data:`ENCODER_KINDS`
:mod:`.probes`      :class:`LinearProbe`, :class:`MLPProbe`, :func:`make_probe`,
                    :func:`split_by_image`, :func:`heldout_folds`, :func:`heldout_split`
:mod:`.readouts`    :class:`ProbeSet`, :func:`build_probe_set`, :class:`Readouts`,
                    :func:`run_readouts`, :func:`readouts_from_embeddings`
=================== ==========================================================================
"""

from mlroundup.utils.lazy import lazy_exports

_EXPORTS = {
    "transforms": (
        "FAMILIES", "IDENTITY", "SIMCLR_AUGMENTATIONS", "TRANSFORMATIONS", "Transformation",
        "check_image", "family_members", "get", "names",
    ),
    "images": ("ImageReadError", "ImageSet", "load_image_folder", "make_composites", "read_image"),
    "encoders": (
        "ENCODER_KINDS", "EncoderConfig", "EncoderOutputError", "embed", "load_or_train",
        "pixels", "train_encoder",
    ),
    "probes": (
        "LinearProbe", "MLPProbe", "heldout_folds", "heldout_split", "make_probe",
        "split_by_image",
    ),
    "readouts": (
        "ProbeSet", "Readouts", "build_probe_set", "readouts_from_embeddings", "run_readouts",
    ),
}  # fmt: skip
__getattr__, __all__ = lazy_exports(__name__, _EXPORTS)
