"""Development only, until the first release: regenerate the initial migration of one branch.

    .venv/bin/python tools/reset_migrations.py core|<plugin-slug>
    .venv/bin/python tools/reset_migrations.py <slug>=<module>   # a plugin that is not an entry point
                                                                 # (tests/fixture_plugins/<slug> is found alone)

The branch's single migration gets the stable id ``<branch>_0001``, so other branches' ``depends_on``
stay valid. Runs on a scratch SQLite database; serialised with a lock file so parallel sessions do
not interleave. After the first release, add migrations with ``garage db revision`` instead.
"""
from __future__ import annotations

import fcntl
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main(branch: str) -> None:
    from core import create_app, migrate
    from core.plugins import discover

    # Test-only plugins are loaded like GARAGE_EXTRA_PLUGINS; their migrations live beside the module.
    branch, _, module_path = branch.partition("=")
    if not module_path and (ROOT / "tests/fixture_plugins" / branch / "__init__.py").exists():
        module_path = f"tests.fixture_plugins.{branch}"
    extra = {branch: module_path} if module_path else {}
    with open("/tmp/garage-reset-migrations.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        everything = {name: module for name, module, _ in discover(extra=extra)}
        # Leave out the branch's dependants: their migrations point at the one being replaced.
        dependants = {n for n, m in everything.items() if branch in getattr(m.manifest, "requires", ())}
        if branch == "core":
            dependants = set(everything)
        target = ROOT / ("core/migrations/versions" if branch == "core" else f"plugins/{branch}/migrations/versions")
        if extra:
            target = Path(everything[branch].__file__).parent / "migrations" / "versions"
        target.mkdir(parents=True, exist_ok=True)
        # Set the old migration aside and put it back if anything fails (e.g. a broken import in
        # create_app), so a branch is never left without its migration.
        backup = Path(tempfile.mkdtemp(prefix="garage-migrations-"))
        for old in target.glob("*.py"):
            shutil.move(str(old), backup / old.name)
        try:
            with tempfile.TemporaryDirectory() as scratch:
                app = create_app({
                    "INSTANCE_PATH": scratch, "SECRET_KEY": "x",
                    "SQLALCHEMY_DATABASE_URI": f"sqlite:///{scratch}/scratch.db",
                    "GARAGE_DISABLED_PLUGINS": sorted(dependants),
                    "GARAGE_EXTRA_PLUGINS": extra,
                })
                migrate.upgrade(app)
                print(migrate.revision(app, branch, f"{branch} tables", rev_id=f"{branch}_0001"))
        except BaseException:
            for new_file in target.glob("*.py"):
                new_file.unlink()
            for old in backup.glob("*.py"):
                shutil.move(str(old), target / old.name)
            raise
        finally:
            shutil.rmtree(backup, ignore_errors=True)

if __name__ == "__main__":
    main(sys.argv[1])
