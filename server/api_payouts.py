"""The signed-in user's payout account.

    POST /api/me/payout-account           open one (or get a fresh onboarding link)
    GET  /api/me/payout-account           its state, from ``account.updated``
    GET  /api/me/payout-account/refresh   the account link's refresh URL: a new link, 302

With the sandbox the account is ready at once and there is no link. With Stripe the answer
carries ``onboarding_url``, a single-use account link: it goes to the browser only and is
never logged. Nobody reads or opens another user's account: every route acts on the caller.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from payments.errors import ProviderError
from payments.payout_accounts import PayoutAccount, not_ready_reason
from server.api_ledger import party_of
from server.api_sandbox import BadGateway
from server.auth import require_user
from server.httputil import json_response
from server.keys import SERVICES
from server.services import Services

RETURN_PATH = "/earnings?onboarding=done"
REFRESH_PATH = "/api/me/payout-account/refresh"


def account_wire(party: str, account: PayoutAccount | None) -> dict[str, Any]:
    if account is None:
        return {"party": party, "account": None, "ready": False, "reason": not_ready_reason(None)}
    return {"party": party, "account": {"provider": account.provider, "id": account.account_id},
            "ready": account.ready, "charges_enabled": account.charges_enabled,
            "payouts_enabled": account.payouts_enabled, "details_submitted": account.details_submitted,
            "requirements_due": list(account.requirements_due), "reason": account.reason}


async def _link(services: Services, account: PayoutAccount) -> str | None:
    if account.ready:
        return None
    base = services.settings.base_url
    try:
        return await services.rail.onboarding_link(account.account_id, base + REFRESH_PATH, base + RETURN_PATH)
    except ProviderError as exc:
        raise BadGateway(str(exc), "provider_failed") from None


async def open_account(request: web.Request) -> web.Response:
    user = await require_user(request)
    services: Services = request.app[SERVICES]
    party = party_of(user.user_id)
    account = await services.payout_accounts.get(party)
    created = account is None
    if account is None:
        try:
            opened = await services.rail.open_account(party, None)
        except ProviderError as exc:
            raise BadGateway(str(exc), "provider_failed") from None
        account = await services.payout_accounts.add(party, services.rail.name, opened.account_id, opened.ready,
                                                     opened.requirements_due)
    body = account_wire(party, account)
    body["onboarding_url"] = await _link(services, account)
    return json_response(body, status=201 if created else 200)


async def get_account(request: web.Request) -> web.Response:
    user = await require_user(request)
    services: Services = request.app[SERVICES]
    party = party_of(user.user_id)
    return json_response(account_wire(party, await services.payout_accounts.get(party)))


async def refresh_link(request: web.Request) -> web.Response:
    user = await require_user(request)
    services: Services = request.app[SERVICES]
    account = await services.payout_accounts.get(party_of(user.user_id))
    url = await _link(services, account) if account is not None else None
    raise web.HTTPFound(url or RETURN_PATH)


def setup(app: web.Application) -> None:
    app.router.add_post("/api/me/payout-account", open_account)
    app.router.add_get("/api/me/payout-account", get_account)
    app.router.add_get(REFRESH_PATH, refresh_link)
