"""Probes (scikit-learn estimators) and the splits they are trained and tested on.

A probe is a small classifier trained on frozen embeddings (Rashtchian et al., arXiv 2307.05610,
Sec. 3): :class:`LinearProbe` (standardised features, shrinkage LDA or logistic regression) and
:class:`MLPProbe` (standardised features, one hidden ReLU layer). Both are ordinary scikit-learn
classifiers (``fit`` / ``predict`` / ``predict_proba`` / ``score``, ``get_params``, clonable), so
they drop into ``cross_val_score`` or a ``Pipeline``.

Splits keep a test honest:

* :func:`split_by_image` puts every version of an image (all its transformations) on one side,
  so a probe cannot recognise a transformation by remembering the image it was applied to;
* :func:`heldout_folds` and :func:`heldout_split` build the paper's generalisation task: some
  transformations of each family are never seen in training, and the probe must name the family of
  images transformed by them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, check_is_fitted, check_X_y


class _Probe(ClassifierMixin, BaseEstimator):
    """Standardise, then classify; subclasses build the classifier in :meth:`_classifier`."""

    def _classifier(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def fit(self, X, y):
        """Fit on embeddings ``X`` of shape (n, D) and labels ``y`` of shape (n,).

        Raises
        ------
        ValueError
            If ``X`` is not 2-D, holds NaN or infinity, its length differs from ``y``'s, or ``y``
            has fewer than two classes.
        """
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        X, y = check_X_y(X, y, dtype=np.float64)
        check_classification_targets(y)
        self.classes_ = np.unique(y)
        if len(self.classes_) < 2:
            raise ValueError(f"a probe needs at least 2 classes in y, got {len(self.classes_)}")
        self.pipeline_ = make_pipeline(StandardScaler(), self._classifier())
        self.pipeline_.fit(X, y)
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X):
        """Predicted labels, shape (n,)."""
        check_is_fitted(self)
        return self.pipeline_.predict(check_array(X, dtype=np.float64))

    def predict_proba(self, X):
        """Class probabilities, shape (n, n_classes), columns in ``classes_`` order."""
        check_is_fitted(self)
        return self.pipeline_.predict_proba(check_array(X, dtype=np.float64))


class LinearProbe(_Probe):
    """A linear probe: standardised embeddings, then a linear classifier.

    Parameters
    ----------
    solver : {"lda", "logistic"}
        ``"lda"``: linear discriminant analysis with Ledoit-Wolf shrinkage of the shared covariance
        (:class:`sklearn.discriminant_analysis.LinearDiscriminantAnalysis`, closed form, a fit
        in milliseconds); ``"logistic"``: multinomial logistic regression with an L2 penalty
        (:class:`sklearn.linear_model.LogisticRegression`, L-BFGS). Both give linear decision
        boundaries; on our embeddings they agree within a few points of accuracy and LDA fits
        ~10x faster, so it is the default.
    C : float
        Inverse L2 strength (``"logistic"`` only).
    max_iter : int
        L-BFGS iterations (``"logistic"`` only).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    pipeline_ : sklearn.pipeline.Pipeline
        The fitted scaler and classifier.
    """

    def __init__(self, solver: str = "lda", C: float = 1.0, max_iter: int = 500):
        self.solver = solver
        self.C = C
        self.max_iter = max_iter

    def _classifier(self):
        if self.solver == "lda":
            from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

            return LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto")
        if self.solver == "logistic":
            from sklearn.linear_model import LogisticRegression

            return LogisticRegression(C=self.C, max_iter=self.max_iter)
        raise ValueError(f"invalid solver {self.solver!r}; valid: 'lda', 'logistic'")


class MLPProbe(_Probe):
    """A small MLP probe: standardised embeddings, one hidden ReLU layer, softmax.

    Trained with Adam (mini-batches of 64, step 3e-3), stopping when accuracy on a held-back 10%
    of the training samples has not improved for 20 epochs (:class:`sklearn.neural_network.MLPClassifier`, ``early_stopping``).

    Parameters
    ----------
    hidden : int
        Hidden units.
    alpha : float
        L2 penalty.
    max_iter : int
        Epochs of Adam.
    random_state : int
        Seeds the initialisation and the batches.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    pipeline_ : sklearn.pipeline.Pipeline
    """

    def __init__(self, hidden: int = 256, alpha: float = 1e-3, max_iter: int = 200,
                 random_state: int = 0):  # fmt: skip
        self.hidden = hidden
        self.alpha = alpha
        self.max_iter = max_iter
        self.random_state = random_state

    def _classifier(self):
        from sklearn.neural_network import MLPClassifier

        # Mini-batches of 64 and a 3e-3 step: with scikit-learn's defaults (batches of 200, 1e-3)
        # a few hundred samples give two updates an epoch and early stopping ends training
        # before the probe has learned a trivially separable case.
        return MLPClassifier(hidden_layer_sizes=(self.hidden,), alpha=self.alpha,
                             batch_size=64, learning_rate_init=3e-3,
                             max_iter=self.max_iter, random_state=self.random_state,
                             early_stopping=True, n_iter_no_change=20)  # fmt: skip

    def fit(self, X, y):
        import warnings

        from sklearn.exceptions import ConvergenceWarning

        with warnings.catch_warnings():  # max_iter is a budget of epochs, not an error
            warnings.simplefilter("ignore", ConvergenceWarning)
            return super().fit(X, y)

    fit.__doc__ = _Probe.fit.__doc__


#: Probe kinds by name (the CLI's ``--probe`` and the experiment's settings).
PROBES: dict[str, type[_Probe]] = {"linear": LinearProbe, "mlp": MLPProbe}


def make_probe(kind: str, seed: int = 0) -> _Probe:
    """A fresh probe of ``kind`` (``"linear"`` or ``"mlp"``).

    Raises
    ------
    ValueError
        For another kind; the message lists the valid ones.
    """
    if kind not in PROBES:
        raise ValueError(f"invalid probe {kind!r}; valid: {', '.join(PROBES)}")
    return MLPProbe(random_state=seed) if kind == "mlp" else LinearProbe()


def split_by_image(image_ids: Sequence[int] | np.ndarray, test_fraction: float = 0.3,
                   seed: int = 0) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Boolean train / test masks over samples such that no image is on both sides.

    Parameters
    ----------
    image_ids : array of shape (n,), dtype int
        The source image of each sample.
    test_fraction : float
        Fraction of the distinct images put in the test part, in (0, 1); rounded, and at least one
        image on each side.
    seed : int

    Returns
    -------
    train, test : ndarray of shape (n,), dtype bool
        Complementary masks.

    Raises
    ------
    ValueError
        If there are fewer than two distinct images or ``test_fraction`` is outside (0, 1).
    """
    ids = np.asarray(image_ids)
    if not 0 < test_fraction < 1:
        raise ValueError(f"invalid test_fraction={test_fraction}: in (0, 1)")
    unique = np.unique(ids)
    if len(unique) < 2:
        raise ValueError(f"splitting by image needs at least 2 images, got {len(unique)}")
    n_test = min(len(unique) - 1, max(1, int(round(test_fraction * len(unique)))))
    test_ids = np.random.default_rng(seed).permutation(unique)[:n_test]
    test = np.isin(ids, test_ids)
    return ~test, test


