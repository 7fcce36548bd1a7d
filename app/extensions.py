"""Every extension, created unbound here and bound to an app in ``create_app``.

Importing this module connects to nothing: the database engine is made by ``init_app``
and the chain is opened on first use by :class:`ChainExtension`.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from flask import Flask, current_app
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect

from app.database import Base

if TYPE_CHECKING:
    from ledger.chain import Chain

db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()


class ChainExtension:
    """One lazily opened chain connection per app, shared by every thread.

    ``chain.get()`` connects with ``ledger.chain.connect(app.config["CHAIN_URL"])`` the
    first time it is called and returns the same connection afterwards.  A failed
    connect is not cached: the next call tries again, so a node that comes back is
    picked up without a restart.  Connect errors (``ChainUnavailableError``,
    ``ChainLockedError``) propagate to the caller.
    """

    _KEY = "ledgerline.chain"

    def init_app(self, app: Flask) -> None:
        app.extensions[self._KEY] = _ChainState(app.config["CHAIN_URL"])

    def _state(self, app: Flask | None = None) -> _ChainState:
        target = app if app is not None else current_app
        try:
            state: _ChainState = target.extensions[self._KEY]
        except KeyError:
            raise RuntimeError("the chain extension is not initialised; use create_app()") from None
        return state

    def get(self, app: Flask | None = None) -> Chain:
        """The app's chain connection, opened on first use."""
        state = self._state(app)
        with state.lock:
            if state.chain is None:
                from ledger.chain import connect

                state.chain = connect(state.url)
            return state.chain

    def is_connected(self, app: Flask | None = None) -> bool:
        return self._state(app).chain is not None

    def url(self, app: Flask | None = None) -> str:
        return self._state(app).url

    def close(self, app: Flask | None = None) -> None:
        """Close the connection (releasing an embedded chain's lock), if one is open."""
        state = self._state(app)
        with state.lock:
            if state.chain is not None:
                chain, state.chain = state.chain, None
                chain.close()


class _ChainState:
    def __init__(self, url: str) -> None:
        self.url = url
        self.chain: Chain | None = None
        self.lock = threading.Lock()


chain = ChainExtension()
