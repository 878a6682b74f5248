"""`berth charts ...`: publish, reindex, delete, verify and promote Helm chart repositories.

Handlers turn `ChartRepoError` (and Helm/config failures) into `BerthError`, which `berth.cli`
prints as one `berth: ...` line with exit code 1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

# `berth.cli` imports this module lazily (inside build_parser), so importing it back is no cycle.
from botocore.exceptions import BotoCoreError

from berth.aws import add_credentials_arguments, environment_session, role_choice
from berth.chart_repo.errors import ChartRepoError
from berth.helm_sdk import HelmError
from berth_core.config import Environment, load_environment, load_environment_file
from berth_core.errors import BerthError

EXIT_OK = 0
EXIT_PROBLEMS = 1


def _environment(value: str) -> Environment:
    """`--env NAME` loads environments/NAME.yaml; a path to a .yaml file is loaded as is."""
    if value.endswith((".yaml", ".yml")):
        return load_environment_file(Path(value))
    return load_environment(value)


def _client(env: Environment, args: argparse.Namespace) -> Any:
    """An S3 client with the credentials the command was given (the deploy role by default)."""
    from berth.chart_repo.store import s3_client

    return _run(s3_client, env, environment_session(env, role_choice(env, args)))


def _run(action: Any, *args: Any, **kwargs: Any) -> Any:
    """Call into the chart repository, turning its expected failures into BerthError."""
    try:
        return action(*args, **kwargs)
    except (ChartRepoError, HelmError) as error:
        raise BerthError(str(error)) from None
    except BotoCoreError as error:
        # No credentials, no route to the endpoint, ...: botocore's message is one clear line.
        raise BerthError(f"S3: {error}") from None


def _publish(args: argparse.Namespace) -> int:
    # Task modules load boto3 and the Helm SDK: imported only when their command runs.
    from berth.chart_repo.publish import publish_charts

    env = _environment(args.env)
    summary = _run(
        publish_charts,
        env,
        [Path(d) for d in args.chart_dirs] or None,
        force=args.force,
        skip_existing=args.skip_existing,
        client=_client(env, args),
    )
    if summary.refused:
        raise BerthError(
            f"already published, not replaced: {', '.join(summary.refused)}"
            " (bump the chart version, or use --force / --skip-existing)"
        )
    return EXIT_OK


def _reindex(args: argparse.Namespace) -> int:
    from berth.chart_repo.reindex import reindex_repo

    env = _environment(args.env)
    _run(reindex_repo, env, client=_client(env, args))
    return EXIT_OK


def _delete(args: argparse.Namespace) -> int:
    from berth.chart_repo.delete import delete_chart

    env = _environment(args.env)
    _run(delete_chart, env, args.name, args.version, client=_client(env, args))
    return EXIT_OK


def _verify(args: argparse.Namespace) -> int:
    from berth.chart_repo.store import store_for
    from berth.chart_repo.verify import verify_store

    env = _environment(args.env)
    store = _run(store_for, env, _client(env, args))
    problems = _run(verify_store, store, deep=args.deep)
    for problem in problems:
        print(problem)
    if problems:
        print(f"{store.location}: {len(problems)} problem(s)", file=sys.stderr)
        return EXIT_PROBLEMS
    print(f"{store.location}: index.yaml and archives agree")
    return EXIT_OK


def _promote(args: argparse.Namespace) -> int:
    from berth.chart_repo.promote import promote_chart

    source, target = _environment(args.source), _environment(args.target)
    _run(
        promote_chart,
        source,
        target,
        args.name,
        args.version,
        source_client=_client(source, _source_credentials(args)),
        target_client=_client(target, args),
    )
    return EXIT_OK


def _source_credentials(args: argparse.Namespace) -> argparse.Namespace:
    """How `promote` reads the source: `--from-role-arn`; else, with `--ambient-credentials`,
    the same ambient identity that writes the target (the target's chart publisher, which its
    stack lets read the central repository); else the source environment's deploy role."""
    return argparse.Namespace(
        role_arn=args.from_role_arn,
        ambient_credentials=args.ambient_credentials and not args.from_role_arn,
    )


def _add_env(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--env",
        required=True,
        metavar="ENV",
        help="environment name (environments/ENV.yaml) or path to an environment .yaml file",
    )
    add_credentials_arguments(parser)


def register(subparsers: Any) -> None:
    """Add `berth charts` and its sub-commands to the `berth` parser."""
    charts = subparsers.add_parser(
        "charts",
        help="publish, reindex, delete, verify and promote the Helm chart repository (S3)",
        description="The environment's private Helm chart repository on S3.",
    )
    commands = charts.add_subparsers(dest="charts_command", required=True, metavar="COMMAND")

    publish = commands.add_parser(
        "publish",
        help="lint, package and upload charts, then add them to index.yaml",
        description="Lint, package and upload charts (default: every chart in charts/), then"
        " add them to index.yaml with a conditional write. An existing version is refused.",
    )
    publish.add_argument("chart_dirs", nargs="*", metavar="CHART_DIR", help="chart directories")
    _add_env(publish)
    existing = publish.add_mutually_exclusive_group()
    existing.add_argument(
        "--force", action="store_true", help="replace versions that are already published"
    )
    existing.add_argument(
        "--skip-existing",
        action="store_true",
        help="leave versions that are already published alone instead of failing",
    )
    publish.set_defaults(handler=_publish)

    reindex = commands.add_parser(
        "reindex",
        help="rebuild index.yaml from the archives in the bucket (incremental)",
    )
    _add_env(reindex)
    reindex.set_defaults(handler=_reindex)

    delete = commands.add_parser(
        "delete", help="remove a chart version from index.yaml, then delete its archive"
    )
    delete.add_argument("name", metavar="NAME", help="chart name")
    delete.add_argument("version", metavar="VERSION", help="chart version")
    _add_env(delete)
    delete.set_defaults(handler=_delete)

    promote = commands.add_parser(
        "promote",
        help="copy a chart version's exact archive from one environment's repository to another's",
        description="Copy NAME VERSION from the --from environment's repository to the --to"
        " environment's: the archive's sha256 must equal the source entry's digest, it is"
        " uploaded with If-None-Match: * and S3's sha256 check, then indexed with a conditional"
        " write. Already promoted (same digest): nothing to do. Writes the target with its"
        " deploy role, --role-arn or --ambient-credentials (CI: the target's chart publisher);"
        " reads the source with --from-role-arn, else the same ambient credentials when"
        " --ambient-credentials is given, else the source's deploy role.",
    )
    promote.add_argument("name", metavar="NAME", help="chart name")
    promote.add_argument("version", metavar="VERSION", help="chart version")
    promote.add_argument(
        "--from",
        dest="source",
        required=True,
        metavar="ENV",
        help="environment whose repository holds the version (name or .yaml path)",
    )
    promote.add_argument(
        "--to",
        dest="target",
        required=True,
        metavar="ENV",
        help="environment whose repository receives it (name or .yaml path)",
    )
    add_credentials_arguments(promote)
    promote.add_argument(
        "--from-role-arn",
        metavar="ARN",
        help="assume this role to read the source (default: see above)",
    )
    promote.set_defaults(handler=_promote)

    verify = commands.add_parser(
        "verify",
        help="check that every entry has its archive and digest and every archive is indexed",
    )
    _add_env(verify)
    verify.add_argument(
        "--deep", action="store_true", help="download and hash every archive (slow)"
    )
    verify.set_defaults(handler=_verify)
