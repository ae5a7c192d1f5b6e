"""What import-linter cannot say: the domain uses only the library's domain module, and no class
of the event store overrides a private method of an eventsourcing base (the library may change
those in any release; our store is built on its public API)."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import sys
from pathlib import Path

import eventstore

ROOT = Path(__file__).resolve().parents[2]
DOMAIN_THIRD_PARTY = frozenset({"eventsourcing", "phonenumbers"})
ABC_MACHINERY = frozenset({"_abc_impl"})


def _imported_modules(package: Path) -> dict[str, set[str]]:
    """Every module each file of the package imports (absolute names)."""
    found: dict[str, set[str]] = {}
    for path in sorted(package.rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        found[str(path.relative_to(ROOT))] = names
    return found


def test_the_domain_uses_only_the_librarys_domain_module() -> None:
    imports = _imported_modules(ROOT / "domain")
    assert imports
    for path, names in imports.items():
        for name in names:
            top = name.partition(".")[0]
            if top == "eventsourcing":
                assert name == "eventsourcing.domain", (path, name)
            else:
                allowed = top == "domain" or top in DOMAIN_THIRD_PARTY
                assert allowed or top in sys.stdlib_module_names, (path, name)


def test_the_domain_imports_no_io_module_of_the_standard_library() -> None:
    io = {"sqlite3", "fcntl", "socket", "ssl", "subprocess", "os", "shutil", "asyncio"}
    io_modules = {"urllib.request", "http.client", "http.server"}
    for path, names in _imported_modules(ROOT / "domain").items():
        assert not {n.partition(".")[0] for n in names} & io, path
        assert not names & io_modules, path


def _eventstore_classes() -> list[type]:
    classes = []
    for info in pkgutil.walk_packages(eventstore.__path__, "eventstore."):
        module = importlib.import_module(info.name)
        classes.extend(
            value
            for value in vars(module).values()
            if inspect.isclass(value) and value.__module__ == module.__name__
        )
    return classes


def test_no_event_store_class_overrides_a_private_method_of_the_library() -> None:
    classes = _eventstore_classes()
    assert len(classes) > 5
    library_based = 0
    for cls in classes:
        bases = [b for b in cls.__mro__[1:] if b.__module__.partition(".")[0] == "eventsourcing"]
        library_based += bool(bases)
        for name in vars(cls):
            if not name.startswith("_") or name.startswith("__") or name in ABC_MACHINERY:
                continue
            overridden = [b.__qualname__ for b in bases if name in vars(b)]
            assert not overridden, f"{cls.__qualname__}.{name} overrides {overridden}"
    assert library_based >= 4  # the application and the three recorders at least
