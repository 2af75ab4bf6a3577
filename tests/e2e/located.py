"""Elements that find themselves again after the page redraws them.

The console redraws parts of the page whenever the server pushes news (a new message, an agent's status,
knowledge-base suggestions arriving). An element found a moment before may then be gone, replaced by an
identical new one, and reading it raises StaleElementReferenceException: a race in the test, not a fault of
the page. Like Playwright's locators, an element found by the driver here remembers how it was found and, when
stale, is found again by the same locator and the read retried. What the test reads is always the page's
current element; if the element is gone for good, the test fails with NoSuchElementException.

Lists (`find_elements`) are not relocated (the n-th element of a redrawn list may be another one): tests read
lists in one go with `texts()` / `attributes()`.
"""
from __future__ import annotations

import functools
from typing import List, Optional, Tuple

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.remote.webelement import WebElement

RETRIES = 5


def _relocating(method):
    @functools.wraps(method)
    def call(self: "LocatedElement", *args, **kwargs):
        for attempt in range(RETRIES):
            try:
                return method(self, *args, **kwargs)
            except StaleElementReferenceException:
                if self.locator is None or attempt == RETRIES - 1:
                    raise
                self._id = self.parent.find_element(*self.locator).id
        raise AssertionError("unreachable")
    return call


class LocatedElement(WebElement):
    locator: Optional[Tuple[str, str]] = None

    # Commands go through _execute; these four read through execute_script instead.
    _execute = _relocating(WebElement._execute)
    is_displayed = _relocating(WebElement.is_displayed)
    get_attribute = _relocating(WebElement.get_attribute)
    get_property = _relocating(WebElement.get_property)
    submit = _relocating(WebElement.submit)


class Chromium(webdriver.Chrome):
    _web_element_cls = LocatedElement

    def find_element(self, by="id", value=None) -> WebElement:
        element = super().find_element(by, value)
        if isinstance(element, LocatedElement):
            element.locator = (by, value)
        return element


def texts(driver, css: str) -> List[str]:
    """The text of each element matching `css`, read in one go (a redraw cannot come in between)."""
    return driver.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0]), e => e.textContent)", css)


def attributes(driver, css: str, name: str) -> List[Optional[str]]:
    """An attribute (or, for `value`, the live property) of each element matching `css`, read in one go."""
    return driver.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0]),"
        " e => arguments[1] === 'value' ? e.value : e.getAttribute(arguments[1]))", css, name)
