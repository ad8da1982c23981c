"""What every CLI command shares: the settings and the app, built only when a command needs them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from postdesk.gateway.logs import configure_logging
from postdesk.gateway.settings import Settings, load_settings

if TYPE_CHECKING:
    from postdesk.gateway.app import App


class Context:
    """Settings and the app, built on first use so ``--help`` needs neither."""

    def __init__(self, config: Path | None, *, verbose: bool = False) -> None:
        self.config = config
        self.verbose = verbose
        self._settings: Settings | None = None
        self._app: App | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.config)
            if self._settings.log_json:
                configure_logging(json=True, verbose=self.verbose)
        return self._settings

    @property
    def app(self) -> App:
        if self._app is None:
            from postdesk.gateway.app import App

            self._app = App(self.settings)
        return self._app


pass_ctx = click.make_pass_decorator(Context)
