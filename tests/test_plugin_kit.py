"""`garage plugin new`: bad names are refused in one line; a generated plugin installs with pip, loads
through its entry point, migrates, shows its menu only to tenants with its feature, and its own tests
(on the core's fixtures) pass."""
from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from core.scaffold import CORE_HEAD, generate



@pytest.fixture
def bare_app(tmp_path):
    """An app on an empty SQLite file: `plugin new` needs no database."""
    from core import create_app

    return create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'g.db'}", "INSTANCE_PATH": str(tmp_path),
                       "SECRET_KEY": "t"})


@pytest.mark.parametrize("name, reason", [
    ("Bad-Name", "lower-case"),
    ("9lives", "lower-case"),
    ("x", "lower-case"),
    ("core", "reserved"),
    ("class", "reserved"),
])
def test_a_bad_name_is_a_one_line_error_and_writes_nothing(bare_app, tmp_path, name, reason):
    out = tmp_path / "out"
    out.mkdir()
    result = bare_app.test_cli_runner().invoke(args=["plugin", "new", name, "--dir", str(out)])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and reason in lines[0]
    assert list(out.iterdir()) == []


def test_an_installed_plugins_name_or_an_existing_folder_is_refused(bare_app, tmp_path):
    runner = bare_app.test_cli_runner()
    installed = next(iter(bare_app.extensions["garage"].plugins))
    result = runner.invoke(args=["plugin", "new", installed, "--dir", str(tmp_path)])
    assert result.exit_code == 2 and "already used" in result.output
    assert runner.invoke(args=["plugin", "new", "tyres", "--dir", str(tmp_path)]).exit_code == 0
    again = runner.invoke(args=["plugin", "new", "tyres", "--dir", str(tmp_path)])
    assert again.exit_code == 2 and "already exists" in again.output


def test_the_generated_package_is_complete(tmp_path):
    project = generate("tyre_hotel", tmp_path)
    pkg = project / "garage_tyre_hotel"
    cfg = (project / "setup.cfg").read_text()
    assert "garage.plugins =\n    tyre_hotel = garage_tyre_hotel" in cfg
    assert (project / "pyproject.toml").is_file()
    assert (pkg / "locales" / "ru" / "LC_MESSAGES" / "tyre_hotel.po").is_file()
    migration = (pkg / "migrations" / "versions" / "tyre_hotel_0001_initial.py").read_text()
    assert "branch_labels = ('tyre_hotel',)" in migration and f"depends_on = ('{CORE_HEAD}',)" in migration
    init = (pkg / "__init__.py").read_text()
    for needle in ('slug="tyre_hotel"', "def register_entities", "def menu_items", "def register_models"):
        assert needle in init
    test = (project / "tests" / "test_tyre_hotel.py").read_text()
    for fixture in ("app", "client", "tenant", "user", "login"):
        assert fixture in test
    for path in project.rglob("*.py"):
        ast.parse(path.read_text(), str(path))  # every generated module is valid Python


def _run(args, cwd, env, timeout=120):
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{' '.join(map(str, args))}\n{result.stdout}\n{result.stderr}"
    return result.stdout


MENU_SCRIPT = """
import sys
from core import create_app
from core.db import db
app = create_app()
client = app.test_client()
with client.session_transaction() as s:
    s["_user_id"] = sys.argv[1]
    s["_fresh"] = True
print(client.get("/").get_data(as_text=True))
"""


def _layered_venv(where: Path) -> Path:
    """A venv that sees everything of the current one (a .pth runs ``site.addsitedir`` on its
    site-packages, so its editable installs and entry points work) but installs into its own. The
    generated plugin goes there rather than into the shared venv: any other test process started
    meanwhile would discover its entry point without being able to import it."""
    import site
    import sysconfig

    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True, timeout=120)
    purelib = sysconfig.get_paths()["purelib"]
    child = Path(subprocess.run([str(where / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                capture_output=True, text=True, check=True).stdout.strip())
    parents = [purelib] + [p for p in site.getsitepackages() if p != purelib]
    (child / "_garage_parent.pth").write_text(
        "import site; " + "; ".join(f"site.addsitedir({p!r})" for p in parents) + "\n")
    return where / "bin" / "python"


GARAGE = "import sys; from core.cli import main; sys.argv[0] = 'garage'; main()"


@pytest.mark.slow
def test_generated_plugin_installs_loads_gates_its_menu_and_passes_its_own_tests(tmp_path):
    slug = f"kit_{uuid.uuid4().hex[:8]}"  # unique: parallel runs never meet
    env = {**os.environ, "GARAGE_INSTANCE": str(tmp_path / "instance"),
           "DATABASE_URL": f"sqlite:///{tmp_path / 'garage.db'}", "SECRET_KEY": "kit-test"}
    env.pop("GARAGE_PLUGINS", None)
    python = str(_layered_venv(tmp_path / "venv"))
    garage = [python, "-c", GARAGE]
    _run(garage + ["plugin", "new", slug, "--dir", str(tmp_path)], tmp_path, env)
    project = tmp_path / f"garage-{slug.replace('_', '-')}"
    _run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "-e", str(project)],
         tmp_path, env, timeout=180)

    plugins = json.loads(_run(garage + ["plugin", "list", "--json"], tmp_path, env))
    assert slug in {p["slug"] for p in plugins}

    _run(garage + ["db", "upgrade"], tmp_path, env)
    assert "match" in _run(garage + ["db", "check"], tmp_path, env)  # its migration == its model
    for shop in ("with-it", "without-it"):
        _run(garage + ["tenant", "create", shop, "--name", shop, "--tier", "free"], tmp_path, env)
        _run(garage + ["user", "create", "--tenant", shop, "--email", f"owner@{shop}.example", "--role", "owner",
                       "--password", "long enough 123"], tmp_path, env)
    _run(garage + ["tenant", "grant", "with-it", f"{slug}.basic"], tmp_path, env)
    for shop, enabled in (("with-it", True), ("without-it", False)):
        listed = json.loads(_run(garage + ["plugin", "list", "--tenant", shop, "--json"], tmp_path, env))
        assert {p["slug"]: p["enabled"] for p in listed}[slug] is enabled

    users = json.loads(_run([python, "-c", USERS_SCRIPT], tmp_path, env))
    with_it = _run([python, "-c", MENU_SCRIPT, str(users["with-it"])], tmp_path, env)
    without = _run([python, "-c", MENU_SCRIPT, str(users["without-it"])], tmp_path, env)
    assert f'href="/{slug}/items"' in with_it
    assert f'href="/{slug}/items"' not in without and 'href="/settings"' in without

    tests = _run([python, "-m", "pytest", "-p", "no:cacheprovider", "-q"], project, env, timeout=300)
    assert " passed" in tests and "failed" not in tests
    # The shared venv never saw the plugin.
    assert slug not in {p["slug"] for p in json.loads(_run([sys.executable, "-c", GARAGE, "plugin", "list", "--json"],
                                                             tmp_path, env))}


USERS_SCRIPT = """
import json
from sqlalchemy import select
from core import create_app
from core.db import db
from core.models import User
app = create_app()
with app.app_context():
    rows = db.session.scalars(select(User).execution_options(all_tenants=True)).all()
    print(json.dumps({u.tenant.slug: u.id for u in rows}))
"""
