"""Test plugin: tries to add a transition docs_orders already has (a startup error)."""
from core.documents import Transition
from core.plugins import Manifest, hookimpl

manifest = Manifest(slug="docs_clash", version="1.0", title="Clash (test)",
                    features={"docs_clash.use": "Clash"}, requires=("docs_orders",))


@hookimpl
def extend_workflow(document_type):
    if document_type.key == "docs_orders.order":
        return [Transition("confirm", "Confirm again", ("draft",), "confirmed")]
    return None
