"""The paper's readouts on one embedding: fine-grained, family, held-out generalisation, semantic.

Rashtchian et al. ("Substance or Style", arXiv 2307.05610) train probes on frozen embeddings of
transformed images and report (Sec. 3-4):

* **fine-grained** accuracy: which of the transformations (here 34 and the identity) was applied;
* **family** (coarse) accuracy: which family it belongs to;
* **generalisation**: the family of transformations held out of the probe's training
  (:func:`mlroundup.embedding_probes.probes.heldout_folds`);
* **semantic** accuracy on the same embeddings (here the digit of a composite, or the subfolder of a
  user's image), to show substance and style coexist.

We add a per-transformation **detection** readout: a binary probe tells images with the
transformation from the untouched ones (chance 0.5), the measure of an embedding's invariance
that the contrastive encoder's augmentations are checked with.

:func:`build_probe_set` applies every transformation to every image; :func:`run_readouts` embeds
and probes. Every test set holds images that no probe saw in training (:func:`split_by_image`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlroundup.embedding_probes.images import ImageSet
from mlroundup.embedding_probes.probes import (
    heldout_folds,
    heldout_split,
    make_probe,
    split_by_image,
)
from mlroundup.embedding_probes.transforms import FAMILIES, TRANSFORMATIONS, Transformation

Track = Callable[[Iterable[Any], str, int | None], Iterator[Any]]


@dataclass(frozen=True)
class ProbeSet:
    """Every transformation of every image, with what each probe predicts.

    Attributes
    ----------
    images : ndarray of shape (M, H, W, 3), dtype float32
        ``M = n_images * n_transformations``, image-major.
    image_id : ndarray of shape (M,), dtype int64
        Source image of each sample.
    transform : ndarray of shape (M,), dtype int64
        Index into ``transform_names``.
    family : ndarray of shape (M,), dtype int64
        Index into ``family_names``.
    label : ndarray of shape (M,), dtype int64, or None
        Semantic label of the source image.
    transform_names, family_names, label_names : tuple of str
    transform_families : tuple of str
        The family of each transformation.
    """

    images: np.ndarray
    image_id: np.ndarray
    transform: np.ndarray
    family: np.ndarray
    label: np.ndarray | None
    transform_names: tuple[str, ...]
    family_names: tuple[str, ...]
    label_names: tuple[str, ...]
    transform_families: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.images)


def transform_seed(seed: int, image: int, transform: int) -> int:
    """The seed of transformation ``transform`` on image ``image`` in a probe set seeded ``seed``."""
    return int(np.random.SeedSequence([seed, image, transform]).generate_state(1)[0])


def build_probe_set(base: ImageSet, transformations: Sequence[Transformation] = TRANSFORMATIONS,
                    *, seed: int = 0, track: Track | None = None) -> ProbeSet:  # fmt: skip
    """Apply every transformation to every image of ``base``.

    Parameters
    ----------
    base : ImageSet
        The untransformed images (and their semantic labels, if any).
    transformations : sequence of Transformation
        Default: the whole registry, identity first.
    seed : int
        Transformation ``t`` on image ``i`` uses :func:`transform_seed` ``(seed, i, t)``.
    track : callable, optional
        ``track(iterable, description, total)`` progress bar.

    Returns
    -------
    ProbeSet

    Raises
    ------
    ValueError
        If ``transformations`` is empty or repeats a name.
    """
    names = tuple(t.name for t in transformations)
    if not names or len(set(names)) != len(names):
        raise ValueError("transformations must be a non-empty list of distinct transformations")
    fams = tuple(t.family for t in transformations)
    family_names = tuple(f for f in FAMILIES if f in fams) + tuple(
        sorted(set(fams) - set(FAMILIES))
    )
    n, k = len(base), len(transformations)
    out = np.empty((n * k, *base.images.shape[1:]), dtype=np.float32)
    rows: Iterable[int] = range(n)
    if track is not None:
        rows = track(rows, "transform images", n)
    for i in rows:
        for j, t in enumerate(transformations):
            out[i * k + j] = t(base.images[i], transform_seed(seed, i, j))
    tr = np.tile(np.arange(k), n)
    return ProbeSet(
        images=out,
        image_id=np.repeat(np.arange(n), k),
        transform=tr,
        family=np.array([family_names.index(fams[j]) for j in tr], dtype=np.int64),
        label=None if base.labels is None else np.repeat(base.labels, k),
        transform_names=names,
        family_names=family_names,
        label_names=base.label_names,
        transform_families=fams,
    )


@dataclass
class Readout:
    """One probe's test result.

    Attributes
    ----------
    task : str
        ``"fine_grained"``, ``"family"``, ``"generalisation"`` or ``"semantic"``.
    accuracy : float
        Fraction of test samples classified correctly.
    chance : float
        ``1 / number of classes`` the probe chooses among (a uniform guess).
    n_train, n_test : int
    class_names : tuple of str
    confusion : ndarray of shape (k, k), dtype int64
        ``confusion[i, j]``: test samples of true class i predicted as j (rows: true).
    per_class : dict of str to float
        Recall of each class present in the test set.
    extra : dict
        Task-specific numbers (e.g. the held-out folds, accuracy on untransformed images).
    """

    task: str
    accuracy: float
    chance: float
    n_train: int
    n_test: int
    class_names: tuple[str, ...]
    confusion: np.ndarray
    per_class: dict[str, float]
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        from mlroundup.experiments.schema import jsonable

        return jsonable({
            "task": self.task, "accuracy": self.accuracy, "chance": self.chance,
            "n_train": self.n_train, "n_test": self.n_test, "classes": list(self.class_names),
            "confusion": self.confusion, "per_class": self.per_class, **self.extra,
        })  # fmt: skip


def _score(task: str, y_true: np.ndarray, y_pred: np.ndarray, class_names: Sequence[str],
           n_train: int, n_choices: int, extra: dict | None = None) -> Readout:  # fmt: skip
    k = len(class_names)
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (y_true, y_pred), 1)
    per_class = {
        class_names[c]: float(confusion[c, c] / confusion[c].sum())
        for c in range(k)
        if confusion[c].sum()
    }
    return Readout(task, float(np.mean(y_true == y_pred)), 1.0 / n_choices, n_train, len(y_true),
                   tuple(class_names), confusion, per_class, extra or {})  # fmt: skip


def fit_and_score(task: str, X: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray,
                  class_names: Sequence[str], probe: str = "linear", seed: int = 0,
                  extra: dict | None = None) -> Readout:  # fmt: skip
    """Train a ``probe`` on ``X[train], y[train]`` and score it on ``X[test]``.

    Raises
    ------
    ValueError
        If the training part has fewer than two classes or the test part is empty.
    """
    if not test.any():
        raise ValueError(f"{task}: the test part is empty")
    model = make_probe(probe, seed).fit(X[train], y[train])
    pred = model.predict(X[test])
    return _score(task, y[test], pred, class_names, int(train.sum()), len(model.classes_), extra)


@dataclass
class Readouts:
    """Every readout of one embedding (see the module docstring).

    Attributes
    ----------
    encoder : str
    probe : str
        ``"linear"`` or ``"mlp"``.
    dim : int
        Embedding length.
    fine_grained, family : Readout
    generalisation : Readout
        Pooled over the folds; ``extra["folds"]`` lists each fold's held-out names and accuracy,
        ``per_class`` is by family, ``extra["per_transformation"]`` by held-out transformation.
    semantic : Readout or None
        None without semantic labels; ``extra["accuracy_untransformed"]`` on identity images only.
    detection : dict of str to float
        Test accuracy of a binary probe telling each transformation from the identity (chance 0.5).
    """

    encoder: str
    probe: str
    dim: int
    fine_grained: Readout
    family: Readout
    generalisation: Readout | None
    semantic: Readout | None
    detection: dict[str, float]

    def summary(self) -> dict[str, float | None]:
        """The headline accuracies: ``{task: accuracy}`` (None where not measured)."""
        det = list(self.detection.values())
        return {
            "fine_grained": self.fine_grained.accuracy,
            "family": self.family.accuracy,
            "generalisation": None if self.generalisation is None else self.generalisation.accuracy,
            "semantic": None if self.semantic is None else self.semantic.accuracy,
            "detection_mean": float(np.mean(det)) if det else None,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "encoder": self.encoder,
            "probe": self.probe,
            "dim": self.dim,
            "summary": self.summary(),
            "fine_grained": self.fine_grained.to_json(),
            "family": self.family.to_json(),
            "generalisation": None
            if self.generalisation is None
            else self.generalisation.to_json(),
            "semantic": None if self.semantic is None else self.semantic.to_json(),
            "detection": dict(self.detection),
        }


def generalisation_readout(X: np.ndarray, ps: ProbeSet, base_train: np.ndarray,
                           probe: str = "linear", seed: int = 0) -> Readout:  # fmt: skip
    """The held-out generalisation readout: for each fold of :func:`heldout_folds`, a family probe
    trained without the fold's transformations names the family of the test images they made;
    accuracies pooled over folds."""
    folds = heldout_folds(ps.transform_names, ps.transform_families)
    y_true, y_pred, fold_rows = [], [], []
    per_transform: dict[str, float] = {}
    n_train = 0
    for held in folds:
        train, test = heldout_split(ps.transform, ps.transform_names, held, base_train)
        model = make_probe(probe, seed).fit(X[train], ps.family[train])
        pred = model.predict(X[test])
        y_true.append(ps.family[test])
        y_pred.append(pred)
        n_train = max(n_train, int(train.sum()))
        fold_rows.append(
            {"held_out": list(held), "accuracy": float(np.mean(pred == ps.family[test]))}
        )
        for name in held:
            m = ps.transform[test] == ps.transform_names.index(name)
            per_transform[name] = float(np.mean(pred[m] == ps.family[test][m]))
    return _score("generalisation", np.concatenate(y_true), np.concatenate(y_pred),
                  ps.family_names, n_train, len(ps.family_names),
                  {"folds": fold_rows, "per_transformation": per_transform})  # fmt: skip


def detection_readout(X: np.ndarray, ps: ProbeSet, base_train: np.ndarray,
                      probe: str = "linear", seed: int = 0) -> dict[str, float]:  # fmt: skip
    """For each non-identity transformation T: test accuracy of a binary probe trained on
    {identity, T} images of the training images, tested on those of the test images (balanced,
    chance 0.5). Needs ``"identity"`` in the probe set; returns ``{}`` without it."""
    if "identity" not in ps.transform_names:
        return {}
    ident = ps.transform_names.index("identity")
    out = {}
    for j, name in enumerate(ps.transform_names):
        if j == ident:
            continue
        pair = np.isin(ps.transform, [ident, j])
        y = (ps.transform == j).astype(np.int64)
        r = fit_and_score("detection", X, y, pair & base_train, pair & ~base_train,
                          ("identity", name), probe, seed)  # fmt: skip
        out[name] = r.accuracy
    return out


def readouts_from_embeddings(X: np.ndarray, ps: ProbeSet, *, encoder: str = "encoder",
                             probe: str = "linear", test_fraction: float = 0.3, seed: int = 0,
                             generalisation: bool = True, detection: bool = True,
                             ) -> Readouts:  # fmt: skip
    """All readouts of the embeddings ``X`` (one row per sample of ``ps``).

    Parameters
    ----------
    X : ndarray of shape (len(ps), D)
    ps : ProbeSet
    encoder : str
        Name recorded in the result.
    probe : {"linear", "mlp"}
    test_fraction : float
        Fraction of the images (with all their transformations) in the test part.
    seed : int
        Seeds the split and the MLP probes.
    generalisation, detection : bool
        Whether to run these readouts (they fit one probe per fold / per transformation).

    Returns
    -------
    Readouts

    Raises
    ------
    ValueError
        If ``X`` does not have one finite row per sample.
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or len(X) != len(ps):
        raise ValueError(
            f"embeddings of shape {X.shape} for {len(ps)} samples; expected ({len(ps)}, D)"
        )
    if not np.isfinite(X).all():
        raise ValueError("embeddings hold non-finite values")
    train, test = split_by_image(ps.image_id, test_fraction, seed)
    fine = fit_and_score(
        "fine_grained", X, ps.transform, train, test, ps.transform_names, probe, seed
    )
    fam = fit_and_score("family", X, ps.family, train, test, ps.family_names, probe, seed)
    gen = generalisation_readout(X, ps, train, probe, seed) if generalisation else None
    sem = None
    if ps.label is not None and len(np.unique(ps.label[train])) >= 2:
        model = make_probe(probe, seed).fit(X[train], ps.label[train])
        pred = model.predict(X[test])
        sem = _score("semantic", ps.label[test], pred, ps.label_names, int(train.sum()),
                     len(model.classes_))  # fmt: skip
        if "identity" in ps.transform_names:
            m = ps.transform[test] == ps.transform_names.index("identity")
            sem.extra["accuracy_untransformed"] = float(np.mean(pred[m] == ps.label[test][m]))
    det = detection_readout(X, ps, train, probe, seed) if detection else {}
    return Readouts(encoder, probe, X.shape[1], fine, fam, gen, sem, det)


def run_readouts(encoder: Callable[[np.ndarray], Any], ps: ProbeSet, *, name: str = "encoder",
                 batch_size: int = 256, **kwargs: Any) -> Readouts:  # fmt: skip
    """Embed ``ps.images`` with ``encoder`` (checked by
    :func:`mlroundup.embedding_probes.encoders.embed`) and run
    :func:`readouts_from_embeddings` (``kwargs`` go there).

    Raises
    ------
    EncoderOutputError
        If the encoder's output is not one finite vector per image.
    """
    from mlroundup.embedding_probes.encoders import embed

    X = embed(encoder, ps.images, batch_size=batch_size, name=name)
    return readouts_from_embeddings(X, ps, encoder=name, **kwargs)
