"""Experiment registry, results schema and runner shared by every method."""

from mlroundup.experiments.registry import EXPERIMENTS, Experiment, Metric, Paper, select
from mlroundup.experiments.schema import Outcome, Table

__all__ = ["EXPERIMENTS", "Experiment", "Metric", "Outcome", "Paper", "Table", "select"]
