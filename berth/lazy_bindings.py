"""Load the prebuilt cdktf provider bindings lazily: only the resource modules the code uses.

Why: the root `__init__.py` of each prebuilt binding (`cdktf_cdktf_provider_aws`, `..._helm`,
`..._kubernetes`, ...) ends with one `from . import <submodule>` line per resource and data
source: 2,135 for aws. Importing any one resource module runs the root first, so every
synthesis paid 12-15 s of Python for aws alone (and several seconds for kubernetes) to load
classes it never uses; then the jsii kernel (node) did the same in JavaScript, where the
package's `lib/index.js` requires every resource module (2-4 s more). The stacks themselves
build in under a second.

How, in Python: `install()` puts a finder in front of `sys.meta_path` that answers only for
top-level packages named `cdktf_cdktf_provider_*`. It reads the package's own `__init__.py`
(nothing in site-packages is edited, no .pyc is written), checks that its layout is the one
described here, and executes it without the trailing block of `from . import <submodule>`
lines. Everything else in the file runs unchanged, including `from ._jsii import *`, which loads
the jsii assembly. Then:

- the package gets a PEP 562 `__getattr__`: `cdktf_cdktf_provider_aws.s3_bucket` used as an
  attribute imports that submodule on first use, so `__all__` and `from ... import *` keep
  working; `import cdktf_cdktf_provider_aws.s3_bucket` imports only that submodule, as usual;
- jsii learns where each submodule's types live. When JavaScript hands back an object whose
  type is not registered yet (its Python module was never imported), jsii's runtime
  (`jsii._reference_map._try_import_type_module`, jsii >= 1.142) imports the module named for
  the type's submodule in `_submodule_fqn_map`, the map newer jsii-pacmak output ships as
  `_SUBMODULE_FQN_MAP`. These bindings predate it, so we register the same map:
  `<assembly>.<submodule in camelCase>` -> `<package>.<submodule>`, the naming jsii-pacmak
  applies (`s3Bucket` -> `s3_bucket`). Without it jsii raises `ValueError: Unknown type`.

How, in JavaScript: `install()` adds `--require lazy_bindings_node.cjs` to `NODE_OPTIONS`, which
the jsii kernel's node process inherits when it starts (on first use of jsii). That hook
resolves a `@cdktf/provider-*` package to the `lib/lazy-index.js` the package ships beside its
`lib/index.js` (same exports, each required on first use); without that file, the package's
own index is used.

Fallback: if the layout is not the expected one (a new binding version: no trailing block,
a removed name used elsewhere in the file, a submodule folder missing, no jsii assembly) or the
jsii runtime lacks the lookup above, the package is imported the normal, eager way and one line
on stderr says so and why. `BERTH_LAZY_BINDINGS=0` turns the whole mechanism off (the
benchmark and the eager-vs-lazy test use it to compare the two).
"""

from __future__ import annotations

import ast
import importlib
import importlib.abc
import importlib.machinery
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import CodeType, ModuleType

# Prebuilt cdktf provider bindings: one top-level package per Terraform provider.
BINDING_PREFIX = "cdktf_cdktf_provider_"
# Set to 0 to import the bindings eagerly, as their own `__init__.py` does.
SWITCH_VARIABLE = "BERTH_LAZY_BINDINGS"
# The same for the JavaScript side, preloaded into the jsii kernel's node process.
NODE_HOOK = Path(__file__).with_name("lazy_bindings_node.cjs")

_reported: set[str] = set()


class LayoutError(Exception):
    """The binding's `__init__.py` is not laid out as this module expects."""


