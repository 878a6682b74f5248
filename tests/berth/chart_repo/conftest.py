"""The chart repository fixtures (defined in tests/support/chart_repo.py) for these tests."""

from tests.support.chart_repo import (  # noqa: F401 (fixtures, found by name)
    _shared_boto_session,
    bucket,
    env,
    env_file,
    make_chart,
    out,
    s3,
    store,
)
