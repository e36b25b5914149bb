"""Tables owned by the auth subsystem."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import TenantScoped, db
from ..models import User, utcnow


class ApiToken(TenantScoped, db.Model):
    """A personal API token. Only the SHA-256 of the secret is stored; the token is shown once.

    The token text is ``gt_<id>_<secret>``: the id lets a request find its row by primary key (no
    cross-tenant index on the hash is needed), the hash comparison proves the secret.
    """

    __tablename__ = "core_api_token"
    __table_args__ = (Index(None, "tenant_id", "user_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("core_user.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(120), default="")
    secret_hash: Mapped[str] = mapped_column(String(64))
    hint: Mapped[str] = mapped_column(String(16), default="")  # last characters, to tell tokens apart
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    user: Mapped[User] = relationship(lazy="joined")

    @property
    def active(self) -> bool:
        return self.revoked_at is None
