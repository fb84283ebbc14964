"""What an experiment returns, and the documented schema of ``results.json``.

An experiment's ``run`` returns an :class:`Outcome`; the runner turns it into one entry of the run
document described by :data:`RESULTS_SCHEMA` (JSON Schema, draft 2020-12). The report reads only that
document and the figure files beside it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

#: Bump when a field is renamed or removed (adding optional fields keeps the version).
SCHEMA_VERSION = "1.0"

VERDICTS = ("reproduced", "better", "not reproduced", "not measured")


@dataclass
class Table:
    """A table for the report.

    Parameters
    ----------
    title : str
        Caption.
    columns : list of str
        Column headers.
    rows : list of list
        Cell values (str, int, float, bool or None); each row has ``len(columns)`` cells.
    note : str
        Text printed under the table.

    Raises
    ------
    ValueError
        If a row's length differs from the number of columns.
    """

    title: str
    columns: list[str]
    rows: list[list[Any]]
    note: str = ""

    def __post_init__(self) -> None:
        for i, row in enumerate(self.rows):
            if len(row) != len(self.columns):
                raise ValueError(
                    f"table {self.title!r}: row {i} has {len(row)} cells, expected {len(self.columns)}"
                )

    def to_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "columns": list(self.columns),
            "rows": [[jsonable(c) for c in r] for r in self.rows],
            "note": self.note,
        }


@dataclass
class Outcome:
    """What an experiment's ``run`` returns.

    Parameters
    ----------
    values : dict of str to float, bool or None
        Our value for each of the experiment's metrics (a bool for a
        :class:`~mlroundup.experiments.registry.Claim`; None: could not be measured; say why in
        ``notes``).
    tables : list of Table
    figures : list of (str, matplotlib.figure.Figure)
        Captioned figures; the runner saves them as PNG and closes them.
    notes : list of str
        Honest remarks: where the small scale or our code falls short of the paper.
    config : dict
        The settings that produced the values (JSON-serializable).
    """

    values: dict[str, float | bool | None]
    tables: list[Table] = field(default_factory=list)
    figures: list[tuple[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)


def jsonable(x: Any) -> Any:
    """Convert NumPy scalars/arrays and non-finite floats to plain JSON values (NaN/inf -> None)."""
    if hasattr(x, "tolist") and not isinstance(x, (str, bytes)):
        x = x.tolist()
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    return x


_num_or_null = {"type": ["number", "null"]}

#: JSON Schema of ``results.json``.
RESULTS_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "mlroundup reproduce results",
    "type": "object",
    "required": ["schema_version", "run", "experiments"],
    "properties": {
        "schema_version": {"const": SCHEMA_VERSION},
        "run": {
            "type": "object",
            "description": "Where and how the run happened.",
            "required": [
                "id",
                "started",
                "finished",
                "scale",
                "seed",
                "mlroundup_version",
                "git_commit",
                "python",
                "platform",
                "cpu_model",
                "cpu_features",
                "packages",
            ],
            "properties": {
                "id": {"type": "string", "description": "Run folder name."},
                "started": {"type": "string", "description": "ISO 8601, UTC."},
                "finished": {"type": "string", "description": "ISO 8601, UTC."},
                "scale": {"enum": ["quick", "paper"]},
                "seed": {"type": "integer"},
                "mlroundup_version": {"type": "string"},
                "git_commit": {
                    "type": ["string", "null"],
                    "description": "HEAD, '+dirty' if changed.",
                },
                "python": {"type": "string"},
                "platform": {"type": "string"},
                "cpu_model": {"type": "string"},
                "cpu_features": {"type": "array", "items": {"type": "string"}},
                "cpu_count": {"type": "integer"},
                "packages": {
                    "type": "object",
                    "additionalProperties": {"type": ["string", "null"]},
                    "description": "Installed version of each relevant package (null: absent).",
                },
            },
        },
        "experiments": {
            "type": "array",
            "items": {
                "type": "object",
                "required": [
                    "name",
                    "method",
                    "title",
                    "paper",
                    "claim",
                    "status",
                    "verdict",
                    "metrics",
                    "tables",
                    "figures",
                    "notes",
                    "config",
                    "seed",
                    "wall_time_s",
                ],
                "properties": {
                    "name": {"type": "string"},
                    "method": {"type": "string"},
                    "title": {"type": "string"},
                    "paper": {
                        "type": "object",
                        "required": ["authors", "title", "arxiv"],
                        "properties": {
                            "authors": {"type": "string"},
                            "title": {"type": "string"},
                            "arxiv": {"type": "string"},
                            "venue": {"type": "string"},
                        },
                    },
                    "claim": {"type": "string"},
                    "status": {
                        "enum": ["ok", "failed"],
                        "description": "'failed': run raised; see error.",
                    },
                    "error": {"type": ["string", "null"]},
                    "verdict": {
                        "enum": list(VERDICTS),
                        "description": "Worst verdict among measured metrics (not reproduced < "
                        "reproduced < better); 'not measured' when none was measured.",
                    },
                    "metrics": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": [
                                "name",
                                "paper",
                                "ours",
                                "ratio",
                                "verdict",
                                "rel_tol",
                                "abs_tol",
                                "higher_is_better",
                                "unit",
                                "source",
                            ],
                            "properties": {
                                "name": {"type": "string"},
                                "kind": {
                                    "enum": ["metric", "claim"],
                                    "description": "'claim': a yes/no finding; paper and ours "
                                    "are then booleans (ours null: not measured)",
                                },
                                "statement": {
                                    "type": "string",
                                    "description": "a claim's finding, true when it holds",
                                },
                                "paper": {
                                    "type": ["number", "boolean", "null"],
                                    "description": "the paper's value (a claim: whether the "
                                    "paper reports the finding as holding)",
                                },
                                "target": {
                                    **_num_or_null,
                                    "description": "our own goal (not the paper's), if any",
                                },
                                "target_reason": {"type": "string"},
                                "ours": {"type": ["number", "boolean", "null"]},
                                "ratio": {
                                    **_num_or_null,
                                    "description": "ours / paper (ours / target without one)",
                                },
                                "verdict": {"enum": list(VERDICTS)},
                                "rel_tol": {"type": "number"},
                                "abs_tol": {"type": "number"},
                                "higher_is_better": {"type": ["boolean", "null"]},
                                "unit": {"type": "string"},
                                "source": {"type": "string"},
                            },
                        },
                    },
                    "tables": {"type": "array"},
                    "figures": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["caption", "path"],
                            "properties": {
                                "caption": {"type": "string"},
                                "path": {"type": "string", "description": "Relative to the run."},
                            },
                        },
                    },
                    "notes": {"type": "array", "items": {"type": "string"}},
                    "config": {"type": "object"},
                    "settings": {
                        "type": ["object", "null"],
                        "description": "The experiment's settings dataclass at this scale.",
                    },
                    "seed": {"type": "integer"},
                    "wall_time_s": {"type": "number"},
                },
            },
        },
    },
}

_ORDER = {"not reproduced": 0, "not measured": 1, "reproduced": 2, "better": 3}


def overall_verdict(verdicts: list[str]) -> str:
    """An experiment's verdict: the worst verdict among its measured metrics.

    Metrics not measured at this scale (e.g. paper-scale-only values in a quick run) do not count
    against the experiment, but each keeps its own "not measured" row; with no measured metric at
    all the verdict is "not measured".
    """
    measured = [v for v in verdicts if v != "not measured"]
    if not measured:
        return "not measured"
    return min(measured, key=_ORDER.__getitem__)


def validate(document: dict[str, Any]) -> None:
    """Check a results document against :data:`RESULTS_SCHEMA`.

    Raises
    ------
    jsonschema.ValidationError
        Naming the first offending field.
    """
    import jsonschema

    jsonschema.validate(document, RESULTS_SCHEMA)
