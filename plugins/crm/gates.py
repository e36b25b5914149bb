"""Feature gates of the CRM's blueprints: one rule for every module that serves a feature's pages.

A tenant without ``crm.basic`` (the base of these pages) gets a 404: JSON for the API, the upgrade page
for the UI (it names the plan that has the feature). A tenant with ``crm.basic`` but without a higher
``feature`` (``crm.advanced``: mass mailing, tasks) gets a 403 that says what is missing.
"""
from __future__ import annotations

from flask import g, jsonify, render_template

from core.i18n import domain

_ = domain("crm").gettext
BASE = "crm.basic"


def gate(api, ui, feature: str = BASE, refused=None) -> None:
    """Install the gate on the ``api`` and ``ui`` blueprints. ``refused()``: the API's 403 message for
    a tenant that has the base but not ``feature`` (a callable, so it is translated per request)."""

    @api.before_request
    def _gate_api():
        if not g.get("tenant") or not g.tenant.has(BASE):
            return jsonify(error="not_found", message=_("Not found")), 404
        if not g.tenant.has(feature):
            return jsonify(error="forbidden", feature=feature, message=refused() if refused else _("Not found")), 403
        return None

    @ui.before_request
    def _gate_ui():
        from core.web import feature_unavailable, host

        if not g.get("tenant") or not g.tenant.has(BASE):
            return feature_unavailable("crm", BASE)
        if not g.tenant.has(feature):
            return render_template("core/upgrade.html", manifest=host().plugins["crm"].manifest,
                                   feature=feature), 403
        return None