def install() -> bool:
    """Load provider bindings imported from now on lazily; True if the finder is in place.

    Idempotent. A binding already imported stays as it is (call this before any binding).
    """
    escaped = str(NODE_HOOK).replace("\\", "\\\\").replace('"', '\\"')
    option = f'--require "{escaped}"'
    # The jsii kernel (node) starts on first use and inherits this process's environment.
    node_options = os.environ.get("NODE_OPTIONS", "").replace(option, "").strip()
    if os.environ.get(SWITCH_VARIABLE, "1") == "0":
        # Off means off in JavaScript too, even when a lazy parent process set the hook.
        if "NODE_OPTIONS" in os.environ:
            os.environ["NODE_OPTIONS"] = node_options
        return False
    if not any(isinstance(finder, LazyBindingFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, LazyBindingFinder())
    os.environ["NODE_OPTIONS"] = f"{node_options} {option}".strip()
    return True


def submodule_fqn_map(assembly: str, package: str, submodules: Sequence[str]) -> dict[str, str]:
    """jsii submodule FQN -> Python module, e.g. `@cdktf/provider-aws.s3Bucket` -> `..._aws.s3_bucket`."""
    return {f"{assembly}.{_camel_case(name)}": f"{package}.{name}" for name in submodules}


def _camel_case(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _report_fallback(package: str, reason: str) -> None:
    if package in _reported:
        return
    _reported.add(package)
    print(
        f"berth: importing {package} eagerly (slow): {reason} "
        f"(berth/lazy_bindings.py expects the layout of the pinned binding versions)",
        file=sys.stderr,
    )


def _jsii_lookup_supported() -> bool:
    import jsii._reference_map as reference_map

    return hasattr(reference_map, "_submodule_fqn_map") and hasattr(
        reference_map, "_try_import_type_module"
    )


def plan_lazy_module(source: str, filename: str, package_dir: str) -> tuple[CodeType, list[str]]:
    """The package's code without its trailing `from . import <submodule>` block, and those names.

    Raises LayoutError when the file is not laid out as expected.
    """
    tree = ast.parse(source, filename)
    body = tree.body
    start = len(body)
    while start > 0 and _is_submodule_import(body[start - 1]):
        start -= 1
    trailing = body[start:]
    if not trailing:
        raise LayoutError("no trailing `from . import <submodule>` block")
    deferred = [statement.names[0].name for statement in trailing]  # type: ignore[attr-defined]
    kept = ast.Module(body=body[:start], type_ignores=tree.type_ignores)

    exported = _literal_all(kept)
    if exported is None:
        raise LayoutError("no literal `__all__` list")
    not_exported = sorted(set(deferred) - set(exported))
    if not_exported:
        raise LayoutError(f"submodules missing from __all__: {', '.join(not_exported[:5])}")
    used = sorted(
        {node.id for node in ast.walk(kept) if isinstance(node, ast.Name)} & set(deferred)
    )
    if used:
        raise LayoutError(f"the file uses submodules it imports at the end: {', '.join(used[:5])}")
    if not any(_is_jsii_star_import(statement) for statement in kept.body):
        raise LayoutError("no `from ._jsii import *` (the jsii assembly)")
    folders = set(os.listdir(package_dir))
    missing = sorted(name for name in deferred if name not in folders)
    if missing:
        raise LayoutError(f"submodule folders missing: {', '.join(missing[:5])}")
    return compile(kept, filename, "exec"), deferred


def _is_submodule_import(statement: ast.stmt) -> bool:
    return (
        isinstance(statement, ast.ImportFrom)
        and statement.level == 1
        and statement.module is None
        and len(statement.names) == 1
        and statement.names[0].asname is None
        and statement.names[0].name != "*"
    )


def _is_jsii_star_import(statement: ast.stmt) -> bool:
    return (
        isinstance(statement, ast.ImportFrom)
        and statement.level == 1
        and statement.module == "_jsii"
        and [alias.name for alias in statement.names] == ["*"]
    )


def _literal_all(module: ast.Module) -> list[str] | None:
    for statement in module.body:
        if (
            isinstance(statement, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "__all__" for t in statement.targets)
            and isinstance(statement.value, ast.List)
        ):
            values = [getattr(element, "value", None) for element in statement.value.elts]
            return [value for value in values if isinstance(value, str)]
    return None


class LazyBindingFinder(importlib.abc.MetaPathFinder):
    """Finds `cdktf_cdktf_provider_*` packages and loads them without their trailing imports."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if "." in fullname or not fullname.startswith(BINDING_PREFIX):
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None:
            return None  # not installed: let the normal machinery raise ModuleNotFoundError
        origin = spec.origin
        if spec.submodule_search_locations is None or not origin or not origin.endswith(".py"):
            _report_fallback(fullname, "not a package with an __init__.py source")
            return None
        if not _jsii_lookup_supported():
            _report_fallback(fullname, "the jsii runtime has no submodule type lookup")
            return None
        try:
            with open(origin, encoding="utf-8") as handle:
                source = handle.read()
            code, deferred = plan_lazy_module(source, origin, os.path.dirname(origin))
        except (OSError, SyntaxError, LayoutError) as error:
            _report_fallback(fullname, f"{origin}: {error}")
            return None
        spec.loader = LazyBindingLoader(fullname, origin, code, deferred)
        spec.cached = None  # our code is not the file's: never read or write its .pyc
        return spec


class LazyBindingLoader(importlib.machinery.SourceFileLoader):
    """Runs a binding's `__init__.py` minus its trailing imports, then wires on-demand loading."""

    def __init__(self, fullname: str, path: str, code: CodeType, deferred: list[str]) -> None:
        super().__init__(fullname, path)
        self._code = code
        self.deferred = frozenset(deferred)

    def get_code(self, fullname: str | None = None) -> CodeType:
        return self._code

    def exec_module(self, module: ModuleType) -> None:
        super().exec_module(module)
        package = module.__name__
        # `publication.publish()` at the end of the file swaps in a public module that holds
        # only `__all__`; the executed namespace lives on as `<package>._private`.
        public = sys.modules[package]
        for namespace in {id(public): public, id(module): module}.values():
            vars(namespace)["__getattr__"] = self._importer(package)
            vars(namespace)["__dir__"] = self._lister(namespace)
        assembly = getattr(module, "__jsii_assembly__", None)
        name = getattr(assembly, "name", None)
        if not isinstance(name, str):
            _report_fallback(package, "no jsii assembly name after loading")
            for submodule in sorted(self.deferred):
                importlib.import_module(f"{package}.{submodule}")
            return
        import jsii._reference_map as reference_map

        reference_map._submodule_fqn_map.update(
            submodule_fqn_map(name, package, sorted(self.deferred))
        )

    def _importer(self, package: str) -> Callable[[str], ModuleType]:
        deferred = self.deferred

        def __getattr__(attribute: str) -> ModuleType:
            if attribute in deferred:
                return importlib.import_module(f"{package}.{attribute}")
            raise AttributeError(f"module {package!r} has no attribute {attribute!r}")

        return __getattr__

    def _lister(self, namespace: ModuleType) -> Callable[[], list[str]]:
        deferred = self.deferred

        def __dir__() -> list[str]:
            return sorted(set(vars(namespace)) | deferred)

        return __dir__
