"""The curator page in a real browser against a real `course-skills serve` process.

Headless Chromium from Debian's package (/usr/bin/chromium), driven by Playwright; no browser is
downloaded. Without Chromium the test is skipped, unless COURSE_SKILLS_REQUIRE_BROWSER=1 (as in
CI), where a missing browser fails.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from langchain_course_skills import build_skill_store, load_esco_skills, load_greta
from langchain_course_skills.embeddings import E5Embeddings
from langchain_course_skills.evaluation.gold import load_gold

from .conftest import GRETA, free_port

pytestmark = pytest.mark.integration  # a browser and a served app

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # tests run as root in CI, where Chromium's sandbox refuses to start
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
COURSE = (
    "Orchestra management for music schools. Participants learn to manage musical staff, "
    "plan rehearsals and concerts, and keep the budget of an ensemble."
)
READY_TIMEOUT_S = 180  # model loading on a busy 2-core machine
UI_TIMEOUT_MS = 60_000


def _browser_or_skip() -> None:
    if CHROMIUM.is_file():
        return
    reason = f"{CHROMIUM} is missing; install Debian's package with `apt-get install -y chromium`"
    if os.environ.get("COURSE_SKILLS_REQUIRE_BROWSER") == "1":
        pytest.fail(f"COURSE_SKILLS_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def store_dir(
    tmp_path_factory: pytest.TempPathFactory, esco_slice: Path, tiny_embeddings: E5Embeddings
) -> Path:
    db = tmp_path_factory.mktemp("browser") / "skills-db"
    documents = load_esco_skills(esco_slice) + load_greta(GRETA)
    build_skill_store(documents, tiny_embeddings, persist_directory=db, show_progress=False)
    return db


@pytest.fixture()
def server(
    store_dir: Path, tiny_cross_encoder: Path, tmp_path: Path
) -> Iterator[dict[str, object]]:
    """A real `course-skills serve` on a free loopback port; yields its URL and process."""
    _browser_or_skip()
    port = free_port()
    log = (tmp_path / "serve.log").open("w")
    command = [
        shutil.which("course-skills") or "course-skills",
        "serve",
        "--db",
        str(store_dir),
        "--reranker",
        str(tiny_cross_encoder),
        "--port",
        str(port),
    ]
    process = subprocess.Popen(
        command,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        cwd=tmp_path,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"course-skills serve did not get ready; see {tmp_path / 'serve.log'}")
            time.sleep(0.5)
        yield {"url": url, "process": process, "log": tmp_path / "serve.log"}
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=30)
        log.close()


def _catalogue(folder: Path, uri: str | None) -> Path:
    lines = [
        {"id": "K-1", "title": "Bakery basics", "description": "Bake bread and pastries."},
        {
            "id": "K-2",
            "text": "Rehearsal planning for orchestras.",
            "skills": [
                {"uri": uri, "label": "mapped skill", "taxonomy": "ESCO", "similarity": 0.8}
            ],
        },
    ]
    path = folder / "catalogue.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")
    return path


def test_curate_a_course_in_the_browser_and_export_it_as_gold(
    server: dict[str, object], store_dir: Path, tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=UI_TIMEOUT_MS)
    url = str(server["url"])
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1366, "height": 900}, locale="en-US")
        page.set_default_timeout(UI_TIMEOUT_MS)
        page.goto(url)
        page.select_option("#lang", "en")
        expect(page.locator("h1")).to_have_text("Curate course skills")
        expect(page.locator("#store-line")).to_contain_text("323 skills (ESCO 300, GRETA 23)")

        # Paste a text over the service's limit: the box keeps the first 20,000 characters
        # (as the browser cuts a paste) and the page says so.
        page.context.grant_permissions(["clipboard-read", "clipboard-write"])
        page.evaluate("text => navigator.clipboard.writeText(text)", "Kurs " * 5_000)
        page.focus("#text")
        page.keyboard.press("Control+V")
        expect(page.locator("#text-note")).to_be_visible()
        expect(page.locator("#text-note")).to_contain_text("had 25000 characters")
        assert page.eval_on_selector("#text", "area => area.value.length") == 20_000

        # Paste a text, see results.
        page.fill("#text", COURSE)
        expect(page.locator("#text-note")).to_be_hidden()
        page.fill("#top-n", "5")
        page.click("#search")
        skills = page.locator("#results li.skill")
        expect(page.locator("#results")).to_have_attribute("aria-busy", "false")
        expect(skills).to_have_count(5)
        expect(skills.first.locator(".scores")).to_contain_text("Similarity")
        # a short text is one passage: its characters 0 to len(COURSE) are the evidence
        expect(skills.first.locator(".evidence")).to_contain_text(f"characters 0–{len(COURSE)}")

        # Accept two: the first with a click, the second with the keyboard alone.
        first_uri = skills.nth(0).get_attribute("data-uri")
        second_uri = skills.nth(1).get_attribute("data-uri")
        skills.nth(0).locator("button.accept").click()
        expect(skills.nth(0)).to_have_attribute("data-verdict", "accepted")
        skills.nth(1).focus()
        page.keyboard.press("a")
        expect(skills.nth(1)).to_have_attribute("data-verdict", "accepted")
        page.keyboard.press("r")  # focus moved on to the third skill
        expect(skills.nth(2)).to_have_attribute("data-verdict", "rejected")
        expect(page.locator("#counts")).to_have_text("5 skills · 2 accepted · 1 rejected")

        # Reload: the page searches the course again and shows the stored verdicts.
        page.reload()
        expect(skills).to_have_count(5)
        expect(page.locator("#results li.skill[data-verdict=accepted]")).to_have_count(2)
        expect(page.locator("#text")).to_have_value(COURSE)

        # Download the accepted skills as JSON.
        with page.expect_download() as download_info:
            page.click("#download-json")
        downloaded = json.loads(Path(download_info.value.path()).read_text(encoding="utf-8"))
        assert [s["uri"] for s in downloaded["accepted"]] == [first_uri, second_uri]

        # German labels.
        page.select_option("#lang", "de")
        expect(page.locator("h1")).to_have_text("Kurs-Skills kuratieren")
        expect(page.locator("#counts")).to_have_text("5 Skills · 2 akzeptiert · 1 abgelehnt")
        page.screenshot(path=str(tmp_path / "curator-page.png"), full_page=True)

        # A catalogue: a course without skills is searched, a mapped one shows its own.
        page.set_input_files("#catalogue", str(_catalogue(tmp_path, second_uri)))
        expect(page.locator("#course-select option")).to_have_count(2)
        expect(page.locator("#course-id-line")).to_have_text("Kurs-ID: K-1")
        expect(page.locator("#results")).to_have_attribute("aria-busy", "false")
        expect(page.locator("#text")).to_have_value("Bakery basics\n\nBake bread and pastries.")
        page.select_option("#course-select", "1")
        expect(skills).to_have_count(1)
        expect(skills.first.locator(".label")).to_have_text("mapped skill")
        browser.close()

    # Kill the service without warning: what it answered is on disk.
    process = server["process"]
    assert isinstance(process, subprocess.Popen)
    process.kill()
    process.wait(timeout=30)
    gold = tmp_path / "gold.jsonl"
    exported = subprocess.run(
        [sys.executable, "-m", "langchain_course_skills", "feedback", "export"]
        + ["--db", str(store_dir), "--out", str(gold)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert exported.returncode == 0, exported.stderr
    queries = load_gold(gold)
    assert len(queries) == 1
    assert queries[0].query == COURSE
    assert set(queries[0].relevant) == {first_uri, second_uri}
    assert (tmp_path / "curator-page.png").stat().st_size > 10_000
