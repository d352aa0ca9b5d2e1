"""The learning-company register, as far as reporting needs it: finding a company."""

from __future__ import annotations

import sqlalchemy as sa

from .extensions import db
from .models import Company

SEARCH_LIMIT = 10


def search(query: str, limit: int = SEARCH_LIMIT) -> list[Company]:
    """Companies whose name or city contains the words typed, or whose KvK number matches."""
    words = [w for w in query.lower().split() if w][:5]
    if not words:
        return []
    select = sa.select(Company)
    for word in words:
        pattern = f"%{word}%"
        select = select.where(
            sa.or_(
                sa.func.lower(Company.name).like(pattern),
                sa.func.lower(Company.city).like(pattern),
                Company.kvk == word,
            )
        )
    return db.session.scalars(select.order_by(Company.name).limit(limit)).all()


def get(company_id: int | None) -> Company | None:
    return db.session.get(Company, company_id) if company_id else None
