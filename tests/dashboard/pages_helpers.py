"""Helpers of the dashboard's browser tests (a module of its own: conftest modules are not imported)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Dialog, Page

from jobservice import admin
from tests.support import REPO, InProcessService, ServiceProcess

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--use-gl=swiftshader", "--enable-unsafe-swiftshader"]
ARTIFACTS = REPO / "artifacts" / "screenshots"
VIEWPORT = {"width": 1440, "height": 960}


@dataclass
class User:
    username: str
    password: str
    api_key: str


@dataclass
class Watched:
    """What a page did that a person would not see: script errors, CSP refusals, alert() dialogs."""

    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        return [e for e in self.errors if "Refused to" in e or e.startswith("pageerror")]


def in_process_service(name: str, env: Mapping[str, str] | None = None) -> Callable[..., Iterator[InProcessService]]:
    """A module's `service` fixture: a job service on the inference twin (no Triton, no model), with `env`
    settings, in a data directory of its own; for pages that need the API and the forms, not a model's result.
    Use as `service = in_process_service("name", {...})` at a test module's top level."""

    @pytest.fixture(scope="module")
    def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessService]:
        process = InProcessService(Path(tmp_path_factory.mktemp(name)) / "var", dict(env or {}))
        yield process
        process.stop()

    return service


def make_user(service: ServiceProcess, username: str) -> User:
    """An account with a key and a dashboard password (in a thread: Playwright's sync API owns this
    thread's event loop once a browser is open, and the admin functions are coroutines)."""

    def create() -> User:
        key = service.new_key(credits=5000, rate_limit=600, username=username)
        password = f"{username} has a long passphrase"
        asyncio.run(admin.set_password(service.settings, username=username, password=password))
        return User(username, password, key)

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(create).result()


def open_page(browser: Browser, watched: Watched | None = None, *, width: int = VIEWPORT["width"],
              user_agent: str | None = None) -> Page:
    """A page in a browser context of its own (its own cookies); `user_agent`: Chromium's own when None."""
    page = browser.new_context(viewport={"width": width, "height": VIEWPORT["height"]}, user_agent=user_agent).new_page()
    if watched is not None:
        page.on("console", lambda m: watched.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: watched.errors.append(f"pageerror: {e}"))

        def on_dialog(dialog: Dialog) -> None:
            watched.dialogs.append(dialog.message)
            dialog.dismiss()

        page.on("dialog", on_dialog)
    return page


def sign_in(browser: Browser, service: ServiceProcess | InProcessService, user: User, watched: Watched | None = None,
            *, width: int = VIEWPORT["width"], user_agent: str | None = None) -> Page:
    page = open_page(browser, watched, width=width, user_agent=user_agent)
    page.goto(f"{service.base_url}/jobs")
    page.wait_for_url("**/sign-in?next=%2Fjobs")
    page.fill("#username", user.username)
    page.fill("#password", user.password)
    page.click("form button[type=submit]")
    page.wait_for_url("**/jobs")
    return page


def shot(page: Page, name: str, *, full_page: bool = True) -> Path:
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path
