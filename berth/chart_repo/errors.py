"""Failures of the chart repository (a light module: the CLI imports it at start-up)."""

from berth_core.errors import BerthError


class ChartRepoError(BerthError):
    """An expected chart-repository failure, described in one line."""
