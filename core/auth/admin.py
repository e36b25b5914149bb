"""Users and roles pages (permission ``core.user.manage``, feature ``core.access_rights``).

Nobody can hand out more than they hold: a role can be assigned, and a role's permissions set, only
within the acting user's own permissions (the owner's ``*`` covers all). Nobody deactivates themselves
or changes their own role, so a shop cannot lock itself out by accident.
"""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify, redirect, render_template, request, url_for
from flask_babel import force_locale, gettext as _
from flask_login import current_user
from sqlalchemy import select

from .. import audit
from ..db import db
from ..models import Role, User
from ..security import hash_password, validate_email
from ..tenants import DEFAULT_ROLES, OperatorError
from .access import permission_required
from .forms import ConfirmForm, RoleForm, UserForm

bp = Blueprint("core_access", __name__)
FEATURE = "core.access_rights"
MANAGE = "core.user.manage"


def role_title(role: Role) -> str:
    """A built-in role's title in the reader's language (it was stored in the language of the day the
    shop was created); a title the owner typed stays as typed."""
    if role.builtin and role.key in DEFAULT_ROLES:
        with force_locale("en"):
            default_english = str(DEFAULT_ROLES[role.key])
        if role.title == default_english:
            return str(DEFAULT_ROLES[role.key])
    return role.title


def _within_actor(permissions) -> bool:
    held = current_user.permissions
    wanted = set(permissions or ())
    return "*" in held or ("*" not in wanted and wanted <= held)


def _not_found():
    return render_template("core/auth/error.html", title=_("Not found"),
                           message=_("This page does not exist.")), 404


def _user_or_none(user_id: int) -> User | None:
    return db.session.execute(select(User).where(User.id == user_id)).scalar_one_or_none()


def _roles() -> list[Role]:
    return list(db.session.scalars(select(Role).order_by(Role.builtin.desc(), Role.title)))


def _user_snapshot(user: User) -> dict:
    return {"email": user.email, "name": user.name, "role": user.role.key if user.role else None,
            "active": user.active}


# --- users -------------------------------------------------------------------------------------------

@bp.route("/users")
@permission_required(MANAGE, feature=FEATURE)
def users():
    rows = list(db.session.scalars(select(User).order_by(User.active.desc(), User.email)))
    return render_template("core/auth/users.html", users=rows, action_form=ConfirmForm())


def _user_form(user: User | None) -> UserForm:
    form = UserForm(obj=user if request.method == "GET" else None)
    if user is not None and request.method == "GET":
        form.role.data = user.role_id
    form.role.choices = [(r.id, role_title(r)) for r in _roles() if _within_actor(r.permissions)
                         or (user is not None and r.id == user.role_id)]
    return form


def _save_user(form: UserForm, user: User | None) -> bool:
    """Validate beyond the form and write; False with field errors set when refused."""
    try:
        email = validate_email(form.email.data)
    except OperatorError:
        form.email.errors.append(_("Enter a valid e-mail address."))
        return False
    clash = db.session.execute(select(User.id).where(User.email == email)).scalar_one_or_none()
    if clash is not None and (user is None or clash != user.id):
        form.email.errors.append(_("A user with this e-mail already exists."))
        return False
    role = db.session.execute(select(Role).where(Role.id == form.role.data)).scalar_one_or_none()
    if role is None or (not _within_actor(role.permissions) and (user is None or role.id != user.role_id)):
        form.role.errors.append(_("You cannot give a role with more rights than your own."))
        return False
    if user is not None and user.id == current_user.id and role.id != user.role_id:
        form.role.errors.append(_("You cannot change your own role."))
        return False
    if user is None and not form.password.data:
        form.password.errors.append(_("Set a first password for the new user."))
        return False
    before = _user_snapshot(user) if user is not None else {}
    if user is None:
        user = User(email=email, name=(form.name.data or "").strip(), role=role)
        db.session.add(user)
    else:
        user.email, user.name, user.role = email, (form.name.data or "").strip(), role
    changes = audit.diff(before, _user_snapshot(user))
    if form.password.data:
        user.password_hash = hash_password(form.password.data)
        changes["password"] = ["***", "***"]
    db.session.flush()
    audit.record("create" if not before else "update", user, changes=changes)
    db.session.commit()
    return True


@bp.route("/users/new", methods=["GET", "POST"])
@permission_required(MANAGE, feature=FEATURE)
def user_new():
    form = _user_form(None)
    if form.validate_on_submit() and _save_user(form, None):
        return redirect(url_for("core_access.users"))
    status = 400 if request.method == "POST" else 200
    return render_template("core/auth/user_form.html", form=form, user=None), status


def _can_touch(user: User) -> bool:
    return _within_actor(user.role.permissions)


@bp.route("/users/<int:user_id>/edit", methods=["GET", "POST"])
@permission_required(MANAGE, feature=FEATURE)
def user_edit(user_id: int):
    user = _user_or_none(user_id)
    if user is None:
        return _not_found()
    if not _can_touch(user):
        return render_template("core/auth/error.html", title=_("Access denied"),
                               message=_("You cannot edit a user with more rights than your own.")), 403
    form = _user_form(user)
    if form.validate_on_submit() and _save_user(form, user):
        return redirect(url_for("core_access.users"))
    status = 400 if request.method == "POST" else 200
    return render_template("core/auth/user_form.html", form=form, user=user), status


