"""API tokens: create (the secret is returned once), list, revoke, and find the user of a bearer token."""
from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy import bindparam, select
from sqlalchemy.orm import defaultload

from .. import audit
from ..db import db
from ..models import Tenant, User, utcnow
from .models import ApiToken

TOKEN_PREFIX = "gt_"


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(user: User, name: str = "", *, actor: str | None = None) -> tuple[ApiToken, str]:
    """Add a token for ``user`` to the current transaction; returns the row and the token text.

    Must run inside the user's tenant context (the audit row and the guard need it).
    """
    secret = secrets.token_urlsafe(32)
    token = ApiToken(tenant_id=user.tenant_id, user_id=user.id, name=(name or "").strip()[:120],
                     secret_hash=_digest(secret), hint=secret[-4:])
    db.session.add(token)
    db.session.flush()
    audit.record("token_create", token, actor=actor, changes={"name": [None, token.name], "user_id": [None, user.id]})
    return token, f"{TOKEN_PREFIX}{token.id}_{secret}"


def revoke_token(token: ApiToken, *, actor: str | None = None) -> None:
    if token.revoked_at is not None:
        return
    token.revoked_at = utcnow()
    audit.record("token_revoke", token, actor=actor, changes={"revoked": [False, True]})


def user_tokens(user: User) -> list[ApiToken]:
    return list(db.session.scalars(
        select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.revoked_at.is_not(None),
                                                                     ApiToken.id.desc())))


_statement = None


def _token_user_statement():
    """Built once (its construction cost more than running it): the token's user, role, tenant, tier."""
    global _statement
    if _statement is None:
        _statement = (
            select(User, ApiToken.secret_hash, ApiToken.revoked_at)
            .join(ApiToken, (ApiToken.user_id == User.id) & (ApiToken.tenant_id == User.tenant_id))
            .where(ApiToken.id == bindparam("token_id"))
            .options(defaultload(User.tenant).lazyload(Tenant.feature_overrides))
            .execution_options(all_tenants=True)
        )
    return _statement


def user_for_token(text: str) -> User | None:
    """The active user an active token belongs to, or None. Crosses tenants deliberately: the token
    tells the tenant, like the session's user id does.

    Runs on every API request, so it is one statement: the user (with its role, tenant and tier,
    joined) and the token's hash and revocation read together, without building an ApiToken object.
    Nothing is cached between requests: a revoked token, a deactivated user or tenant is refused on
    the very next request, whichever process changed it. The tenant's feature overrides are not
    loaded here (the request's tenant context reads them with the tier's features in one statement,
    :func:`core.features.request_tenant_info`); touching ``tenant.feature_overrides`` still loads them.
    """
    if not text.startswith(TOKEN_PREFIX):
        return None
    token_id, sep, secret = text[len(TOKEN_PREFIX):].partition("_")
    if not sep or not token_id.isdigit() or not secret:
        return None
    row = db.session.execute(_token_user_statement(), {"token_id": int(token_id)}).first()
    if row is None:
        return None
    user, secret_hash, revoked_at = row
    if revoked_at is not None or not hmac.compare_digest(secret_hash, _digest(secret)):
        return None
    return user if user.active and user.tenant.active else None
