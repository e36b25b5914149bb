"""The shell's own pages: dashboard, profile (language), tenant settings (incl. plugin settings)."""
from __future__ import annotations

import logging
import zoneinfo
from decimal import Decimal

from babel.numbers import list_currencies
from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup
from marshmallow import Schema, ValidationError, fields, pre_load, validate
from werkzeug.routing import BuildError

from .. import audit
from ..db import db
from ..i18n import LANGUAGES
from ..web import collect_ui, host, ui_context
from .forms import errors_for, form_to_payload, schema_fields, value_for_input
from .formatting import tenant_row

log = logging.getLogger(__name__)
bp = Blueprint("ui", __name__)

LANGUAGE_NAMES = {"en": "English", "ru": "Русский", "zh": "中文"}


# --- helpers shared with the templates --------------------------------------------------------------

def url_if(endpoint: str, **values) -> str | None:
    """The URL of ``endpoint`` when some subsystem provides it (pages of other helpers may be
    missing in a trimmed installation); None otherwise, so the template leaves the link out."""
    try:
        return url_for(endpoint, **values)
    except BuildError:
        return None


def menu() -> list:
    """The tenant's menu: the ``menu_items`` hook, plus a link to each entity list the user may read
    of plugins that contribute no menu items of their own (those plugins rely on the generic pages; a
    plugin with a menu decides itself which of its lists deserve a place). Item keys start with the
    contributing plugin's slug (``crm.clients``)."""
    if "ui_menu" in g:
        return g.ui_menu
    ctx = ui_context()
    items = collect_ui("menu_items", ctx)
    urls = {i.url for i in items}
    with_menu = {str(i.key).split(".", 1)[0] for i in items}
    from ..registry import MenuItem
    from .generic import readable_types

    extra = []
    for t in readable_types(ctx):
        url = url_for("ui_generic.list_page", slug=_type_slug(t), resource=t.resource)
        if url not in urls and _type_slug(t) not in with_menu:
            extra.append(MenuItem(f"{t.plugin}.{t.resource}", t.title, url, order=600, section=_type_slug(t)))
    g.ui_menu = sorted(items + extra, key=lambda i: (i.order, i.key))
    return g.ui_menu


def _type_slug(t) -> str:
    from .generic import _slug

    return _slug(t)


def _matches(url: str, path: str) -> bool:
    return path == url if url == "/" else (path == url or path.startswith(url.rstrip("/") + "/"))


def is_current(url: str) -> bool:
    """The menu item of this page: the longest menu URL that the path starts with (so /planner/bays
    marks "Bays", not also "Planner")."""
    if "ui_current" not in g:
        matches = [i.url for i in menu() if _matches(i.url, request.path)]
        g.ui_current = max(matches, key=len) if matches else None
    return url == g.ui_current


@bp.app_context_processor
def _shell_context():
    return {
        "menu": menu,
        "url_if": url_if,
        "is_current": is_current,
        "tenant_row": tenant_row,
        "language_names": LANGUAGE_NAMES,
        "value_for_input": value_for_input,
        "plugin_gettext": _plugin_gettext,
        "upgrade_offer": upgrade_offer,
    }


def upgrade_offer(manifest, feature: str | None = None) -> dict:
    """What the missing feature is and the cheapest tier (lowest position) that includes it; with no
    specific feature, the cheapest tier with any of the plugin's features."""
    from sqlalchemy import select

    from ..models import Tier, TierFeature

    wanted = [feature] if feature else list(manifest.features)
    description = manifest.features.get(feature) if feature else manifest.description
    tier = None
    if wanted:
        tier = db.session.execute(
            select(Tier).join(TierFeature).where(TierFeature.feature.in_(wanted)).order_by(Tier.position, Tier.id).limit(1)
        ).unique().scalar_one_or_none()
    return {"description": description, "tier": tier.title if tier else None}


