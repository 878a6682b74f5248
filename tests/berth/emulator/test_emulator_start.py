"""Starting the emulator: moto's internals are checked first, and a missing one stops it with a
message naming it; requests are recognised by their SigV4 credential scope, as moto does."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from berth.emulator import moto_internals
from berth.emulator.app import signing_service
from berth.emulator.moto_internals import MotoInternalsError, load_moto_internals

PROJECT_ROOT = Path(__file__).resolve().parents[3]


def test_the_installed_moto_has_every_internal_the_emulator_uses() -> None:
    internals = load_moto_internals()
    assert set(internals.objects) == {path for path, _ in moto_internals.INTERNALS}
    assert internals.moto_version.startswith("5.")


@pytest.mark.parametrize(
    "missing",
    [
        "moto.appconfig.models.AppConfigBackend.list_environments_that_moto_lacks",
        "moto.no_such_service.models.backends",
    ],
)
def test_a_missing_internal_is_named(monkeypatch: pytest.MonkeyPatch, missing: str) -> None:
    monkeypatch.setattr(
        moto_internals, "INTERNALS", (*moto_internals.INTERNALS, (missing, "for this test"))
    )
    with pytest.raises(MotoInternalsError) as raised:
        load_moto_internals()
    assert missing in str(raised.value) and "for this test" in str(raised.value)


def test_a_missing_instance_attribute_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        moto_internals,
        "INSTANCE_ATTRIBUTES",
        (
            (
                "moto.appconfig.models.AppConfigBackend",
                {"region_name": "us-east-1", "account_id": "000000000000"},
                "environments",
                "for this test",
            ),
        ),
    )
    with pytest.raises(MotoInternalsError, match=r"AppConfigBackend\.environments"):
        load_moto_internals()


def test_the_emulator_refuses_to_start_without_an_internal_and_says_which() -> None:
    """`python -m berth.emulator`'s own start path, with one internal that moto lacks."""
    script = (
        "import sys, berth.emulator.moto_internals as m;"
        " m.INTERNALS += (('moto.s3.models.FakeBucket.gone', 'for this test'),);"
        " from berth.emulator.__main__ import main; sys.exit(main(['-p', '1']))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert (
        result.stderr.strip().splitlines()[-1].startswith("berth.emulator: moto 5.")
        and "moto.s3.models.FakeBucket.gone" in result.stderr
    )


@pytest.mark.parametrize(
    ("authorization", "service"),
    [
        (
            "AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/20260101/eu-west-1/appconfig/aws4_request,"
            " SignedHeaders=host;x-amz-date, Signature=abc",
            "appconfig",
        ),
        (
            "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/S3/aws4_request, "
            "SignedHeaders=host, Signature=abc",
            "s3",
        ),
        ("AWS AKIAEXAMPLE:signature", None),  # SigV2
        ("AWS4-HMAC-SHA256 Credential=too/short/aws4_request", None),
        ("", None),
    ],
)
def test_the_service_comes_from_the_sigv4_credential_scope(
    authorization: str, service: str | None
) -> None:
    assert signing_service(authorization) == service
