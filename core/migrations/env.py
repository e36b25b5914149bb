"""Alembic environment: runs against the app's engine; only tables of loaded plugins are compared."""
from alembic import context

from core.db import db

config = context.config
app = config.attributes["app"]
owned = config.attributes["tables"]
only = config.attributes.get("only_tables")


def include_object(obj, name, type_, reflected, compare_to):
    table = obj if type_ == "table" else getattr(obj, "table", None)
    table_name = name if type_ == "table" else getattr(table, "name", None)
    if table_name is None:
        return True
    if only is not None:
        return table_name in only
    return table_name in owned


def render_item(type_, obj, autogen_context):
    """Custom column types (core.db.Money, a plugin's own) need their module imported in the file."""
    if type_ == "type":
        module = type(obj).__module__
        if not module.startswith("sqlalchemy"):
            autogen_context.imports.add(f"import {module}")
    return False  # render as usual


def run_migrations_online() -> None:
    engine = db.engine
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=db.metadata,
            include_object=include_object,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
            render_item=render_item,
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run `garage db upgrade` against a database")
run_migrations_online()