def _plugin_gettext(slug: str):
    """For a plugin's own templates: ``{% set _ = plugin_gettext("crm") %}`` uses the crm domain."""
    from ..i18n import domain

    return domain(slug).gettext


def _require_login():
    if current_user and current_user.is_authenticated:
        if g.get("tenant") is None:
            abort(403)  # signed in, but the shop is switched off: the login page would send us back here
        return None
    login = url_if("auth.login") or url_if("core_auth.login")
    if login:
        return redirect(f"{login}?next={request.full_path.rstrip('?')}")
    abort(401)


@bp.before_request
def _login_first():
    return _require_login()


# --- dashboard -----------------------------------------------------------------------------------------

@bp.get("/")
def dashboard():
    ctx = ui_context()
    widgets = []
    for widget in collect_ui("dashboard_widgets", ctx):
        try:
            widgets.append((widget, Markup(widget.render(ctx))))
        except Exception:  # noqa: BLE001 - one broken widget must not take the dashboard down
            log.exception("dashboard widget %r failed; it is left out", widget.key)
    return render_template("core/dashboard.html", widgets=widgets)


# --- profile -------------------------------------------------------------------------------------------

@bp.route("/profile", methods=["GET", "POST"])
def profile():
    errors = {}
    if request.method == "POST":
        language = request.form.get("language", "")
        if language and language not in current_app.config.get("LANGUAGES", LANGUAGES):
            errors["language"] = _("Choose one of the offered languages.")
        else:
            before = {"language": current_user.language}
            current_user.language = language or None
            audit.record("update", current_user, changes=audit.diff(before, {"language": current_user.language}))
            db.session.commit()
            # Flash after the change so the message is already in the new language.
            from flask_babel import refresh

            refresh()
            flash(_("Your profile is saved."), "success")
            return redirect(url_for("ui.profile"))
    return render_template("core/profile.html", errors=errors,
                           languages=current_app.config.get("LANGUAGES", LANGUAGES)), (422 if errors else 200)


# --- tenant settings -----------------------------------------------------------------------------------

VAT_MODES = {"none": _l("No VAT"), "included": _l("VAT included in prices"), "on_top": _l("VAT added on top of prices")}


def _timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(_("Unknown time zone."))


def _currency(value: str) -> None:
    if value not in list_currencies():
        raise ValidationError(_("Unknown currency code."))


def _digits(*lengths: int):
    def check(value: str) -> None:
        if value and (not value.isdigit() or len(value) not in lengths):
            raise ValidationError(_("Must be %(digits)s digits.", digits=" / ".join(str(n) for n in lengths)))
    return check


class TenantSettingsSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200),
                         metadata={"label": _l("Display name")})
    timezone = fields.String(required=True, validate=_timezone,
                             metadata={"label": _l("Time zone"), "help": _l("For example Europe/Moscow or Asia/Shanghai.")})
    currency = fields.String(required=True, validate=_currency,
                             metadata={"label": _l("Currency"), "help": _l("Three-letter code: RUB, KZT, CNY, USD, EUR.")})
    language = fields.String(required=True, validate=validate.OneOf(LANGUAGES),
                             metadata={"label": _l("Default language"), "choices": LANGUAGE_NAMES})
    vat_mode = fields.String(required=True, validate=validate.OneOf(list(VAT_MODES)),
                             metadata={"label": _l("VAT mode"), "choices": VAT_MODES})
    vat_rate = fields.Decimal(required=True, places=2, validate=validate.Range(min=0, max=100),
                              metadata={"label": _l("VAT rate, %")})

    @pre_load
    def _normalise(self, data, **kwargs):
        if isinstance(data.get("currency"), str):
            data = {**data, "currency": data["currency"].strip().upper()}
        return data


