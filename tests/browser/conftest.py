"""A real browser for the page: headless Chromium driven by selenium, never downloading anything.

Debian's ``chromium`` and ``chromium-driver`` are given to selenium by path, so
that its "Selenium Manager" never runs (``SE_MANAGER_PATH`` points nowhere to
make any fall-back to it fail loudly).  Each browser gets a fresh profile;
chromedriver runs in a process group of its own, killed at the end (quitting
the driver alone can leave Chromium's processes behind).  Without the browser
the tests are skipped, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
#: Flags that make headless Chromium start fast, quietly and offline, as root too.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-dev-shm-usage",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-sync",
    "--disable-component-update",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
    "--window-size=1100,720",
)
QUIT_SECONDS = 5.0


def _missing() -> str | None:
    if importlib.util.find_spec("selenium") is None:
        return "selenium is not installed (pip install '.[test]')"
    for program, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if shutil.which(program) is None:
            return f"{program} is missing (apt-get install {package})"
    return None


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    """One headless Chromium for a test module; a test opens the windows it needs."""
    reason = _missing()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI needs the browser: {reason}")
        pytest.skip(reason)
    from selenium import webdriver  # noqa: PLC0415 - only once it is known to be there
    from selenium.webdriver.chrome.service import Service  # noqa: PLC0415

    home = tmp_path_factory.mktemp("chromium")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={home / 'profile'}")
    options.add_experimental_option(
        "prefs", {"session.restore_on_startup": 4, "session.startup_urls": ["about:blank"]}
    )
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # the page's console, for script errors
    service = Service(
        executable_path=CHROMEDRIVER,
        log_output=str(home / "chromedriver.log"),
        env={**os.environ, "XDG_CONFIG_HOME": str(home / "config")},
        popen_kw={"start_new_session": True},
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SE_MANAGER_PATH", "/nonexistent")  # a fall-back to Selenium Manager fails loudly
        driver = webdriver.Chrome(service=service, options=options)
    try:
        yield driver
    finally:
        quitting = threading.Thread(target=driver.quit, daemon=True)
        quitting.start()
        quitting.join(QUIT_SECONDS)
        process = service.process
        if process is not None:
            with contextlib.suppress(ProcessLookupError):  # chromedriver's group: Chromium's processes too
                os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    """Where a test saves its screenshots (printed, so that a person can look at them)."""
    return tmp_path
