"""The layers keep their direction (DESIGN.md §3), read from the imports with `ast`."""

from __future__ import annotations

import ast
import threading
from pathlib import Path

import networkx as nx
import pytest

from ally import create_app
from tests.conftest import base_config

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "ally"
FRAMEWORKS = ("flask", "sqlalchemy", "werkzeug")


def module_name(path: Path) -> str:
    """The dotted name of a module file under the repository root."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_names(source: str, module: str, is_package: bool = False) -> list[str]:
    """Every module a source imports, relative imports resolved to dotted names.

    `from x import y` yields both "x" and "x.y" (y may be a submodule), so
    `from .. import services` is seen as an import of "ally.services".
    """
    package = module if is_package else module.rpartition(".")[0]
    names = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts)
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            names.append(target)
            names.extend(f"{target}.{alias.name}" for alias in node.names)
    return names


def modules_under(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.py"))


def forbidden_for_domain(name: str) -> bool:
    """Whether the domain layer may not import this module."""
    top = name.split(".")[0]
    if top in FRAMEWORKS or top.startswith("flask_"):
        return True
    if top == "ally":
        return not (name == "ally.domain" or name.startswith("ally.domain."))
    return top == "app"


def domain_violations(path: Path) -> list[str]:
    names = imported_names(
        path.read_text(), module_name(path), is_package=path.name == "__init__.py"
    )
    return sorted({n for n in names if forbidden_for_domain(n)})


# --- the checker itself ----------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import flask", "flask"),
        ("from flask_login import current_user", "flask_login"),
        ("from sqlalchemy.orm import Session", "sqlalchemy.orm"),
        ("from werkzeug.security import check_password_hash", "werkzeug.security"),
        ("from ..models import User", "ally.models"),
        ("from .. import services", "ally.services"),
        ("import ally.services.accounts", "ally.services.accounts"),
        ("import app", "app"),
        ("def f():\n    from ally.extensions import db", "ally.extensions"),
        ("from .timezones import zone", None),
        ("from . import timezones", None),
        ("from ally.domain.timezones import zone", None),
        ("import zoneinfo\nimport networkx as nx", None),
    ],
)
def test_the_checker_sees_forbidden_imports(source, expected):
    names = imported_names(source, "ally.domain.example")

    violations = {n for n in names if forbidden_for_domain(n)}
    if expected is None:
        assert violations == set()
    else:
        assert expected in violations


def test_relative_imports_resolve_from_the_package():
    assert "ally.domain.timezones" in imported_names(
        "from .timezones import zone", "ally.domain.availability"
    )
    assert "ally.domain.timezones" in imported_names(
        "from .timezones import zone", "ally.domain", is_package=True
    )
    assert "ally.models.User" in imported_names(
        "from ..models import User", "ally.services.accounts"
    )


# --- domain ----------------------------------------------------------------------

DOMAIN_MODULES = modules_under(PACKAGE / "domain")


def test_the_domain_has_modules():
    names = {path.stem for path in DOMAIN_MODULES}
    assert {"__init__", "availability", "matching", "timezones"} <= names


@pytest.mark.parametrize("path", DOMAIN_MODULES, ids=lambda p: p.name)
def test_domain_imports_no_framework_and_no_other_layer(path):
    assert domain_violations(path) == []


# --- services --------------------------------------------------------------------

SERVICE_MODULES = modules_under(PACKAGE / "services")
REQUEST_STATE = {"flask.request", "flask.session", "flask.g"}


def request_state_used(source: str, module: str) -> list[str]:
    """Imports or attribute reads of the current request, session or login."""
    found = []
    for name in imported_names(source, module):
        if name in REQUEST_STATE or name.split(".")[0] == "flask_login":
            found.append(name)
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "flask"
            and node.attr in {"request", "session", "g"}
        ):
            found.append(f"flask.{node.attr}")
    return sorted(set(found))


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from flask import request", ["flask.request"]),
        ("from flask import current_app, session", ["flask.session"]),
        (
            "from flask_login import current_user",
            ["flask_login", "flask_login.current_user"],
        ),
        ("import flask\nflask.request.args", ["flask.request"]),
        ("from flask import current_app", []),
    ],
)
def test_the_request_state_checker(source, expected):
    assert request_state_used(source, "ally.services.example") == expected


def test_there_are_services():
    names = {path.stem for path in SERVICE_MODULES}
    assert {"accounts", "partners", "profiles", "topics"} <= names


@pytest.mark.parametrize("path", SERVICE_MODULES, ids=lambda p: p.name)
def test_services_never_read_the_request_or_the_login(path):
    assert request_state_used(path.read_text(), module_name(path)) == []


# --- the entry point and the factory ---------------------------------------------

ALLY_MODULES = modules_under(PACKAGE)


@pytest.mark.parametrize("path", ALLY_MODULES, ids=lambda p: module_name(p))
def test_nothing_in_ally_imports_the_entry_point_or_the_factory(path):
    module = module_name(path)
    names = imported_names(path.read_text(), module, path.name == "__init__.py")

    assert [n for n in names if n == "app" or n.startswith("app.")] == []
    assert "ally.create_app" not in names


def test_the_factory_starts_no_threads(tmp_path):
    before = {thread.ident for thread in threading.enumerate()}

    application = create_app(
        {**base_config(tmp_path / "ally.db"), "ALLY_SCHEDULER": "on"}
    )

    assert application.name == "ally"
    assert threading.active_count() == len(before)
    assert {thread.ident for thread in threading.enumerate()} == before


# --- the whole package: no cycles, services below the realtime edge ----------------

MODULE_NAMES = {module_name(path): path for path in ALLY_MODULES}


def module_imports(path: Path) -> set[str]:
    """The ally modules one module imports, inside functions too; `from pkg
    import sub` counts as importing pkg (its __init__ runs) and pkg.sub."""
    module = module_name(path)
    names = imported_names(path.read_text(), module, path.name == "__init__.py")
    return {name for name in names if name in MODULE_NAMES} - {module}


def import_cycles() -> list[list[str]]:
    """Every strongly connected group of more than one module."""
    graph = nx.DiGraph()
    for name, path in MODULE_NAMES.items():
        graph.add_node(name)
        graph.add_edges_from((name, target) for target in module_imports(path))
    return sorted(
        sorted(group)
        for group in nx.strongly_connected_components(graph)
        if len(group) > 1
    )


def test_the_cycle_finder_sees_a_cycle():
    graph = nx.DiGraph([("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")])
    groups = [g for g in nx.strongly_connected_components(graph) if len(g) > 1]
    assert groups == [{"a", "b", "c"}]


def test_no_import_cycles_anywhere_in_ally():
    assert import_cycles() == []


@pytest.mark.parametrize("path", SERVICE_MODULES, ids=lambda p: module_name(p))
def test_services_never_import_the_realtime_edge(path):
    names = imported_names(
        path.read_text(), module_name(path), path.name == "__init__.py"
    )
    assert [n for n in names if n.startswith("ally.realtime")] == []


def test_the_room_is_one_wing():
    """Everything of the room sits in services/room; nothing of it outside."""
    room = {p.stem for p in (PACKAGE / "services" / "room").glob("*.py")}
    assert {"events", "signals", "signal_store", "clock", "snapshots", "turns"} <= room
    assert {"presence", "instances"} <= room
    flat = {p.stem for p in (PACKAGE / "services").glob("*.py")}
    old = {
        "room_clock",
        "room_state",
        "live_signals",
        "presence",
        "turns",
        "driver_sql",
    }
    assert flat & old == set()
