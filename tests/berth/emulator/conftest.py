"""Fixtures for the emulator's tests: one emulator of their own per module (never the session's,
whose state other tests share), and boto3 clients on it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from emulator_support import ClientFactory

from berth.local import EMULATOR_CREDENTIALS, MotoServer
from tests.support.constants import REGION


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    """`python -m berth.emulator` on a free loopback port, started by `MotoServer` as Berth does."""
    with MotoServer(log_path=tmp_path_factory.mktemp("emulator") / "emulator.log") as server:
        yield server


@pytest.fixture(scope="module")
def client(emulator: MotoServer) -> ClientFactory:
    """`client("appconfig")`: a boto3 client on the emulator. `validate=False` lets invalid
    input reach the server (boto3 refuses some of it before sending); extra keywords (other
    credentials, another region) go to `boto3.client`."""

    def make(service: str, *, validate: bool = True, **overrides: Any) -> Any:
        settings: dict[str, Any] = {
            "endpoint_url": emulator.endpoint_url,
            "region_name": REGION,
            "aws_access_key_id": EMULATOR_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": EMULATOR_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            "config": Config(parameter_validation=validate, retries={"max_attempts": 1}),
            **overrides,
        }
        return boto3.client(service, **settings)

    return make