def _inn_checksum(value: str) -> None:
    """The INN's check digits (10 digits: one, 12 digits: two), so a typo is caught before printing."""
    if not value or not value.isdigit() or len(value) not in (10, 12):
        return  # the length rule reports it

    def check(digits: str, weights: tuple[int, ...]) -> int:
        return sum(int(d) * w for d, w in zip(digits, weights)) % 11 % 10

    w10 = (2, 4, 10, 3, 5, 9, 4, 6, 8)
    w11 = (7, 2, 4, 10, 3, 5, 9, 4, 6, 8)
    w12 = (3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8)
    ok = (check(value, w10) == int(value[9]) if len(value) == 10 else
          check(value, w11) == int(value[10]) and check(value, w12) == int(value[11]))
    if not ok:
        raise ValidationError(_("The check digits do not match: probably a typo."))


def _inn(value: str) -> None:
    _digits(10, 12)(value)
    _inn_checksum(value)


REQUISITES = (
    ("legal_name", _l("Legal name"), None),
    ("inn", _l("Tax ID (INN)"), _inn),
    ("kpp", _l("KPP"), _digits(9)),
    ("address", _l("Address"), None),
    ("phone", _l("Phone"), None),
    ("bank_name", _l("Bank"), None),
    ("bik", _l("BIK"), _digits(9)),
    ("account", _l("Account number"), _digits(20)),
    ("corr_account", _l("Correspondent account"), _digits(20)),
)


RequisitesSchema = Schema.from_dict({
    name: fields.String(load_default="", allow_none=True,
                        validate=[validate.Length(max=300)] + ([check] if check else []), metadata={"label": label})
    for name, label, check in REQUISITES
}, name="RequisitesSchema")


def _tenant_snapshot(t) -> dict:
    return {"name": t.name, "timezone": t.timezone, "currency": t.currency, "language": t.language,
            "vat_mode": t.vat_mode, "vat_rate": Decimal(t.vat_rate or 0), "requisites": dict(t.requisites or {})}


def _plugin_forms() -> list[dict]:
    """Each enabled plugin with a ``settings_schema``: its generated form and current values."""
    t = tenant_row()
    out = []
    for slug in host().order:
        manifest = host().plugins[slug].manifest
        if slug not in g.tenant.plugins or manifest.settings_schema is None:
            continue
        schema = manifest.settings_schema()
        stored = (t.plugin_settings or {}).get(slug) or {}
        try:
            values = schema.load(stored) if stored else {}
        except ValidationError:
            values = stored
        out.append({"slug": slug, "title": manifest.title, "fields": _settings_fields(schema), "values": values,
                    "errors": {}})
    return out


def _settings_fields(schema) -> list:
    """The controls of a plugin's settings form: a field marked ``metadata={"feature": "..."}`` is shown
    only to a tenant that has that feature (a Free shop sees no setting of an advanced planner)."""
    by_key = {(f.data_key or name): f for name, f in schema.fields.items()}
    return [ff for ff in schema_fields(schema) if g.tenant.has(by_key[ff.name].metadata.get("feature"))]


def _kept_settings(schema, stored: dict, shown: list) -> dict:
    """The stored values of the fields the form does not show (lists edited on the plugin's own pages,
    fields of features the tenant lacks): a save of the form must keep them, not reset them to defaults."""
    shown_keys = {ff.name for ff in shown}
    keys = {(f.data_key or name) for name, f in schema.fields.items() if not f.dump_only}
    return {k: v for k, v in stored.items() if k in keys and k not in shown_keys}


def _require_settings_permission():
    if not current_user.can("core.settings.manage"):
        abort(403)


