"""Debian's chromium driven by Selenium through /usr/bin/chromedriver — no browser download, ever."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from tests.conftest import IN_CI, ROOT

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,1800",
)
ARTIFACTS = ROOT / "tests" / "artifacts"


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(reason + " (CI=true: .ci/run installs chromium and chromium-driver)")
    pytest.skip(reason + ": apt-get install -y chromium chromium-driver")


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> Iterator["object"]:
    """A headless chromium session (selenium WebDriver)."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        _unavailable("Debian's chromium/chromedriver not installed")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _unavailable("selenium not installed (pip install -e '.[test]')")
    monkeypatch.setenv("SE_OFFLINE", "true")  # Selenium Manager must never fetch a driver or a browser
    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def save_screenshot(driver: "object", tmp_path: Path, name: str) -> Path:
    """PNG under the test's tmp dir and tests/artifacts/ (ignored by git) for people to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    png = driver.get_screenshot_as_png()  # type: ignore[attr-defined]
    for folder in (tmp_path, ARTIFACTS):
        (folder / name).write_bytes(png)
    return ARTIFACTS / name


__all__ = ["browser", "save_screenshot"]