def _set_active(user_id: int, active: bool):
    form = ConfirmForm()
    user = _user_or_none(user_id)
    if user is None:
        return _not_found()
    if not form.validate_on_submit() or user.id == current_user.id or not _can_touch(user):
        message = (_("You cannot deactivate yourself.") if user.id == current_user.id
                   else _("You cannot change a user with more rights than your own."))
        return render_template("core/auth/error.html", title=_("Not allowed"), message=message), 403
    if user.active != active:
        user.active = active
        audit.record("activate" if active else "deactivate", user, changes={"active": [not active, active]})
        db.session.commit()
    return redirect(url_for("core_access.users"))


@bp.route("/users/<int:user_id>/deactivate", methods=["POST"])
@permission_required(MANAGE, feature=FEATURE)
def user_deactivate(user_id: int):
    return _set_active(user_id, False)


@bp.route("/users/<int:user_id>/activate", methods=["POST"])
@permission_required(MANAGE, feature=FEATURE)
def user_activate(user_id: int):
    return _set_active(user_id, True)


# --- roles -------------------------------------------------------------------------------------------

def permission_groups() -> list[tuple[str, str, list]]:
    """Registered permissions grouped by plugin: [(slug, title, [Permission, ...]), ...]."""
    host = current_app.extensions["garage"]
    groups: dict[str, list] = {}
    for perm in host.permissions.values():
        groups.setdefault(perm.code.split(".", 1)[0], []).append(perm)
    out = []
    for slug in sorted(groups, key=lambda s: (s != "core", s)):
        title = _("Core") if slug == "core" else str(host.plugins[slug].manifest.title) if slug in host.plugins else slug
        out.append((slug, title, sorted(groups[slug], key=lambda p: p.code)))
    return out


@bp.route("/roles")
@permission_required(MANAGE, feature=FEATURE)
def roles():
    return render_template("core/auth/roles.html", roles=_roles())


def _role_page(form: RoleForm, role: Role | None, checked: set[str], status: int = 200):
    return render_template("core/auth/role_form.html", form=form, role=role, checked=checked,
                           groups=permission_groups(), grantable=_within_actor), status


def _save_role(form: RoleForm, role: Role | None) -> set[str] | None:
    """Returns the chosen permissions when refused (to re-show them), None when saved."""
    known = current_app.extensions["garage"].permissions
    chosen = {code for code in request.form.getlist("permissions") if code in known}
    if not form.validate_on_submit():
        return chosen
    if not _within_actor(chosen):
        form.form_errors.append(_("You cannot grant permissions you do not have yourself."))
        return chosen
    key = form.key.data if role is None else role.key
    if role is None and db.session.execute(select(Role.id).where(Role.key == key)).first():
        form.key.errors.append(_("A role with this key already exists."))
        return chosen
    before = {} if role is None else {"title": role.title, "permissions": sorted(role.permissions or [])}
    if role is None:
        role = Role(key=key, title=form.title.data.strip(), permissions=sorted(chosen), builtin=False)
        db.session.add(role)
    else:
        role.title, role.permissions = form.title.data.strip(), sorted(chosen)
    db.session.flush()
    audit.record("create" if not before else "update", role,
                 changes=audit.diff(before, {"key": key, "title": role.title, "permissions": sorted(chosen)}
                                    if not before else {"title": role.title, "permissions": sorted(chosen)}))
    db.session.commit()
    return None


@bp.route("/roles/new", methods=["GET", "POST"])
@permission_required(MANAGE, feature=FEATURE)
def role_new():
    form = RoleForm()
    if request.method == "POST":
        refused = _save_role(form, None)
        if refused is None:
            return redirect(url_for("core_access.roles"))
        return _role_page(form, None, refused, 400)
    return _role_page(form, None, set())


@bp.route("/roles/<int:role_id>/edit", methods=["GET", "POST"])
@permission_required(MANAGE, feature=FEATURE)
def role_edit(role_id: int):
    role = db.session.execute(select(Role).where(Role.id == role_id)).scalar_one_or_none()
    if role is None:
        return _not_found()
    if "*" in (role.permissions or ()) or not _within_actor(role.permissions):
        return render_template("core/auth/error.html", title=_("Not allowed"),
                               message=_("This role cannot be edited.")), 403
    form = RoleForm(obj=role if request.method == "GET" else None)
    if request.method == "POST":
        form.key.data = role.key  # the key is fixed once created
        refused = _save_role(form, role)
        if refused is None:
            return redirect(url_for("core_access.roles"))
        return _role_page(form, role, refused, 400)
    return _role_page(form, role, set(role.permissions or ()))


# --- read-only API (the same permission and feature as the pages) ------------------------------------

api_bp = Blueprint("core_access_api", __name__, url_prefix="/api/v1")


@api_bp.get("/users")
@permission_required(MANAGE, feature=FEATURE)
def users_api():
    rows = db.session.scalars(select(User).order_by(User.email))
    return jsonify(items=[{"id": u.id, "email": u.email, "name": u.name, "role": u.role.key, "active": u.active,
                           "language": u.language} for u in rows])


@api_bp.get("/roles")
@permission_required(MANAGE, feature=FEATURE)
def roles_api():
    return jsonify(items=[{"id": r.id, "key": r.key, "title": r.title, "builtin": r.builtin,
                           "permissions": sorted(r.permissions or [])} for r in _roles()])
