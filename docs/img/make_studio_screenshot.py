"""The README's picture of the Idol Studio: the bundled model in headless Chromium, after a
few things a person does (two idols pinned, a point between them, the blond slider moved, one
favourite), with idols chosen by seed so that the picture is the same every time.

::

    python docs/img/make_studio_screenshot.py            # -> docs/img/studio.png
    python docs/img/make_studio_screenshot.py --lang ja  # the Japanese labels

Needs Selenium and Debian's Chromium (``apt-get install -y chromium chromium-driver``), and a
CJK font for the Japanese labels (``fonts-noto-cjk``).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from minigan import cli
from minigan.checkpoint import load_generator
from minigan.sampling import noise
from minigan.studio.link import IdolLink
from minigan.studio.site import StudioServer
from minigan.studio.web import model_id

HERE = Path(__file__).parent


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(HERE / "studio.png"))
    parser.add_argument("--lang", choices=("en", "ja"), default="en")
    parser.add_argument("--seeds", default="3,8", help="the two pinned idols: first idols of these noise seeds")
    args = parser.parse_args(argv)

    from selenium import webdriver  # noqa: PLC0415 (optional: only this script drives a browser)
    from selenium.webdriver.chrome.service import Service  # noqa: PLC0415 (the same)

    G, _ = load_generator("pretrained")
    a, b = (noise(np.random.default_rng(int(s)), 1, G.nz)[0] for s in args.seeds.split(","))
    fragment = lambda z, edits=None: IdolLink(z, edits or {}, model_id(G)).fragment()  # noqa: E731

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--window-size=1400,1000", "--hide-scrollbars"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)

    def wait():
        time.sleep(0.2)
        while driver.execute_script("return document.body.dataset.ready") != "1":
            time.sleep(0.05)
        time.sleep(1.5)  # the variations strip

    with tempfile.TemporaryDirectory() as site:
        assert cli.main(["studio", "--checkpoint", "pretrained", "--export", site]) == 0
        with StudioServer(site, port=0) as server:
            try:
                driver.get(server.url + "#" + fragment(b))
                wait()
                driver.execute_script("localStorage.clear()")
                driver.find_element("id", "lang-" + args.lang).click()
                driver.find_element("id", "pin-b-button").click()
                driver.get(server.url + "#" + fragment(a))
                wait()
                driver.find_element("id", "favourite").click()
                driver.find_element("id", "pin-a-button").click()
                driver.get(server.url + "#" + fragment(b))
                wait()
                driver.find_element("id", "pin-b-button").click()
                driver.execute_script("""const s = document.getElementById('between'); s.value = 0.4;
                                         s.dispatchEvent(new Event('change', {bubbles: true}));""")
                wait()
                driver.execute_script("""const s = document.querySelector('#sliders input[data-name=blond]'); s.value = 1.2;
                                         s.dispatchEvent(new Event('change', {bubbles: true}));""")
                wait()
                driver.execute_script("document.activeElement.blur(); window.scrollTo(0, 0)")
                time.sleep(0.3)
                driver.save_screenshot(args.out)
            finally:
                driver.quit()
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
