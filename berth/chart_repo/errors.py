"""Failures of the chart repository (a light module: the CLI imports it at start-up)."""


class ChartRepoError(Exception):
    """An expected chart-repository failure, described in one line."""
