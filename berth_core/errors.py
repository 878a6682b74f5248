"""The one base class of Berth's expected failures.

Every error a user can cause or fix (a wrong environment file, a missing prerequisite, a
refused AWS call, a failed terraform run) derives from `BerthError`. `berth.cli.main` catches
it once and prints `berth: <message>` with exit code 1; anything else is a bug and keeps its
traceback.
"""

from __future__ import annotations


class BerthError(Exception):
    """An expected failure: shown as one line, never as a traceback."""
