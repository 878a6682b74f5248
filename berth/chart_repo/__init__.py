"""Berth's Helm chart repository on S3: publish, reindex, delete, verify and promote without
losing charts.

For other tasks (e.g. `berth up`): `publish_charts(env, dirs)` -> `PublishSummary`,
`verify_repo(env)` -> problems, `reindex_repo(env)`, `delete_chart(env, name, version)`,
`promote_chart(source_env, target_env, name, version)` -> `PromoteSummary`.
Expected failures raise `ChartRepoError` (one line, for the user).

Names load lazily, so `berth --help` (which imports `berth.commands.charts`) stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from berth.chart_repo.delete import DeleteSummary, delete_chart
    from berth.chart_repo.errors import ChartRepoError
    from berth.chart_repo.promote import PromoteSummary, promote_chart
    from berth.chart_repo.publish import PublishSummary, publish_charts
    from berth.chart_repo.reindex import ReindexSummary, reindex_repo
    from berth.chart_repo.verify import verify_repo

_EXPORTS = {
    "ChartRepoError": "errors",
    "DeleteSummary": "delete",
    "PromoteSummary": "promote",
    "PublishSummary": "publish",
    "ReindexSummary": "reindex",
    "delete_chart": "delete",
    "promote_chart": "promote",
    "publish_charts": "publish",
    "reindex_repo": "reindex",
    "verify_repo": "verify",
}

__all__ = [
    "ChartRepoError",
    "DeleteSummary",
    "PromoteSummary",
    "PublishSummary",
    "ReindexSummary",
    "delete_chart",
    "promote_chart",
    "publish_charts",
    "reindex_repo",
    "verify_repo",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"berth.chart_repo.{_EXPORTS[name]}"), name)
