"""The auth forms (Flask-WTF: every form carries the CSRF token)."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, Optional, Regexp

MIN_PASSWORD = 10


class LoginForm(FlaskForm):
    shop = StringField(_l("Shop code"), validators=[DataRequired(_l("Enter your shop code.")), Length(max=63)])
    email = StringField(_l("E-mail"), validators=[DataRequired(_l("Enter your e-mail.")), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(_l("Enter your password."))])


class PasswordChangeForm(FlaskForm):
    current_password = PasswordField(_l("Current password"), validators=[DataRequired(_l("Enter your current password."))])
    new_password = PasswordField(_l("New password"), validators=[
        DataRequired(_l("Enter a new password.")),
        Length(min=MIN_PASSWORD, max=200, message=_l("Use at least %(min)d characters.", min=MIN_PASSWORD)),
    ])
    confirm = PasswordField(_l("Repeat the new password"), validators=[
        DataRequired(_l("Repeat the new password.")), EqualTo("new_password", _l("The passwords do not match.")),
    ])


class TokenForm(FlaskForm):
    name = StringField(_l("Token name"), validators=[DataRequired(_l("Name the token, e.g. the script that uses it.")),
                                                     Length(max=120)])


class UserForm(FlaskForm):
    email = StringField(_l("E-mail"), validators=[DataRequired(_l("Enter an e-mail.")), Length(max=254)])
    name = StringField(_l("Name"), validators=[Optional(), Length(max=200)])
    role = SelectField(_l("Role"), coerce=int, validate_choice=True)
    password = PasswordField(_l("Password"), validators=[
        Optional(), Length(min=MIN_PASSWORD, max=200, message=_l("Use at least %(min)d characters.", min=MIN_PASSWORD)),
    ])


class RoleForm(FlaskForm):
    key = StringField(_l("Key"), validators=[
        DataRequired(_l("Enter a key.")), Length(max=40),
        Regexp(r"^[a-z][a-z0-9_]*$", message=_l("Use lower-case letters, digits and '_', starting with a letter.")),
    ])
    title = StringField(_l("Title"), validators=[DataRequired(_l("Enter a title.")), Length(max=120)])


class ConfirmForm(FlaskForm):
    """A button-only form (deactivate, revoke): just the CSRF token."""

    confirm = BooleanField(default=True)
