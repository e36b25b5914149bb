"""Meta-tests (after datasette's): every hookspec has a documented section with its exact signature in
docs/plugins.md, is implemented by the every_hook fixture plugin, and has a test ``test_hook_<name>``.
Adding a hookspec without all three fails here."""
import inspect
import re
from pathlib import Path

import pytest

from core import hookspecs
from core.plugins import PROJECT

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "plugins.md"
TESTS = Path(__file__).resolve().parent

HOOKS = sorted(name for name, obj in vars(hookspecs).items()
               if callable(obj) and hasattr(obj, f"{PROJECT}_spec"))


def signature_line(name: str) -> str:
    return f"def {name}{inspect.signature(getattr(hookspecs, name))}:"


def doc_sections() -> dict[str, str]:
    """``### name`` heading -> the text up to the next heading of level 2 or 3."""
    text = DOCS.read_text(encoding="utf-8")
    parts = re.split(r"^(#{2,3}) (.+)$", text, flags=re.M)
    sections = {}
    for i in range(1, len(parts) - 2, 3):
        if parts[i] == "###":
            sections[parts[i + 1].strip()] = parts[i + 2]
    return sections


def test_the_hookspecs_are_found():
    assert {"register_models", "menu_items", "resolve_tenant", "demo_data"} <= set(HOOKS)


@pytest.mark.parametrize("name", HOOKS)
def test_hookspec_is_documented_with_its_exact_signature(name):
    sections = doc_sections()
    assert name in sections, f"docs/plugins.md has no '### {name}' section"
    lines = [line.strip() for line in sections[name].splitlines()]
    assert signature_line(name) in lines, f"section {name} must show `{signature_line(name)}`"
    assert "@hookimpl" in sections[name], f"section {name} needs an example implementation"


def test_every_hook_fixture_implements_every_hookspec():
    from tests.fixture_plugins import every_hook

    implemented = {name for name, obj in vars(every_hook).items()
                   if callable(obj) and hasattr(obj, f"{PROJECT}_impl")}
    assert set(HOOKS) - implemented == set(), "tests/fixture_plugins/every_hook must implement every hookspec"


def _test_functions() -> set[str]:
    names = set()
    for path in TESTS.rglob("test_*.py"):
        names |= set(re.findall(r"^def (test_hook_\w+)\(", path.read_text(encoding="utf-8"), flags=re.M))
    return names


def test_every_hookspec_has_a_test():
    missing = [name for name in HOOKS if f"test_hook_{name}" not in _test_functions()]
    assert missing == [], f"write a test_hook_<name> for: {', '.join(missing)}"
