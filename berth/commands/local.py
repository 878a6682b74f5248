"""`berth up` (the main job on the embedded emulator), `berth rehearse ENV` and `berth emulator`.

`berth up`: validate every environment, synthesize, start the AWS emulator (moto server with
Berth's additions, `berth.emulator`) on a free loopback port, `terraform init/apply` the `local`
stack against it, publish Berth's own charts into the local Helm repository, verify it, print a
summary, then destroy and stop the emulator (its state lives in memory, so nothing stale is
left behind).
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from berth.local import (
    EMULATOR_CREDENTIALS,
    MotoServer,
    apply_local_stack,
    emulator_terraform_env,
)
from berth_core.config import PROJECT_ROOT, Environment, load_all_environments
from berth_core.errors import BerthError

LOCAL_ENVIRONMENT = "local"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    up = subparsers.add_parser(
        "up",
        help="the main job: deploy `local` on the embedded AWS emulator and publish the charts",
    )
    up.add_argument(
        "--outdir",
        type=Path,
        default=None,
        help="where to synthesize and keep the run's files (default: cdktf.out)",
    )
    up.add_argument(
        "--keep-running",
        action="store_true",
        help="leave the emulator and the deployment up until Ctrl-C, then tear down",
    )
    up.set_defaults(handler=_up)
    emulator = subparsers.add_parser(
        "emulator",
        help="run the AWS emulator in the foreground and print the variables that point at it",
    )
    emulator.add_argument("--port", type=int, default=0, help="loopback port (default: a free one)")
    emulator.set_defaults(handler=_emulator)
    rehearse = subparsers.add_parser(
        "rehearse",
        help="apply ENV's account stack to the emulator, as a first deploy into a bare account",
        description="Seed the emulator with what the bootstrap provides (state bucket, deploy"
        " role, the cluster's OIDC provider, ...), check the account step's preconditions, apply"
        " ENV's own account stack as the deploy role, show that a second plan has no change,"
        " destroy. See berth/rehearsal.py.",
    )
    rehearse.add_argument("environment", metavar="ENV", help="a real environment (uat, prod, edge)")
    rehearse.add_argument(
        "--skip",
        action="append",
        default=[],
        metavar="PREREQUISITE",
        help="leave this prerequisite out, to watch what stops (repeatable; see --list)",
    )
    rehearse.add_argument("--list", action="store_true", help="list ENV's prerequisites and exit")
    rehearse.add_argument(
        "--outdir", type=Path, default=None, help="where to synthesize (default: cdktf.out)"
    )
    rehearse.set_defaults(handler=_rehearse)


def _step(message: str) -> float:
    print(f"==> {message}", flush=True)
    return time.monotonic()


def _done(started: float) -> None:
    print(f"    done in {time.monotonic() - started:.1f} s", flush=True)


def _local_environment(environments: list[Environment]) -> Environment:

    for environment in environments:
        if environment.name == LOCAL_ENVIRONMENT:
            return environment
    raise BerthError(
        f"environments/{LOCAL_ENVIRONMENT}.yaml: the embedded default environment is missing"
    )


def _up(args: argparse.Namespace) -> int:
    from berth.chart_repo import publish_charts, verify_repo
    from berth.proxy_check import pull_through_proxy
    from berth.synth import OUTDIR, stack_dir, synth_all

    started = _step("validating environments/*.yaml")
    environments = load_all_environments()
    local = _local_environment(environments)
    _done(started)

    started = _step(f"synthesizing {', '.join(e.name for e in environments)}")
    outdir: Path = args.outdir or OUTDIR
    synth_all(environments, outdir=outdir)
    _done(started)

    work = outdir / "up"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    started = _step("starting the AWS emulator (moto server) on loopback")
    with MotoServer(log_path=work / "moto.log") as moto:
        print(f"    {moto.endpoint_url}")
        _done(started)
        started = _step("terraform init + apply of the `local` stack (S3 lifecycle waits ~1 min)")
        deployment = apply_local_stack(
            stack_dir(LOCAL_ENVIRONMENT, outdir),
            moto.endpoint_url,
            local.region,
            work / "terraform.tfstate",
        )
        _done(started)
        try:
            outputs = deployment.outputs()
            for name, value in sorted(outputs.items()):
                print(f"    {name} = {value}")
            emulator_env = {**EMULATOR_CREDENTIALS, "AWS_ENDPOINT_URL": moto.endpoint_url}
            os.environ.update(emulator_env)
            started = _step(f"publishing charts/ to {outputs['helm_repo_url']}")
            summary = publish_charts(local, out=sys.stdout)
            _done(started)
            started = _step(
                "verifying the Helm repository (every entry has its archive and digest)"
            )
            problems = verify_repo(local) + [f"refused: {name}" for name in summary.refused]
            for problem in problems:
                print(f"    problem: {problem}")
            _done(started)
            if local.observability is not None:
                started = _step("storing a demo Coralogix key the documented way: stdin only")
                _put_demo_secret(
                    local.observability.secret_name,
                    emulator_env,
                    [
                        work / "terraform.tfstate",
                        stack_dir(LOCAL_ENVIRONMENT, outdir) / "cdk.tf.json",
                    ],
                )
                _done(started)
            started = _step(
                "reading the repository through the S3 proxy (HTTPS, basic auth) with Helm"
            )
            check = pull_through_proxy(
                outputs["helm_repo_bucket_name"],
                local.region,
                emulator_env,
                work / "proxy",
                prefix=local.helm_repo.prefix,
            )
            print(f"    {check.url}: charts {', '.join(check.charts)}")
            print(f"    pulled {check.pulled}, rendered {', '.join(check.rendered_kinds)}")
            _done(started)
            if args.keep_running:
                _wait_for_interrupt(moto.endpoint_url)
        finally:
            started = _step("terraform destroy (the emulator forgets everything when it stops)")
            deployment.destroy()
            _done(started)
    print("berth up: ok" if not problems else "berth up: the repository has problems (see above)")
    return 0 if not problems else 1


def _put_demo_secret(name: str, emulator_env: dict[str, str], searched: list[Path]) -> None:
    """Put a random value through the real CLI, then show it reached none of `searched`."""

    value = f"demo-{secrets.token_hex(16)}"
    result = subprocess.run(
        [sys.executable, "-m", "berth", "secret", "put", LOCAL_ENVIRONMENT, name],
        input=value,
        text=True,
        capture_output=True,
        env={**os.environ, **emulator_env},
        check=False,
    )
    if result.returncode != 0:
        raise BerthError(f"berth secret put failed: {result.stderr.strip()}")
    print("    " + "\n    ".join(result.stdout.strip().splitlines()))
    found = [path.name for path in searched if value in path.read_text(encoding="utf-8")]
    if found:
        raise BerthError(f"the secret value leaked into {', '.join(found)}")
    print(f"    the value appears 0 times in {', '.join(path.name for path in searched)}")


def _wait_for_interrupt(endpoint_url: str) -> None:
    print(f"\nThe emulator stays up at {endpoint_url}; press Ctrl-C to tear down.", flush=True)
    try:
        signal.pause()
    except KeyboardInterrupt:
        print()


def _emulator(args: argparse.Namespace) -> int:
    region = _local_environment(load_all_environments()).region
    with MotoServer(port=args.port) as moto:
        env = emulator_terraform_env(moto.endpoint_url, region)
        exports = {
            key: env[key]
            for key in (
                *EMULATOR_CREDENTIALS,
                "AWS_ENDPOINT_URL",
                "AWS_REGION",
                "TF_VAR_emulator_endpoint",
                "TF_CLI_CONFIG_FILE",
                "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION",
            )
        }
        env_file = PROJECT_ROOT / ".berth" / "emulator.env"
        env_file.write_text("".join(f"export {key}={value}\n" for key, value in exports.items()))
        print(f"AWS emulator listening on {moto.endpoint_url}. In another shell:\n")
        print(f"  source {env_file.relative_to(PROJECT_ROOT)}")
        print("  npx cdktf deploy local --skip-provider-lock\n")
        print("Press Ctrl-C to stop it.", flush=True)
        try:
            signal.pause()
        except KeyboardInterrupt:
            print()
        finally:
            env_file.unlink(missing_ok=True)
    return 0


def _seed(environment: Environment, endpoint: str, skip: list[str]) -> None:
    """What a bare account holds before the first deploy (and the central chart repository
    the environment reads, which promotions need), saying what was left out."""
    from berth import rehearsal

    seeded = rehearsal.seed_prerequisites(environment, endpoint, skip=skip)
    print(
        f"    {', '.join(seeded) or 'nothing'}"
        + (f" (left out: {', '.join(skip)})" if skip else "")
    )
    central = rehearsal.seed_central_repository(environment, endpoint)
    if central is not None:
        print(f"    and the central chart repository it reads, {central} (for promotions)")


def _rehearse(args: argparse.Namespace) -> int:
    """`berth rehearse ENV`: see berth/rehearsal.py."""
    from berth import rehearsal
    from berth.aws import environment_session, role_choice
    from berth.preflight import Preflight
    from berth.synth import OUTDIR, synth_environment
    from berth_core.config import load_environment

    environment = load_environment(args.environment)
    if environment.emulator:
        raise BerthError(f"{environment.name} is the emulator environment: run `berth up`")
    known = rehearsal.prerequisites(environment)
    if args.list:
        print("\n".join(known))
        return 0
    unknown = [key for key in args.skip if key not in known]
    if unknown:
        raise BerthError(f"--skip {', '.join(unknown)}: not a prerequisite ({', '.join(known)})")

    started = _step(f"synthesizing {environment.name}")
    outdir: Path = args.outdir or OUTDIR
    stack_files = synth_environment(environment, outdir)
    _done(started)
    work = outdir / "rehearsal" / environment.name
    with MotoServer(log_path=None) as moto:
        started = _step(f"seeding the emulator as a bare account {environment.account_id} would be")
        _seed(environment, moto.endpoint_url, args.skip)
        _done(started)
        started = _step(f"berth preflight {environment.name} --step account")
        os.environ.update({**EMULATOR_CREDENTIALS, "AWS_ENDPOINT_URL": moto.endpoint_url})
        checks = Preflight(
            environment,
            lambda: environment_session(environment, role_choice(environment)),
            lambda: None,
        ).run(["account"])
        for check in checks:
            print(f"    {check.line()}")
        _done(started)
        stack = rehearsal.prepare_stack(
            stack_files[environment.stacks.account].parent,
            work,
            moto.endpoint_url,
            environment.region,
        )
        started = _step(
            f"terraform init + apply of {environment.stacks.account} as the deploy role"
        )
        stack.init()
        stack.apply()
        _done(started)
        try:
            for name, value in sorted(stack.outputs().items()):
                print(f"    {name} = {value}")
            started = _step("a second plan: a first deploy must converge")
            changes = stack.plan_changes()
            print("    no changes" if not changes else "    CHANGES: the stack does not converge")
            _done(started)
        finally:
            started = _step("terraform destroy")
            stack.destroy()
            _done(started)
    failed = [check for check in checks if not check.ok]
    ok = not failed and not changes
    print(f"berth rehearse {environment.name}: {'ok' if ok else 'problems (see above)'}")
    return 0 if ok else 1
