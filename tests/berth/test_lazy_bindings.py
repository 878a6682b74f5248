"""Lazy provider bindings (berth/lazy_bindings.py): same output, same types, only what is used.

The slow checks run in fresh processes, as the app does: a process that already imported a
binding module cannot show what a cold one loads.
"""

from __future__ import annotations

import filecmp
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from berth.lazy_bindings import (
    NODE_HOOK,
    SWITCH_VARIABLE,
    LayoutError,
    LazyBindingLoader,
    plan_lazy_module,
)
from berth_core.config import PROJECT_ROOT

BINDINGS = (
    "cdktf_cdktf_provider_aws",
    "cdktf_cdktf_provider_helm",
    "cdktf_cdktf_provider_kubernetes",
)


def _python(
    code: str,
    *args: str,
    lazy: bool = True,
    extra_path: Path | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `code` with `args` in a fresh interpreter at the project root (`lazy=False`: switched off)."""
    env = {**os.environ, **(env or {}), SWITCH_VARIABLE: "1" if lazy else "0"}
    # NODE_OPTIONS is inherited as set by this (lazy) process: `lazy=False` must undo it.
    env["JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION"] = "20"
    paths = [str(PROJECT_ROOT)] + ([str(extra_path)] if extra_path else [])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


# --- the layout check -------------------------------------------------------------------------

_GOOD = """\
'''A binding root as jsii-pacmak writes it.'''
import publication
from ._jsii import *

__all__ = ["alpha", "data_thing_v1"]

publication.publish()

# Loading modules to ensure their types are registered with the jsii runtime library
from . import alpha
from . import data_thing_v1
"""


def _package(root: Path, name: str, init: str, submodules: tuple[str, ...]) -> Path:
    """A fake binding package: `init` as its root, a `_jsii` naming an assembly, empty submodules."""
    package = root / name
    (package / "_jsii").mkdir(parents=True)
    (package / "__init__.py").write_text(init)
    (package / "_jsii" / "__init__.py").write_text(
        "import types\n"
        "__jsii_assembly__ = types.SimpleNamespace(name='@fake/provider-fake')\n"
        "__all__ = ['__jsii_assembly__']\n"
    )
    for submodule in submodules:
        (package / submodule).mkdir()
        (package / submodule / "__init__.py").write_text(f"LOADED = {submodule!r}\n")
    return package


def test_the_expected_layout_defers_the_trailing_imports(tmp_path: Path) -> None:
    package = _package(tmp_path, "p", _GOOD, ("alpha", "data_thing_v1"))
    _code, deferred = plan_lazy_module(_GOOD, "p/__init__.py", str(package))
    assert deferred == ["alpha", "data_thing_v1"]


_ALL = '__all__ = ["alpha", "data_thing_v1"]'
_LAST = "from . import data_thing_v1\n"
_BLOCK = _GOOD[_GOOD.index("# Loading") :]


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        pytest.param(_LAST, _LAST + "X = 1\n", "no trailing", id="code-after-block"),
        pytest.param(_BLOCK, "", "no trailing", id="no-block"),
        pytest.param("publication.publish()", "alpha.setup()", "uses submodules", id="name-used"),
        pytest.param(_ALL, '__all__ = ["alpha"]', "missing from __all__", id="not-exported"),
        pytest.param(_ALL, "__all__ = names()", "no literal `__all__`", id="computed-all"),
        pytest.param(
            "from ._jsii import *", "import jsii", "no `from ._jsii import *`", id="no-jsii"
        ),
    ],
)
def test_an_unexpected_layout_is_refused_with_the_reason(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    package = _package(tmp_path, "p", _GOOD, ("alpha", "data_thing_v1"))
    with pytest.raises(LayoutError, match=re.escape(message)):
        plan_lazy_module(_GOOD.replace(old, new), "p/__init__.py", str(package))


def test_a_missing_submodule_folder_is_refused(tmp_path: Path) -> None:
    package = _package(tmp_path, "p", _GOOD, ("alpha",))
    with pytest.raises(LayoutError, match="folders missing: data_thing_v1"):
        plan_lazy_module(_GOOD, "p/__init__.py", str(package))


# --- loading, in fresh processes --------------------------------------------------------------

_FAKE = "cdktf_cdktf_provider_fake"
_REPORT = f"""
    import sys
    from berth import lazy_bindings
    lazy_bindings.install()
    import {_FAKE}.alpha
    import {_FAKE}.alpha  # a second import must not say anything again
    loaded_first = sorted(m for m in sys.modules if m.startswith("{_FAKE}."))
    import {_FAKE}
    via_attribute = {_FAKE}.data_thing_v1.LOADED
    import jsii._reference_map as reference_map
    print(loaded_first)
    print(via_attribute)
    print(reference_map._submodule_fqn_map.get("@fake/provider-fake.dataThingV1"))
"""


def test_a_binding_loads_only_the_submodules_used_and_the_rest_on_first_use(tmp_path: Path) -> None:
    _package(tmp_path, _FAKE, _GOOD, ("alpha", "data_thing_v1"))
    result = _python(_REPORT, extra_path=tmp_path)
    lines = _ok(result).splitlines()
    assert lines[0] == f"['{_FAKE}._jsii', '{_FAKE}._private', '{_FAKE}.alpha']"
    assert lines[1] == "data_thing_v1"
    assert lines[2] == f"{_FAKE}.data_thing_v1"  # where jsii looks a type of `dataThingV1` up
    assert result.stderr == ""


def test_an_unexpected_layout_is_imported_eagerly_and_said_once(tmp_path: Path) -> None:
    init = _GOOD + "SOMETHING_NEW = alpha.LOADED\n"  # the trailing block is no longer last
    _package(tmp_path, _FAKE, init, ("alpha", "data_thing_v1"))
    result = _python(_REPORT, extra_path=tmp_path)
    lines = _ok(result).splitlines()
    assert f"'{_FAKE}.data_thing_v1'" in lines[0]  # everything, as the file itself asks
    assert lines[2] == "None"
    (message,) = result.stderr.splitlines()
    assert message.startswith(f"berth: importing {_FAKE} eagerly (slow): ")
    assert "__init__.py: no trailing `from . import <submodule>` block" in message


def test_the_switch_turns_lazy_loading_off(tmp_path: Path) -> None:
    _package(tmp_path, _FAKE, _GOOD, ("alpha", "data_thing_v1"))
    lines = _ok(_python(_REPORT, lazy=False, extra_path=tmp_path)).splitlines()
    assert f"'{_FAKE}.data_thing_v1'" in lines[0]


# --- the pinned bindings ----------------------------------------------------------------------


@pytest.mark.parametrize("binding", BINDINGS)
def test_the_pinned_bindings_have_the_expected_layout(binding: str) -> None:
    """No fallback for the versions in Pipfile.lock: each root was loaded by our loader."""
    module = __import__(binding)
    assert isinstance(module.__spec__.loader, LazyBindingLoader), "fell back to the eager import"


@pytest.mark.parametrize("binding", BINDINGS)
def test_every_submodule_is_where_jsii_will_look_its_types_up(binding: str) -> None:
    """The registered FQN map against the type names jsii-pacmak wrote into each submodule.

    jsii resolves a type `<assembly>.<submodule>.<Type>` it has not seen by importing
    `_submodule_fqn_map["<assembly>.<submodule>"]`: every submodule must be reachable so.
    """
    import jsii._reference_map as reference_map

    module = __import__(binding)
    loader = module.__spec__.loader
    assert isinstance(loader, LazyBindingLoader)
    root = Path(module.__file__).parent
    wrong = {}
    for submodule in sorted(loader.deferred):
        with (root / submodule / "__init__.py").open(encoding="utf-8") as source:
            head = source.read(16384)
        fqn = head.split('jsii_type="', 1)[1].split('"', 1)[0]
        namespace = fqn.rsplit(".", 1)[0]
        if reference_map._submodule_fqn_map.get(namespace) != f"{binding}.{submodule}":
            wrong[namespace] = submodule
    assert wrong == {}
    # ...and every submodule folder of the package is one of those.
    assert {p.parent.name for p in root.glob("[!_]*/__init__.py")} == set(loader.deferred)


# A script that has JavaScript create resources of types whose Python modules were never
# imported (as a construct library written in TypeScript would), then gets them back through
# `node.find_all()`. Arguments: the output folder, then `on`, or `off` to first remove the map
# this project registers.
_JS_CREATED = """
    import json, sys
    from berth import lazy_bindings
    lazy_bindings.install()
    import cdktf, jsii
    import jsii._reference_map as reference_map
    from jsii._kernel import _make_reference_for_native
    from jsii._kernel.types import CreateRequest
    import cdktf_cdktf_provider_aws, cdktf_cdktf_provider_kubernetes

    if sys.argv[-1] == "off":
        for fqn in [f for f in reference_map._submodule_fqn_map if f.startswith("@cdktf/")]:
            del reference_map._submodule_fqn_map[fqn]
    app = cdktf.App(outdir=sys.argv[-2])
    stack = cdktf.TerraformStack(app, "js-created")
    created = {
        "group": ("@cdktf/provider-aws.xrayGroup.XrayGroup", {"groupName": "traces", "filterExpression": "ok"}),
        "map": ("@cdktf/provider-kubernetes.configMapV1.ConfigMapV1", {"metadata": {"name": "settings"}}),
    }
    never_imported = ["cdktf_cdktf_provider_aws.xray_group", "cdktf_cdktf_provider_kubernetes.config_map_v1"]
    assert not any(name in sys.modules for name in never_imported)
    for construct_id, (fqn, config) in created.items():
        # The jsii kernel's `create` request: what `new XrayGroup(...)` in JavaScript amounts to.
        jsii.kernel.provider.create(
            CreateRequest(fqn=fqn, args=_make_reference_for_native(jsii.kernel, [stack, construct_id, config]))
        )
    found = {c.node.id: c for c in stack.node.find_all() if c.node.id in created}
    print(json.dumps({
        "classes": {k: f"{type(v).__module__}.{type(v).__name__}" for k, v in found.items()},
        "types": {k: v.terraform_resource_type for k, v in found.items()},
        "group_name": found["group"].group_name_input,
    }))
"""


def test_an_object_of_a_never_imported_type_from_javascript_resolves_to_its_class(
    tmp_path: Path,
) -> None:
    result = _python(_JS_CREATED, str(tmp_path), "on")
    assert json.loads(_ok(result).splitlines()[-1]) == {
        "classes": {
            "group": "cdktf_cdktf_provider_aws.xray_group.XrayGroup",
            "map": "cdktf_cdktf_provider_kubernetes.config_map_v1.ConfigMapV1",
        },
        "types": {"group": "aws_xray_group", "map": "kubernetes_config_map_v1"},
        "group_name": "traces",
    }


def test_without_the_registered_map_jsii_cannot_resolve_that_object(tmp_path: Path) -> None:
    """The test above depends on our map: without it the same script meets an unknown type."""
    result = _python(_JS_CREATED, str(tmp_path), "off")
    assert result.returncode != 0
    assert "ValueError: Unknown type: @cdktf/provider-aws.xrayGroup.XrayGroup" in result.stderr


# --- byte-identical synthesis -----------------------------------------------------------------

_SYNTH = """
    import json, sys
    from pathlib import Path
    from berth.synth import synth_all
    stacks = synth_all(outdir=Path(sys.argv[-1]))
    loaded = sum(1 for m in sys.modules if m.startswith("cdktf_cdktf_provider_"))
    print(json.dumps({"stacks": stacks, "binding_modules": loaded}))
"""


@pytest.mark.xdist_group("lazy-vs-eager-synth")
def test_lazy_and_eager_synthesis_write_identical_files(tmp_path: Path) -> None:
    """Every stack of every environment file, synthesized in two fresh processes, file by file."""
    # This process loads lazily (conftest): the eager run inherits the hook and must drop it.
    assert str(NODE_HOOK) in os.environ["NODE_OPTIONS"]
    runs = {}
    # The jsii kernel logs each JavaScript file it requires (to this process's stdout).
    timing = {"JSII_DEBUG_TIMING": "1"}
    for mode in ("lazy", "eager"):
        outdir = tmp_path / mode
        output = _ok(_python(_SYNTH, str(outdir), lazy=mode == "lazy", env=timing))
        (summary,) = [line for line in output.splitlines() if line.startswith('{"stacks"')]
        runs[mode] = (json.loads(summary), outdir, output)
    (lazy, lazy_dir, lazy_log), (eager, eager_dir, eager_log) = runs["lazy"], runs["eager"]
    assert lazy["stacks"] == eager["stacks"] and lazy["stacks"]
    # Both modes really ran: the eager one loaded every resource module (4,000+ modules), the
    # lazy one a small fraction, in Python and in JavaScript (lazy-index.js, not index.js).
    assert (
        eager["binding_modules"] > 4000 and lazy["binding_modules"] * 10 < eager["binding_modules"]
    )
    for package in ("aws", "kubernetes", "helm"):
        assert f"@cdktf/provider-{package}/lib/lazy-index.js)" in lazy_log
        assert f"@cdktf/provider-{package}/lib/index.js)" not in lazy_log
        assert f"@cdktf/provider-{package}/lib/index.js)" in eager_log

    lazy_files = sorted(str(p.relative_to(lazy_dir)) for p in lazy_dir.rglob("*") if p.is_file())
    eager_files = sorted(str(p.relative_to(eager_dir)) for p in eager_dir.rglob("*") if p.is_file())
    assert lazy_files == eager_files
    # Every stack cdktf wrote (however many each environment gets) is among the files compared.
    manifest = json.loads((lazy_dir / "manifest.json").read_text())
    stack_files = {stack["synthesizedStackPath"] for stack in manifest["stacks"].values()}
    assert len(stack_files) >= len(lazy["stacks"]) and stack_files <= set(lazy_files)
    _match, mismatch, errors = filecmp.cmpfiles(lazy_dir, eager_dir, lazy_files, shallow=False)
    assert (mismatch, errors) == ([], [])
