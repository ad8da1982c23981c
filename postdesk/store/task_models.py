"""Work attached to a ticket: linked tasks and the time estimate.

Kept apart from ``models`` so this feature owns its tables; it shares ``Base`` so Alembic and
``create_all`` see them with the rest. A task is either a link to a task in another tool
(``kind`` external: URL, title, the state that tool reports) or an internal follow-up
(``kind`` internal: open/done, an optional assignee and due date). Every change to them
writes an audit entry on the ticket (``postdesk.store.tasks``).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from postdesk.clock import utcnow
from postdesk.store.models import Agent, Base, BigId


class TicketTask(Base):
    __tablename__ = "ticket_tasks"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(10))  # external | internal
    title: Mapped[str] = mapped_column(String(200))
    url: Mapped[str | None] = mapped_column(String(2000))
    state: Mapped[str] = mapped_column(String(40), default="open")  # internal: open | done
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    due_on: Mapped[date | None] = mapped_column(Date)
    created_by: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    assignee: Mapped[Agent | None] = relationship(lazy="joined")


class TicketEstimate(Base):
    """The suggested minutes of work for a support ticket, the agents' estimate and the actual
    time spent. ``client_factor`` is the client ratio the suggestion applied, so a later
    calibration can compare the actual time with the text-only part of the suggestion."""

    __tablename__ = "ticket_estimates"
    ticket_id: Mapped[int] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True
    )
    org_id: Mapped[int | None] = mapped_column(ForeignKey("client_orgs.id"), index=True)
    requester_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"), index=True)
    suggested_minutes: Mapped[int | None] = mapped_column(Integer)
    confidence: Mapped[str | None] = mapped_column(String(10))  # High | Medium | Low
    reason: Mapped[str | None] = mapped_column(Text)
    client_factor: Mapped[float] = mapped_column(Float, default=1.0)
    agent_minutes: Mapped[int | None] = mapped_column(Integer)  # accepted or changed by an agent
    estimated_by: Mapped[str | None] = mapped_column(String(320))
    actual_minutes: Mapped[int | None] = mapped_column(Integer)
    actual_at: Mapped[datetime | None] = mapped_column(index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
