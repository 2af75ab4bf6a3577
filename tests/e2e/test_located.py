"""The browser tests' elements find themselves again after a redraw (tests/e2e/located.py)."""
from __future__ import annotations

import pytest
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement

from tests.e2e.located import attributes, texts

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

PAGE = """data:text/html;charset=utf-8,<div id="box"></div><script>
let n = 0;
function draw() {
  n += 1;
  const p = document.createElement("p");
  p.id = "title"; p.className = "t"; p.dataset.n = String(n); p.textContent = "辅助";
  document.getElementById("box").replaceChildren(p);
}
draw();
window.redraw = draw;
</script>"""


def test_an_element_redrawn_after_it_was_found_is_read_again(browser):
    browser.get(PAGE)
    title = browser.find_element(By.ID, "title")
    browser.execute_script("window.redraw()")
    assert title.text == "辅助"
    browser.execute_script("window.redraw()")
    assert title.is_displayed()
    browser.execute_script("window.redraw()")
    assert title.get_attribute("data-n") == "4"  # the current element, not the one first found


def test_a_plain_webdriver_element_goes_stale_on_the_same_page(browser):
    """The race the relocation answers is real: a plain element found before the redraw cannot be read."""
    browser.get(PAGE)
    plain = WebElement(browser, browser.find_element(By.ID, "title").id)
    browser.execute_script("window.redraw()")
    with pytest.raises(StaleElementReferenceException):
        _ = plain.text


def test_an_element_that_is_gone_fails_the_read(browser):
    browser.get(PAGE)
    title = browser.find_element(By.ID, "title")
    browser.execute_script("document.getElementById('box').replaceChildren()")
    with pytest.raises(NoSuchElementException):
        _ = title.text


def test_lists_are_read_in_one_go(browser):
    browser.get(PAGE)
    browser.execute_script("document.getElementById('box').innerHTML = '<i class=q>a</i><i class=q>b</i>'")
    assert texts(browser, "#box .q") == ["a", "b"]
    browser.execute_script("document.querySelector('#box .q').dataset.k = 'x'")
    assert attributes(browser, "#box .q", "data-k") == ["x", None]
