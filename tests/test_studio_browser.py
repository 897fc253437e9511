"""The Idol Studio in a real headless browser: Debian's Chromium, driven by Selenium through the
packaged chromium-driver (.ci/run installs both). Without them these tests skip, saying why.

The page's contract: ``<canvas id="idol">`` holds the current idol at the model's resolution,
and ``document.body.dataset.ready`` is ``"1"`` once what the fragment describes is drawn. Every
check compares the canvas with what ``python -m minigan sample --link`` draws with NumPy for the
same fragment (at most 2/255 apart on average; measured when written: identical pixels).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from minigan import cli
from minigan.checkpoint import PRETRAINED, load_generator
from minigan.latent import bundled_vectors
from minigan.studio.site import StudioServer
from minigan.studio.web import model_id

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e '.[dev]')")
if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
    pytest.skip("no Chromium: apt-get install -y chromium chromium-driver (as .ci/run does)", allow_module_level=True)

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("cache")]
TIMEOUT = 60  # seconds for one drawing to finish on a busy 2-core machine (it takes about 0.1 s)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    folder = tmp_path_factory.mktemp("studio") / "site"
    assert cli.main(["studio", "--checkpoint", PRETRAINED, "--export", str(folder)]) == 0
    return folder


@pytest.fixture(scope="module")
def browser(site, tmp_path_factory):
    from selenium.webdriver.chrome.service import Service

    downloads = tmp_path_factory.mktemp("downloads")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    with StudioServer(site, port=0) as server:
        driver.studio_url, driver.downloads = server.url, downloads
        yield driver
    driver.quit()


def wait_ready(driver, changed_from: str | None = None) -> str:
    """Wait until the page has drawn what its fragment describes (and, given ``changed_from``, the
    fragment is another one); returns the fragment."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        ready, fragment = driver.execute_script("return [document.body.dataset.ready, location.hash.slice(1)]")
        if ready == "error":
            pytest.fail("the page reports an error: " + driver.find_element("id", "status").text)
        if ready == "1" and fragment and fragment != changed_from:
            return fragment
        time.sleep(0.05)
    pytest.fail(f"the page did not finish drawing in {TIMEOUT} s: {driver.find_element('id', 'status').text}")


def canvas_pixels(driver, canvas_id="idol") -> np.ndarray:
    data = driver.execute_script(f"""
        const c = document.getElementById("{canvas_id}");
        return [c.width, c.height, Array.from(c.getContext("2d").getImageData(0, 0, c.width, c.height).data)];""")
    width, height, rgba = data
    return np.asarray(rgba, np.uint8).reshape(height, width, 4)[..., :3]


def numpy_pixels(fragment: str, tmp_path: Path) -> np.ndarray:
    out = tmp_path / f"link_{abs(hash(fragment))}.png"
    assert cli.main(["sample", "--checkpoint", PRETRAINED, "--link", "#" + fragment, "--out", str(out)]) == 0
    return np.asarray(Image.open(out).convert("RGB"))


def assert_same_idol(page: np.ndarray, numpy_: np.ndarray) -> None:
    assert page.shape == numpy_.shape == (64, 64, 3)
    difference = np.abs(page.astype(int) - numpy_.astype(int))
    assert difference.mean() <= 2 and difference.max() <= 8, (difference.mean(), difference.max())


def set_range(driver, selector: str, value: float, release: bool = True) -> None:
    """Move a range input as a person would: input events while dragging, change on release."""
    driver.execute_script("""
        const input = document.querySelector(arguments[0]);
        input.value = arguments[1];
        input.dispatchEvent(new Event("input", {bubbles: true}));
        if (arguments[2]) input.dispatchEvent(new Event("change", {bubbles: true}));""", selector, value, release)


def click(driver, element_id: str) -> None:
    driver.find_element("id", element_id).click()


def open_page(driver, fragment: str = "") -> str:
    driver.get("about:blank")  # a real load, not a hashchange
    driver.get(driver.studio_url + ("#" + fragment if fragment else ""))
    return wait_ready(driver)


def test_the_page_loads_and_draws_what_numpy_draws(browser, tmp_path):
    fragment = open_page(browser)
    G, _ = load_generator(PRETRAINED)
    assert fragment.startswith(f"v=1&m={model_id(G)}&z=")
    page = canvas_pixels(browser)
    assert page.std() > 10  # an idol, not a blank canvas
    assert_same_idol(page, numpy_pixels(fragment, tmp_path))
    assert len(browser.find_elements("css selector", "#variations canvas")) == 8 or wait_variations(browser)
    assert {e["level"] for e in browser.get_log("browser")} <= {"INFO", "DEBUG"}


def wait_variations(driver) -> bool:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if len(driver.find_elements("css selector", "#variations canvas")) == 8:
            return True
        time.sleep(0.05)
    return False


