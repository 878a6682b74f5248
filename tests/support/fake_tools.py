"""Stand-ins for the command-line tools the example workflows call, for tests that run their steps.

`install(bin_dir)` writes one executable per tool into `bin_dir`; each runs this module with the
tool's name. Every call is appended to `$FAKE_LOG` (one JSON list per line: tool, then its
arguments). What each stands in for, and why:

- `aws`: only `aws ecr batch-get-image`, answered by the moto server at `$AWS_ENDPOINT_URL`
  through boto3 and printed as the CLI prints `--output json`; a service error is printed as the
  CLI does and exits 254 (CLI v2). No aws CLI is a project dependency. `$FAKE_ECR_FAILURE` makes
  it answer with that per-image failure code instead (ECR's ImageFailure: KmsError,
  UpstreamUnavailable, ...), which moto never produces.
- `docker`: no Docker engine here. `build` checks that the Dockerfile exists and remembers the
  tag; `push REGISTRY/REPOSITORY:TAG` of a built tag stores a manifest with that tag in moto's
  ECR (`put_image`), so an immutable repository refuses a second push as ECR does.
- `yq`: mikefarah/yq v4 (on GitHub's Ubuntu runners, not here): `yq [-e] '.a.b' FILE` prints the
  scalar; with `-e` a missing or null value exits 1 ("Error: no matches found").
- `make`, `npx`, `pipenv`: the deploy jobs' tools. `make setup` and `npx cdktf ...` succeed and
  only log; `pipenv run berth preflight ENV --step STEP` prints lines in the real command's format
  and exits 1 for the steps named in `$FAKE_PREFLIGHT_FAILS` (comma-separated); `pipenv run berth
  review ENV` writes `cdktf.out/review/ENV.md` and `ENV.json`.

Anything else exits 2 naming the call, so a workflow that calls more than a fake knows fails.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

TOOLS = ("aws", "docker", "yq", "make", "npx", "pipenv")
UNSUPPORTED = 2
CLI_SERVICE_ERROR = 254


def install(bin_dir: Path) -> Path:
    bin_dir.mkdir(parents=True, exist_ok=True)
    for tool in TOOLS:
        wrapper = bin_dir / tool
        wrapper.write_text(
            f'#!/bin/sh\nexec "{sys.executable}" "{Path(__file__).resolve()}" {tool} "$@"\n',
            encoding="utf-8",
        )
        wrapper.chmod(0o755)
    return bin_dir


def read_log(path: Path) -> list[list[str]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _unsupported(tool: str, args: list[str]) -> int:
    print(f"fake {tool}: unsupported call: {args}", file=sys.stderr)
    return UNSUPPORTED


def _ecr() -> object:
    import boto3

    return boto3.client(
        "ecr",
        endpoint_url=os.environ["AWS_ENDPOINT_URL"],
        region_name=os.environ["AWS_REGION"],
    )


def _aws(args: list[str]) -> int:
    from botocore.exceptions import ClientError

    if args[:2] != ["ecr", "batch-get-image"]:
        return _unsupported("aws", args)
    parser = argparse.ArgumentParser(prog="aws ecr batch-get-image")
    parser.add_argument("--repository-name", required=True)
    parser.add_argument("--image-ids", nargs="+", required=True)
    parser.add_argument("--accepted-media-types", nargs="+", default=None)
    parser.add_argument("--output", choices=["json"], required=True)
    options = parser.parse_args(args[2:])
    image_ids = [dict(pair.split("=", 1) for pair in item.split(",")) for item in options.image_ids]
    request: dict[str, object] = {
        "repositoryName": options.repository_name,
        "imageIds": image_ids,
    }
    if options.accepted_media_types:
        request["acceptedMediaTypes"] = options.accepted_media_types
    failure = os.environ.get("FAKE_ECR_FAILURE")
    if failure:
        failures = [
            {"imageId": image_id, "failureCode": failure, "failureReason": failure}
            for image_id in image_ids
        ]
        print(json.dumps({"images": [], "failures": failures}, indent=4))
        return 0
    try:
        answer = _ecr().batch_get_image(**request)  # type: ignore[attr-defined]
    except ClientError as error:
        details = error.response["Error"]
        print(
            f"\nAn error occurred ({details['Code']}) when calling the BatchGetImage operation:"
            f" {details['Message']}",
            file=sys.stderr,
        )
        return CLI_SERVICE_ERROR
    answer.pop("ResponseMetadata", None)
    print(json.dumps(answer, indent=4, default=str))
    return 0


def _docker(args: list[str]) -> int:
    from botocore.exceptions import ClientError

    built = Path(os.environ["FAKE_LOG"]).with_suffix(".built")
    if args and args[0] == "build":
        parser = argparse.ArgumentParser(prog="docker build")
        parser.add_argument("--pull", action="store_true")
        parser.add_argument("--file", required=True)
        parser.add_argument("--label", action="append", default=[])
        parser.add_argument("--tag", required=True)
        parser.add_argument("context")
        options = parser.parse_args(args[1:])
        if not Path(options.file).is_file():
            print(f"ERROR: failed to read dockerfile: open {options.file}", file=sys.stderr)
            return 1
        with built.open("a", encoding="utf-8") as file:
            file.write(options.tag + "\n")
        return 0
    if len(args) == 2 and args[0] == "push":
        reference = args[1]
        tags = built.read_text(encoding="utf-8").split() if built.exists() else []
        if reference not in tags:
            print(f"An image does not exist locally with the tag: {reference}", file=sys.stderr)
            return 1
        _registry, _, name = reference.partition("/")
        repository, _, tag = name.rpartition(":")
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "config": {
                    "mediaType": "application/vnd.docker.container.image.v1+json",
                    "size": 2,
                    "digest": "sha256:" + "0" * 64,
                },
                "layers": [],
            }
        )
        try:
            pushed = _ecr().put_image(  # type: ignore[attr-defined]
                repositoryName=repository, imageManifest=manifest, imageTag=tag
            )
        except ClientError as error:
            print(f"tag invalid: {error.response['Error']['Message']}", file=sys.stderr)
            return 1
        print(f"{tag}: digest: {pushed['image']['imageId']['imageDigest']} size: {len(manifest)}")
        return 0
    return _unsupported("docker", args)


def _yq(args: list[str]) -> int:
    import yaml

    exit_status = "-e" in args
    rest = [arg for arg in args if arg != "-e"]
    if len(rest) != 2 or not rest[0].startswith("."):
        return _unsupported("yq", args)
    expression, path = rest
    value = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    for key in expression.strip(".").split("."):
        value = value.get(key) if isinstance(value, dict) else None
    if value is None:
        if exit_status:
            print("Error: no matches found", file=sys.stderr)
            return 1
        print("null")
        return 0
    print(value)
    return 0


def _pipenv(args: list[str]) -> int:
    from berth.preflight import Check

    if args[:3] == ["run", "berth", "preflight"] and len(args) == 6 and args[4] == "--step":
        environment, step = args[3], args[5]
        failing = step in os.environ.get("FAKE_PREFLIGHT_FAILS", "").split(",")
        check = Check(
            step,
            f"fake check of {environment}",
            not failing,
            "missing: provide it" if failing else "present",
        )
        print(f"preflight of {environment} as role arn:aws:iam::111111111111:role/deploy:")
        print(f"  {check.line()}")
        if failing:
            print("1 of 1 checks failed: fix them before deploying")
            return 1
        print(f"all 1 checks passed: {step} may be deployed")
        return 0
    if args[:3] == ["run", "berth", "review"] and len(args) == 4:
        review = Path("cdktf.out/review")
        review.mkdir(parents=True, exist_ok=True)
        (review / f"{args[3]}.md").write_text("# review\n", encoding="utf-8")
        (review / f"{args[3]}.json").write_text("{}\n", encoding="utf-8")
        return 0
    return _unsupported("pipenv", args)


def _make(args: list[str]) -> int:
    return 0 if args == ["setup"] else _unsupported("make", args)


def _npx(args: list[str]) -> int:
    return 0 if args[:1] == ["cdktf"] else _unsupported("npx", args)


def main(argv: list[str]) -> int:
    tool, args = argv[0], argv[1:]
    with Path(os.environ["FAKE_LOG"]).open("a", encoding="utf-8") as log:
        log.write(json.dumps([tool, *args]) + "\n")
    handlers = {
        "aws": _aws,
        "docker": _docker,
        "yq": _yq,
        "make": _make,
        "npx": _npx,
        "pipenv": _pipenv,
    }
    return handlers[tool](args)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    sys.exit(main(sys.argv[1:]))
