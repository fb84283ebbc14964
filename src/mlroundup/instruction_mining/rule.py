"""The InstructMining rule: log eval loss as a linear function of a dataset's mean indicators.

Cao et al. (arXiv 2307.06290, Sec. 3) estimate the quality of an instruction dataset ``D`` by the
loss ``L`` on a fixed evaluation set of a model fine-tuned on ``D``, and model it as

    log L(M_D, D_eval) = beta_0 + sum_i beta_i * I_i(D) + eps,

where ``I_i(D)`` is the mean of indicator ``i`` over the examples of ``D``. The coefficients are
ordinary least squares estimates over many fine-tuned datasets; predictors whose coefficients are
not significant are dropped. A lower predicted ``log L`` is better data; applied to a single
example's indicators the rule ranks examples for selection.

:meth:`QualityRule.paper` is the rule the paper's first version (July 2023) published.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin

SELECTIONS = ("backward", "none")

#: The rule of arXiv 2307.06290v1 (July 2023), "log L ∝ 1.0694 − 0.1498·Rew + 8.257e-5·Len −
#: 0.9350·Knn_6". Where each number comes from: the equation as issue 14 of this project quotes
#: the roundup, and identically in a third-party README that cites the paper (the "lingjoor"
#: team's data-selection write-up: "log(L) ∝ 1.0694 − 0.1498 Rew + 8.257·10⁻⁵ Len −
#: 0.9350 Knn_6 + ε", found with the project's code search). The paper's own text could not be read offline to check the digits, the
#: reward model or the units of Len; the later versions (v3, COLM 2024) publish a different rule
#: over UniEval indicators, not this one.
PAPER_RULE: dict[str, Any] = {
    "intercept": 1.0694,
    "coefficients": {"reward": -0.1498, "output_length": 8.257e-5, "knn_6": -0.9350},
    "symbols": {"reward": "Rew", "output_length": "Len", "knn_6": "Knn_6"},
    "source": (
        "Cao, Kang, Wang, Sun, arXiv 2307.06290v1 (July 2023), the fitted InstructMining rule "
        "log L ∝ 1.0694 − 0.1498·Rew + 8.257e-5·Len − 0.9350·Knn_6, as quoted by mlroundup issue 14 "
        "and by a third-party README citing the paper; not checked against the paper's text"
    ),
    "sources": {
        "intercept": "arXiv 2307.06290v1, the rule's constant 1.0694",
        "reward": "arXiv 2307.06290v1, the rule's Rew coefficient −0.1498 (a reward model's score)",
        "output_length": "arXiv 2307.06290v1, the rule's Len coefficient 8.257e-5 (tokens; read "
        "here as the response length)",
        "knn_6": "arXiv 2307.06290v1, the rule's Knn_6 coefficient −0.9350 (distance to the 6th "
        "nearest neighbour in a SentenceBERT space)",
    },
}


class QualityRule(RegressorMixin, BaseEstimator):
    """OLS of log eval loss on dataset-mean indicators, with p-values and predictor selection.

    Parameters
    ----------
    features : sequence of str, optional
        Names of the columns of ``X`` (default: the DataFrame's columns, else ``x0, x1, ...``).
    selection : {"backward", "none"}
        ``"backward"``: refit without the predictor of largest p-value while any p-value exceeds
        ``alpha`` (the intercept always stays); ``"none"``: keep every predictor.
    alpha : float
        Significance level for the selection, in (0, 1).

    Attributes
    ----------
    feature_names_in_ : ndarray of str
        All columns of ``X``.
    selected_ : list of str
        The predictors kept.
    intercept_ : float
    coef_ : ndarray of shape (len(selected_),)
        Coefficients of ``selected_`` (log-loss per unit of the indicator).
    bse_, pvalues_ : dict of str to float
        Standard errors and two-sided t-test p-values of ``"intercept"`` and each kept predictor.
    full_ : dict
        The fit with every predictor: ``params``, ``bse``, ``pvalues`` (dicts by name), ``rsquared``.
    rsquared_, rsquared_adj_ : float
    n_samples_ : int
        Datasets the rule was fitted on.
    source_ : str
        Where the coefficients come from.

    Notes
    -----
    ``fit`` takes the *dataset-level* design: row ``j`` of ``X`` is the indicator means of the
    ``j``-th fine-tuned dataset and ``y[j]`` its eval loss (not its log); ``predict`` returns
    predicted log losses. Scoring examples is ``predict`` on per-example indicator rows.

    References
    ----------
    Cao, Kang, Wang, Sun, "Instruction Mining", arXiv 2307.06290, Sec. 3 (the linear rule).
    """

    def __init__(
        self,
        features: Sequence[str] | None = None,
        selection: str = "backward",
        alpha: float = 0.05,
    ) -> None:
        self.features = features
        self.selection = selection
        self.alpha = alpha

    # ----------------------------------------------------------------------------- fitting
    def _design(self, X: Any, fitting: bool) -> tuple[np.ndarray, list[str]]:
        names = None
        if hasattr(X, "columns"):
            names = [str(c) for c in X.columns]
            X = X.to_numpy()
        X = np.asarray(X, dtype=np.float64)
        if X.ndim == 1:
            X = X[None, :]
        if X.ndim != 2:
            raise ValueError(f"X must be 2-D (n_samples, n_features), got shape {X.shape}")
        if fitting:
            if self.features is not None:
                if names is not None and list(self.features) != names:
                    raise ValueError(
                        f"features={list(self.features)} differ from X's columns {names}"
                    )
                names = [str(f) for f in self.features]
            names = names or [f"x{i}" for i in range(X.shape[1])]
            if len(names) != X.shape[1]:
                raise ValueError(f"{len(names)} feature names for {X.shape[1]} columns")
            if len(set(names)) != len(names) or "intercept" in names:
                raise ValueError(f"feature names must be distinct and not 'intercept': {names}")
        else:
            expected = list(self.feature_names_in_)
            if names is not None:
                missing = [n for n in expected if n not in names]
                if missing:
                    raise ValueError(f"X lacks the columns {missing}")
                X = X[:, [names.index(n) for n in expected]]
            elif X.shape[1] != len(expected):
                raise ValueError(
                    f"X has {X.shape[1]} columns, the rule expects {len(expected)}: {expected}"
                )
            names = expected
        if not np.isfinite(X).all():
            raise ValueError("X has NaN or infinite values")
        return X, names

    def fit(self, X: Any, y: Any) -> QualityRule:
        """Fit the rule by OLS on ``log(y)``.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_datasets, n_indicators)
            Dataset-mean indicators.
        y : array-like of shape (n_datasets,)
            Eval losses (> 0; e.g. nats per token).

        Raises
        ------
        ValueError
            If a parameter is invalid, shapes disagree, a value is not finite, a loss is <= 0, or
            there are no more datasets than coefficients.
        """
        import statsmodels.api as sm

        if self.selection not in SELECTIONS:
            raise ValueError(
                f"invalid selection={self.selection!r}; valid: {', '.join(SELECTIONS)}"
            )
        if not (isinstance(self.alpha, (int, float)) and 0.0 < self.alpha < 1.0):
            raise ValueError(f"invalid alpha={self.alpha!r}: must be in (0, 1)")
        X, names = self._design(X, fitting=True)
        y = np.asarray(y, dtype=np.float64).ravel()
        if y.shape != (X.shape[0],):
            raise ValueError(f"y has {y.size} values for {X.shape[0]} rows of X")
        if not (np.isfinite(y).all() and (y > 0).all()):
            raise ValueError("eval losses must be finite and > 0 (the rule models log L)")
        if X.shape[0] <= X.shape[1] + 1:
            raise ValueError(
                f"{X.shape[0]} datasets cannot fit {X.shape[1] + 1} coefficients with standard errors"
            )
        target = np.log(y)

        def ols(cols: list[int]):
            design = sm.add_constant(X[:, cols], has_constant="add")
            return sm.OLS(target, design).fit()

        keep = list(range(X.shape[1]))
        full = ols(keep)
        res = full
        while self.selection == "backward" and keep:
            p = np.asarray(res.pvalues)[1:]
            worst = int(np.argmax(p))
            if not p[worst] > self.alpha:
                break
            keep.pop(worst)
            res = ols(keep)
        self.feature_names_in_ = np.array(names, dtype=object)
        self.n_features_in_ = len(names)
        self.selected_ = [names[i] for i in keep]
        params, bse, pv = (np.asarray(a) for a in (res.params, res.bse, res.pvalues))
        self.intercept_ = float(params[0])
        self.coef_ = params[1:].copy()
        labels = ["intercept", *self.selected_]
        self.bse_ = dict(zip(labels, map(float, bse), strict=True))
        self.pvalues_ = dict(zip(labels, map(float, pv), strict=True))
        full_labels = ["intercept", *names]
        self.full_ = {
            key: dict(zip(full_labels, map(float, np.asarray(vals)), strict=True))
            for key, vals in (("params", full.params), ("bse", full.bse), ("pvalues", full.pvalues))
        }
        self.full_["rsquared"] = float(full.rsquared)
        self.rsquared_ = float(res.rsquared)
        self.rsquared_adj_ = float(res.rsquared_adj)
        self.n_samples_ = int(X.shape[0])
        self.source_ = f"OLS of log eval loss on {X.shape[0]} datasets ({self.selection} selection)"
        self.results_ = res
        return self

    # ----------------------------------------------------------------------------- using
    def predict(self, X: Any) -> np.ndarray:
        """Predicted log eval loss of each row of ``X`` (dataset means, or one example's indicators).

        Returns
        -------
        ndarray of shape (n,), dtype float64
            Lower is better data.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            Before :meth:`fit` (or a preset).
        ValueError
            If ``X`` lacks the rule's columns or has non-finite values.
        """
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self, "coef_")
        X, names = self._design(X, fitting=False)
        cols = [names.index(n) for n in self.selected_]
        return self.intercept_ + X[:, cols] @ self.coef_

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """R² of the predicted against the actual ``log(y)`` (scikit-learn's ``score``)."""
        from sklearn.metrics import r2_score

        return float(r2_score(np.log(np.asarray(y, dtype=np.float64)), self.predict(X),
                              sample_weight=sample_weight))  # fmt: skip

    @property
    def coefficients(self) -> dict[str, float]:
        """``{"intercept": b0, name: b, ...}`` of the kept predictors."""
        return {
            "intercept": self.intercept_,
            **dict(zip(self.selected_, map(float, self.coef_), strict=True)),
        }

    def equation(self, symbols: dict[str, str] | None = None, digits: int = 4) -> str:
        """The rule as text, e.g. ``"log L = 1.0694 - 0.1498·Rew + ..."``."""
        symbols = symbols or {}
        text = f"log L = {self.intercept_:.{digits}g}"
        for name, c in zip(self.selected_, self.coef_, strict=True):
            sign = "-" if c < 0 else "+"
            text += f" {sign} {abs(float(c)):.{digits}g}·{symbols.get(name, name)}"
        return text

    # ----------------------------------------------------------------------------- presets, I/O
    @classmethod
    def from_coefficients(
        cls,
        intercept: float,
        coefficients: dict[str, float],
        *,
        features: Sequence[str] | None = None,
        source: str = "",
    ) -> QualityRule:
        """A rule with given coefficients (no standard errors): a preset or a saved rule.

        Parameters
        ----------
        intercept : float
        coefficients : dict of str to float
            Indicator name -> coefficient.
        features : sequence of str, optional
            Every column ``predict`` expects (default: the coefficients' names).
        source : str
            Where the numbers come from.

        Raises
        ------
        ValueError
            If a number is not finite or a coefficient names a column outside ``features``.
        """
        values = [intercept, *coefficients.values()]
        if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in values):
            raise ValueError(f"coefficients must be finite numbers: {intercept}, {coefficients}")
        features = list(features) if features is not None else list(coefficients)
        unknown = [n for n in coefficients if n not in features]
        if unknown:
            raise ValueError(f"coefficients {unknown} are not among the features {features}")
        rule = cls(features=features, selection="none")
        rule.feature_names_in_ = np.array(features, dtype=object)
        rule.n_features_in_ = len(features)
        rule.selected_ = list(coefficients)
        rule.intercept_ = float(intercept)
        rule.coef_ = np.array([float(v) for v in coefficients.values()])
        rule.bse_, rule.pvalues_ = {}, {}
        rule.source_ = source
        return rule

    @classmethod
    def paper(cls, features: Sequence[str] | None = None) -> QualityRule:
        """The rule published in arXiv 2307.06290v1: ``log L ∝ 1.0694 − 0.1498·Rew + 8.257e-5·Len
        − 0.9350·Knn_6`` (see :data:`PAPER_RULE` for the source of each number).

        Our indicators stand in for the paper's: ``reward`` (Rew; a proxy unless a reward model is
        passed, so on another scale), ``output_length`` (Len, in our scorer's tokens) and
        ``knn_6`` (Knn_6, in the all-MiniLM-L6-v2 space).
        """
        return cls.from_coefficients(PAPER_RULE["intercept"], PAPER_RULE["coefficients"],
                                     features=features, source=PAPER_RULE["source"])  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        """The rule as a JSON-able dict (read back by :meth:`from_dict`)."""
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self, "coef_")
        return {
            "kind": "mlroundup.instruction_mining.QualityRule",
            "intercept": self.intercept_,
            "coefficients": dict(zip(self.selected_, map(float, self.coef_), strict=True)),
            "features": list(self.feature_names_in_),
            "standard_errors": self.bse_,
            "p_values": self.pvalues_,
            "source": self.source_,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> QualityRule:
        """A rule from :meth:`to_dict`'s output (standard errors and p-values kept as given).

        Raises
        ------
        ValueError
            If a field is missing or malformed.
        """
        try:
            rule = cls.from_coefficients(float(d["intercept"]), {str(k): float(v) for k, v in
                                         d["coefficients"].items()}, features=d.get("features"),
                                         source=str(d.get("source", "")))  # fmt: skip
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"not a saved QualityRule: {exc!r}") from None
        rule.bse_ = {str(k): float(v) for k, v in (d.get("standard_errors") or {}).items()}
        rule.pvalues_ = {str(k): float(v) for k, v in (d.get("p_values") or {}).items()}
        return rule

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)