def heldout_folds(transform_names: Sequence[str], families: Sequence[str]) -> list[tuple[str, ...]]:
    """The held-out transformations of each fold of the generalisation task.

    Fold ``f`` holds out the ``f``-th transformation (in registry order) of every family with at
    least two and more than ``f`` members, so each family keeps at least one in training and
    every transformation of a family with two or more members is held out in exactly one fold;
    one-member families (``"none"``: the identity) are never held out.

    Parameters
    ----------
    transform_names : sequence of str
    families : sequence of str
        The family of each transformation (same length).

    Returns
    -------
    list of tuple of str
        One tuple of held-out names per fold.

    Raises
    ------
    ValueError
        If the lengths differ, a name repeats, or no family has two members.
    """
    if len(transform_names) != len(families):
        raise ValueError("transform_names and families differ in length")
    if len(set(transform_names)) != len(transform_names):
        raise ValueError("transformation names repeat")
    members: dict[str, list[str]] = {}
    for name, fam in zip(transform_names, families, strict=True):
        members.setdefault(fam, []).append(name)
    n_folds = max(len(m) for m in members.values())
    if n_folds < 2:
        raise ValueError("the generalisation task needs a family with at least two transformations")
    folds = []
    for f in range(n_folds):
        # one member out per family: a family of m >= 2 keeps m - 1 >= 1 in training
        folds.append(tuple(m[f] for m in members.values() if len(m) > 1 and f < len(m)))
    return folds


def heldout_split(transform: np.ndarray, transform_names: Sequence[str],
                  held_out: Sequence[str], base_train: np.ndarray,
                  ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Masks of one generalisation fold: train on the other transformations of the training images,
    test on the held-out transformations of the test images.

    Parameters
    ----------
    transform : ndarray of shape (n,), dtype int
        Index into ``transform_names`` of each sample's transformation.
    transform_names : sequence of str
    held_out : sequence of str
        Names never used in training.
    base_train : ndarray of shape (n,), dtype bool
        Training side of :func:`split_by_image`.

    Returns
    -------
    train, test : ndarray of shape (n,), dtype bool
        No held-out transformation and no test image in ``train``; only held-out
        transformations of test images in ``test``.

    Raises
    ------
    KeyError
        If ``held_out`` names an unknown transformation.
    """
    unknown = [h for h in held_out if h not in transform_names]
    if unknown:
        raise KeyError(f"unknown held-out transformations {unknown}")
    held_idx = [list(transform_names).index(h) for h in held_out]
    is_held = np.isin(np.asarray(transform), held_idx)
    base_train = np.asarray(base_train, dtype=bool)
    return base_train & ~is_held, ~base_train & is_held
