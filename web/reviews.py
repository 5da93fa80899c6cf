"""Deciding an exhibitor's application: the dashboard's JSON API and the moderators' page both do it so."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from booths.engagement import notify
from booths.exhibition import applications
from booths.exhibition.models import Application
from cloudexpo.permissions import Principal
from web.context import notifier


async def decide_application(
    request: Request, session: AsyncSession, who: Principal, application_id: int, action: str, reason: Any = None
) -> Application:
    """Approve or reject, commit, then tell the applicant (in-app and by e-mail)."""
    batch = notifier(request).batch()
    if action == "approve":
        application = await applications.approve(session, who, application_id)
    else:
        application = await applications.reject(session, who, application_id, reason)
    if batch is not None:
        await notify.application_decided(batch, session, application)
    await session.commit()
    if batch is not None:
        await batch.deliver(session)
    request.app.state.principal_cache.forget(application.user_id)
    return application
