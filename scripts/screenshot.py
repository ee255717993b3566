"""Regenerate results/serve_screenshot.png: the ``tommer serve`` page in headless Chromium.

    python scripts/screenshot.py [--model smollm2-135m] [--text "..."] [--out results/serve_screenshot.png]

Needs Debian's ``chromium`` (/usr/bin/chromium, or --chromium PATH) and the ``playwright``
package; no browser is downloaded. The server runs on a free loopback port and stops after.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m", help="shipped model name or saved directory")
    parser.add_argument("--text", default="Angela Merkel met Emmanuel Macron in Paris.")
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--decoding", default="threshold")
    parser.add_argument("--out", default=str(ROOT / "results" / "serve_screenshot.png"))
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    import tommer
    from tommer.integrations.server import HEADLESS_CHROMIUM_ARGS, BackgroundServer, create_app

    detector = tommer.load(args.model)
    with BackgroundServer(create_app(detector, args.model)) as server, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=args.chromium, args=HEADLESS_CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(server.url + "/")
            page.uncheck("#auto")
            page.locator("#text").press_sequentially(args.text, delay=5)
            page.locator("#threshold").fill(str(args.threshold))
            page.select_option("#decoding", args.decoding)
            page.click("#detect")
            page.wait_for_selector('body[data-state="done"]', timeout=120_000)
            out = Path(args.out)
            out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out), full_page=True)
            marks = page.eval_on_selector_all(
                "#result .tm-text mark.tm-pred", "els => [...new Set(els.map(e => e.dataset.text))]"
            )
        finally:
            browser.close()
    print(f"wrote {out}; highlighted: {', '.join(marks) or '(nothing)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
