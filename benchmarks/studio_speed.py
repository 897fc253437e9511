"""How fast the Idol Studio is in a real browser: milliseconds per idol in the page's Web Worker,
the time from opening the page to its first idol, and the size of the exported site.

::

    python benchmarks/studio_speed.py                       # the bundled model, headless Chromium
    python benchmarks/studio_speed.py --screenshot docs/img/studio.png

Needs Selenium and Debian's Chromium (``apt-get install -y chromium chromium-driver``). The
site is served from 127.0.0.1 by the studio's own server. Each page load is a fresh tab with
nothing cached (the server sends ``no-store``); the first-idol time is the page's own
``performance.mark("first-idol")``, measured from the start of navigation. The per-idol time
comes from a second worker started in the page, drawing one idol per message as the page does,
after ``--warmup`` idols (the JIT's first passes); the median is quoted.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from minigan import cli
from minigan.studio.site import SITE_FILES, StudioServer

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"

DRAW_IN_A_WORKER = """
const [n, warmup, done] = arguments;
const worker = new Worker("worker.js");
const times = [];
let asked = 0;
function ask() { worker.postMessage({type: "draw", id: asked++, noises: [Float32Array.from({length: 100}, () => Math.random() * 2 - 1)]}); }
worker.onmessage = (event) => {
  const m = event.data;
  if (m.type === "loaded") { ask(); return; }
  if (m.type === "error") { done({error: m.message}); return; }
  if (asked > warmup) times.push(m.ms);
  if (asked < n + warmup) ask(); else { worker.terminate(); done({times}); }
};
worker.postMessage({type: "load"});
"""


def cpu_name() -> str:
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--checkpoint", default="pretrained")
    parser.add_argument("--loads", type=int, default=7, help="page loads for the first-idol time")
    parser.add_argument("--idols", type=int, default=30, help="idols timed in the worker")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--screenshot", default=None, help="also save a screenshot of the page here")
    args = parser.parse_args(argv)

    from selenium import webdriver  # noqa: PLC0415 (an optional dependency, for this script only)
    from selenium.webdriver.chrome.service import Service  # noqa: PLC0415 (the same)

    with tempfile.TemporaryDirectory() as tmp:
        sizes = {}
        for precision in ("float32", "float16"):
            folder = Path(tmp) / precision
            assert cli.main(["studio", "--checkpoint", args.checkpoint, "--export", str(folder),
                             "--precision", precision]) == 0
            sizes[precision] = {name: (folder / name).stat().st_size for name in SITE_FILES + ("model.json", "model.bin")}
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,900"):
            options.add_argument(argument)
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        driver.set_script_timeout(600)
        try:
            with StudioServer(Path(tmp) / "float16", port=0) as server:
                first = []
                for _ in range(args.loads):
                    driver.get("about:blank")
                    driver.get(server.url)
                    deadline = time.monotonic() + 60
                    while driver.execute_script("return document.body.dataset.ready") != "1":
                        if time.monotonic() > deadline:
                            sys.exit("the page did not draw an idol within 60 s")
                        time.sleep(0.02)
                    first.append(driver.execute_script(
                        "return performance.getEntriesByName('first-idol')[0].startTime"))
                result = driver.execute_async_script(DRAW_IN_A_WORKER, args.idols, args.warmup)
                if "error" in result:
                    sys.exit(f"the worker failed: {result['error']}")
                if args.screenshot:
                    time.sleep(2)  # the variations and shelves
                    driver.save_screenshot(args.screenshot)
            version = driver.capabilities.get("browserVersion", "?")
        finally:
            driver.quit()

    times = result["times"]
    report = {
        "cpu": cpu_name(), "browser": f"Chromium {version} (headless)",
        "ms_per_idol": {"median": round(statistics.median(times), 1), "min": round(min(times), 1),
                        "max": round(max(times), 1), "idols": len(times)},
        "first_idol_ms": {"median": round(statistics.median(first)), "min": round(min(first)),
                          "max": round(max(first)), "loads": len(first)},
        "export_bytes": {p: sum(s.values()) for p, s in sizes.items()},
        "model_bin_bytes": {p: s["model.bin"] for p, s in sizes.items()},
    }
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