@bp.route("/settings", methods=["GET", "POST"])
def settings():
    _require_settings_permission()
    t = tenant_row()
    main_fields = schema_fields(TenantSettingsSchema)
    requisite_fields = schema_fields(RequisitesSchema)
    errors: dict = {}
    values = {**_tenant_snapshot(t), **(t.requisites or {})}
    if request.method == "POST":
        values = request.form
        errors = {}
        data = req = None
        try:
            data = TenantSettingsSchema().load(form_to_payload(request.form, main_fields))
        except ValidationError as exc:
            errors.update(errors_for(exc.messages))
        try:
            req = RequisitesSchema().load(form_to_payload(request.form, requisite_fields))
        except ValidationError as exc:
            errors.update(errors_for(exc.messages))
        if not errors:
            before = _tenant_snapshot(t)
            for key, value in data.items():
                setattr(t, key, value)
            t.requisites = {k: (v or "").strip() for k, v in req.items()}
            changes = audit.diff(before, _tenant_snapshot(t))
            if changes:
                audit.record("update", t, changes=changes, object_type="core_tenant")
            db.session.commit()
            flash(_("Settings are saved."), "success")
            return redirect(url_for("ui.settings"))
        flash(_("Please correct the marked fields."), "error")
    return render_template("core/settings.html", main_fields=main_fields, requisite_fields=requisite_fields,
                           values=values, errors=errors, plugin_forms=_plugin_forms(),
                           has_logo=bool(t.logo_key)), (422 if errors else 200)


@bp.post("/settings/logo")
def settings_logo():
    """Upload (or with ``remove``) the shop's logo for prints and public pages; audited."""
    from ..branding import LogoError, set_logo
    from ..storage import storage

    _require_settings_permission()
    t = tenant_row()
    had = bool(t.logo_key)
    try:
        if request.form.get("remove"):
            old = set_logo(t, None)
        else:
            upload = request.files.get("logo")
            old = set_logo(t, upload.read() if upload else b"")
    except LogoError as exc:
        flash(str(exc.message), "error")
        return redirect(url_for("ui.settings") + "#s-logo", code=303)
    audit.record("update", t, changes={"logo": [had, bool(t.logo_key)]}, object_type="core_tenant")
    db.session.commit()
    if old:
        storage().delete(old)  # only after the commit: a rollback keeps the old file with its row
    flash(_("The logo is saved.") if t.logo_key else _("The logo is removed."), "success")
    return redirect(url_for("ui.settings") + "#s-logo", code=303)


@bp.get("/settings/logo.png")
def settings_logo_image():
    from ..branding import logo_png

    png = logo_png(tenant_row())
    if png is None:
        abort(404)
    return current_app.response_class(png, mimetype="image/png", headers={"Cache-Control": "private, no-cache"})


@bp.post("/settings/plugins/<slug>")
def plugin_settings(slug: str):
    _require_settings_permission()
    forms = {f["slug"]: f for f in _plugin_forms()}
    form = forms.get(slug)
    if form is None:
        abort(404)
    manifest = host().plugins[slug].manifest
    schema = manifest.settings_schema()
    kept = _kept_settings(schema, (tenant_row().plugin_settings or {}).get(slug) or {}, form["fields"])
    try:
        loaded = schema.load({**kept, **form_to_payload(request.form, form["fields"])})
    except ValidationError as exc:
        form["errors"] = errors_for(exc.messages)
        form["values"] = request.form
        flash(_("Please correct the marked fields."), "error")
        t = tenant_row()
        return render_template("core/settings.html", main_fields=schema_fields(TenantSettingsSchema),
                               requisite_fields=schema_fields(RequisitesSchema),
                               values={**_tenant_snapshot(t), **(t.requisites or {})}, errors={},
                               plugin_forms=list(forms.values()), has_logo=bool(t.logo_key)), 422
    t = tenant_row()
    stored = dict(t.plugin_settings or {})
    before = stored.get(slug) or {}
    after = schema.dump(loaded)
    stored[slug] = after
    t.plugin_settings = stored  # a new dict: JSON columns notice reassignment, not in-place edits
    changes = audit.diff(before, after)
    if changes:
        audit.record("update", t, changes={f"{slug}.{k}": v for k, v in changes.items()}, object_type="core_tenant")
    db.session.commit()
    flash(_("Settings of %(plugin)s are saved.", plugin=manifest.title), "success")
    return redirect(url_for("ui.settings") + f"#plugin-{slug}")
