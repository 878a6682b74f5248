"""The chart repository fixtures (tests/support/chart_repo.py) for `berth charts ...`."""

from tests.support.chart_repo import (  # noqa: F401 (fixtures, found by name)
    _shared_boto_session,
    bucket,
    env_file,
    make_chart,
    s3,
)