def test_new_idol_and_a_slider_change_the_idol_and_the_link_keeps_up(browser, tmp_path):
    first = open_page(browser)
    before = canvas_pixels(browser)
    click(browser, "new")
    second = wait_ready(browser, changed_from=first)
    after = canvas_pixels(browser)
    assert np.abs(after.astype(int) - before).mean() > 5
    assert_same_idol(after, numpy_pixels(second, tmp_path))

    names = browser.execute_script("return Array.from(document.querySelectorAll('#sliders input'), i => i.dataset.name)")
    assert names == list(bundled_vectors())  # one slider per vector that ships with the model
    set_range(browser, "#sliders input[data-name=blond]", 2.5)
    edited = wait_ready(browser, changed_from=second)
    assert edited.endswith("&e=blond:2.5") and edited.split("&e=")[0] == second
    blonder = canvas_pixels(browser)
    assert np.abs(blonder.astype(int) - after).mean() > 2
    assert_same_idol(blonder, numpy_pixels(edited, tmp_path))
    click(browser, "reset-sliders")
    assert wait_ready(browser, changed_from=edited) == second


def test_pin_two_idols_and_move_between_them(browser, tmp_path):
    a = open_page(browser)
    click(browser, "pin-a-button")
    click(browser, "new")
    b = wait_ready(browser, changed_from=a)
    click(browser, "pin-b-button")
    assert browser.find_element("id", "between").is_enabled()
    set_range(browser, "#between", 0.5)
    middle = wait_ready(browser, changed_from=b)
    page = canvas_pixels(browser)
    assert_same_idol(page, numpy_pixels(middle, tmp_path))
    end_a, end_b = numpy_pixels(a, tmp_path).astype(int), numpy_pixels(b, tmp_path).astype(int)
    assert np.abs(page - end_a).mean() > 2 and np.abs(page - end_b).mean() > 2  # a third idol, not an end
    set_range(browser, "#between", 0.0)
    at_a = wait_ready(browser, changed_from=middle)
    assert_same_idol(canvas_pixels(browser), end_a.astype(np.uint8))
    assert_same_idol(canvas_pixels(browser, "pin-a"), end_a.astype(np.uint8))  # the pin shows its idol
    click(browser, "play")
    wait_ready(browser, changed_from=at_a)  # playing moves along the path
    click(browser, "play")  # and stops


def test_save_writes_a_png_whose_link_draws_the_same_idol_and_reloading_the_link_does_too(browser, tmp_path):
    fragment = open_page(browser)
    set_range(browser, "#sliders input[data-name=blond]", 1.0)
    fragment = wait_ready(browser, changed_from=fragment)
    page = canvas_pixels(browser)
    for old in browser.downloads.iterdir():
        old.unlink()
    click(browser, "save")
    deadline = time.monotonic() + TIMEOUT
    while not [p for p in browser.downloads.glob("*.png")] and time.monotonic() < deadline:
        time.sleep(0.1)
    (saved,) = browser.downloads.glob("*.png")
    time.sleep(0.2)  # the download's last bytes
    with Image.open(saved) as png:
        assert png.size == (256, 256) and png.text["minigan-link"].endswith("#" + fragment)
        np.testing.assert_array_equal(np.asarray(png.convert("RGB"))[::4, ::4], page)
    out = tmp_path / "from_png.png"
    assert cli.main(["sample", "--checkpoint", PRETRAINED, "--link", str(saved), "--out", str(out)]) == 0
    assert_same_idol(page, np.asarray(Image.open(out).convert("RGB")))
    link = Image.open(saved).text["minigan-link"]
    browser.get("about:blank")
    browser.get(link)
    assert wait_ready(browser) == fragment
    np.testing.assert_array_equal(canvas_pixels(browser), page)  # the same pixels after a reload
    assert browser.find_element("css selector", "#sliders input[data-name=blond]").get_attribute("value") == "1"


def test_favourites_and_history_stay_in_the_browser(browser):
    fragment = open_page(browser)
    browser.execute_script("localStorage.clear()")
    click(browser, "favourite")
    assert browser.find_element("id", "favourite").get_attribute("aria-pressed") == "true"
    open_page(browser, fragment)
    assert len(browser.find_elements("css selector", "#favourites img")) == 1
    click(browser, "new")
    wait_ready(browser, changed_from=fragment)
    assert len(browser.find_elements("css selector", "#history img")) >= 1
    browser.find_element("css selector", "#favourites img").click()
    assert wait_ready(browser) == fragment


def test_japanese_labels_and_links_that_cannot_be_drawn_as_made(browser):
    open_page(browser)
    click(browser, "lang-ja")
    assert browser.find_element("css selector", "h1 span").text == "アイドルスタジオ"
    assert browser.find_element("css selector", "[data-vector=blond]").text == "金髪"
    click(browser, "lang-en")
    assert browser.find_element("css selector", "h1 span").text == "Idol Studio"

    open_page(browser, "v=1&z=not*base64")  # a damaged link: a notice, and a new idol
    assert "could not be read" in browser.find_element("id", "notice").text
    fragment = open_page(browser)
    other = fragment.replace(fragment.split("&")[1], "m=0123456789ab") + "&e=nosuch:1"
    open_page(browser, other)
    notice = browser.find_element("id", "notice").text
    assert "another model (0123456789ab)" in notice and "no slider nosuch" in notice
