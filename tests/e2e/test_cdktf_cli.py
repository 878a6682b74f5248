"""The cdktf CLI itself deploys and destroys `local` offline, as the README tells users to.

`npx cdktf deploy local --skip-provider-lock` runs the app (`pipenv run python main.py`), then
Terraform with the provider from the offline mirror, against a fresh emulator. The output
folder is a temporary one (`--output`), so the project's own cdktf.out and state are untouched.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from berth.local import MotoServer, emulator_terraform_env
from berth_core.config import PROJECT_ROOT

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.xdist_group("e2e-cdktf-cli"),
]

BUCKET = "berth-local-helm-charts"


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    with MotoServer(log_path=tmp_path_factory.mktemp("moto-cli") / "moto.log") as server:
        yield server


def cdktf(command: str, emulator: MotoServer, outdir: Path) -> subprocess.CompletedProcess[str]:
    env = emulator_terraform_env(emulator.endpoint_url, "eu-west-1")
    env["PIPENV_VENV_IN_PROJECT"] = "1"
    args = [str(PROJECT_ROOT / "node_modules" / ".bin" / "cdktf"), command, "local"]
    args += ["--auto-approve", "--output", str(outdir)]
    if command == "deploy":
        args.append("--skip-provider-lock")
    result = subprocess.run(
        args, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=900, check=False
    )
    assert result.returncode == 0, (
        f"cdktf {command} failed:\n{result.stdout[-3000:]}\n{result.stderr[-2000:]}"
    )
    return result


@pytest.fixture(scope="module")
def s3(emulator: MotoServer) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=emulator.endpoint_url,
        region_name="eu-west-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def test_cdktf_deploy_then_destroy_local_offline(
    emulator: MotoServer, s3: Any, tmp_path: Path
) -> None:
    outdir = tmp_path / "cdktf.out"
    deployed = cdktf("deploy", emulator, outdir)
    assert "helm_repo_url" in deployed.stdout
    assert s3.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"
    # The local backend keeps state beside --output, not in the project.
    assert (tmp_path / "terraform.local.tfstate").exists()
    assert os.path.getsize(tmp_path / "terraform.local.tfstate") > 0

    cdktf("destroy", emulator, outdir)
    with pytest.raises(ClientError):
        s3.head_bucket(Bucket=BUCKET)
