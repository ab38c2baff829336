"""Who is calling: an API key (`authorization: Bearer pk_…`) or a dashboard session.

The gateway turns the dashboard's HttpOnly session cookie into `x-phonos-session` metadata and the
page's X-CSRF-Token header into `x-phonos-csrf`. An Authorization header always wins over a cookie.
State-changing rpcs (every rpc whose HTTP rule is not a GET) made with a session must carry the
session's CSRF token; API-key requests need none (a browser never attaches a bearer key on its own).
"""

from __future__ import annotations

from collections.abc import Mapping

from jobservice.accounts import Accounts, Principal
from jobservice.errors import Unauthenticated
from jobservice.sessions import SessionInfo, Sessions

SESSION_METADATA = "x-phonos-session"
CSRF_METADATA = "x-phonos-csrf"


class Authenticator:
    def __init__(self, accounts: Accounts, sessions: Sessions, *, session_rate_limit: int) -> None:
        self._accounts = accounts
        self._sessions = sessions
        self._session_rate_limit = session_rate_limit

    async def authenticate(self, metadata: Mapping[str, str], *, state_changing: bool,
                           client_address: str | None = None) -> Principal:
        authorization = metadata.get("authorization")
        token = metadata.get(SESSION_METADATA)
        if authorization or not token:
            return await self._accounts.authenticate(authorization)
        info = await self.session(metadata, state_changing=state_changing, client_address=client_address)
        # Each session has its own rate-limit budget (the dashboard polls while jobs run).
        return Principal(account_id=info.account_id, key_hash=f"session:{info.token_hash}",
                         rate_limit=self._session_rate_limit, expires_at=info.expires_at)

    async def session(self, metadata: Mapping[str, str], *, state_changing: bool,
                      client_address: str | None = None) -> SessionInfo:
        """The session of the call's cookie; `client_address` (the caller's, as the edge determined it) is kept
        as the session's last address for the "Signed in" list."""
        token = metadata.get(SESSION_METADATA)
        if not token:
            raise Unauthenticated("Not signed in to the dashboard.")
        return await self._sessions.authenticate(token, csrf=metadata.get(CSRF_METADATA),
                                                 state_changing=state_changing, client_address=client_address)
