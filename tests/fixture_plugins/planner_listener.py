"""Test plugin: records the names and payloads of the committed events it is told about."""
from core.plugins import Manifest, hookimpl

manifest = Manifest(slug="planner_listener", version="1.0", title="Planner listener",
                    features={"planner_listener.use": "Listen to planner events"})

EVENTS: list[tuple[int, str, dict]] = []


@hookimpl
def on_event(event):
    EVENTS.append((event.tenant_id, event.name, dict(event.payload)))
