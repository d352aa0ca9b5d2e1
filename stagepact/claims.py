"""Scheduled work that acts on rows exactly once, however many runs start at the same time.

`claim` chooses the rows a job is due to act on and marks them in the same UPDATE
(with RETURNING): a second run at the same moment waits for the first's row locks, sees
the mark, and chooses none of them. A job commits its marks together with what it did
(the mail it queued, the audit event), so that a run that fails leaves nothing marked.
"""

from __future__ import annotations

import sqlalchemy as sa

from .extensions import db

BATCH = 1000


def claim(model, condition, limit: int = BATCH, **marks) -> list:
    """The rows of `model` meeting `condition` (at most `limit`, oldest first), each
    marked with `marks` in the statement that chose it; loaded with those marks."""
    chosen = sa.select(model.id).where(condition).order_by(model.id).limit(limit)
    ids = db.session.scalars(
        sa.update(model)
        .where(model.id.in_(chosen.scalar_subquery()), condition)
        .values(**marks)
        .returning(model.id)
        .execution_options(synchronize_session=False)
    ).all()
    rows = db.session.scalars(sa.select(model).where(model.id.in_(ids)).order_by(model.id)).all()
    for row in rows:
        db.session.refresh(row)  # the marks, as the UPDATE wrote them
    return list(rows)
