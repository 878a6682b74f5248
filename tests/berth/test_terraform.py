"""The aws provider comes from a filesystem mirror: from BERTH_TF_PROVIDER_MIRROR or discovered."""

from __future__ import annotations

from pathlib import Path

import pytest

from berth.terraform import (
    AWS_PROVIDER_PATH,
    MIRROR_ENV,
    TerraformError,
    discover_provider_mirror,
    platform_dir,
    write_cli_config,
)


def make_mirror(root: Path, version: str = "5.100.0") -> Path:
    (root / AWS_PROVIDER_PATH / version / platform_dir()).mkdir(parents=True)
    return root


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MIRROR_ENV, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "home" / ".local" / "share"))
    monkeypatch.setenv("XDG_DATA_DIRS", str(tmp_path / "nowhere"))


def test_the_environment_variable_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mirror = make_mirror(tmp_path / "configured")
    make_mirror(tmp_path / "home" / ".terraform.d" / "plugins")
    monkeypatch.setenv(MIRROR_ENV, str(mirror))
    assert discover_provider_mirror(search_root=tmp_path) == mirror


def test_a_variable_pointing_at_the_wrong_folder_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MIRROR_ENV, str(tmp_path))
    with pytest.raises(
        TerraformError, match=rf"{MIRROR_ENV}=.*no registry.terraform.io/hashicorp/aws/5.100.0"
    ):
        discover_provider_mirror(search_root=tmp_path)


def test_terraforms_implied_mirror_folders_are_searched(tmp_path: Path) -> None:
    mirror = make_mirror(tmp_path / "home" / ".terraform.d" / "plugins")
    assert discover_provider_mirror(search_root=tmp_path / "empty") == mirror


def test_a_mirror_elsewhere_is_found_by_a_shallow_walk(tmp_path: Path) -> None:
    mirror = make_mirror(tmp_path / "srv" / "tf-mirror")
    make_mirror(tmp_path / "other", version="4.0.0")
    assert discover_provider_mirror(search_root=tmp_path) == mirror


def test_no_mirror_says_which_variable_to_set(tmp_path: Path) -> None:
    with pytest.raises(TerraformError, match=f"set {MIRROR_ENV}"):
        discover_provider_mirror(search_root=tmp_path)


def test_the_cli_config_installs_hashicorp_providers_from_the_mirror_only(tmp_path: Path) -> None:
    config = write_cli_config(Path("/some/mirror"), tmp_path).read_text()
    assert 'path    = "/some/mirror"' in config
    assert 'include = ["registry.terraform.io/hashicorp/*"]' in config
    assert "direct" not in config


def test_this_machines_mirror_is_discoverable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.undo()  # the real HOME and variables: the e2e tests need this to work
    mirror = discover_provider_mirror()
    assert (mirror / AWS_PROVIDER_PATH / "5.100.0" / platform_dir()).is_dir()
