"""The curator page in a real browser against a real `course-skills serve` process.

Headless Chromium from Debian's package (/usr/bin/chromium), driven by Playwright; no browser is
downloaded. Without Chromium the tests are skipped, unless COURSE_SKILLS_REQUIRE_BROWSER=1 (as in
CI), where a missing browser fails. One served process serves the whole module; each test works
on its own course texts or under its own curator names, so that their verdicts stay apart.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from langchain_course_skills import (
    SkillRetriever,
    build_skill_store,
    load_esco_skills,
    load_greta,
    open_skill_store,
)
from langchain_course_skills.embeddings import E5Embeddings
from langchain_course_skills.evaluation.gold import load_gold
from langchain_course_skills.feedback import default_feedback_path
from langchain_course_skills.mapping import map_courses

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Playwright

from tests.conftest import GRETA, free_port

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
MAPPED_TOP_N = 3  # skills per course in the catalogue's map output
TOPICS = [  # 20 courses, each its own subject, so that their mapped skills differ
    "Orchestra management: plan rehearsals and concerts.",
    "Bake bread and pastries in a small bakery.",
    "Build a website with WordPress and keep it secure.",
    "Keep the accounts and the tax records of a small business.",
    "Teach adults in evening classes and assess their progress.",
    "Drive forklifts safely in a warehouse.",
    "Care for elderly people at home.",
    "Repair bicycles and e-bikes.",
    "Write press releases and talk to journalists.",
    "Grow vegetables in an organic garden.",
    "Program robots for an assembly line.",
    "Translate technical manuals from German into English.",
    "Manage a team of nurses in a hospital ward.",
    "Install solar panels on roofs.",
    "Sell insurance products to private customers.",
    "Cook for large groups in a canteen.",
    "Analyse sales data with spreadsheets.",
    "Give first aid at work.",
    "Plan trips and sell them in a travel agency.",
    "Maintain the lifts and escalators of a building.",
]


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


@pytest.fixture(scope="module")
def catalogue(
    tmp_path_factory: pytest.TempPathFactory, store_dir: Path, tiny_embeddings: E5Embeddings
) -> tuple[Path, Path]:
    """A 20-course catalogue and its real `course-skills map` output (mapped before serving)."""
    folder = tmp_path_factory.mktemp("catalogue")
    source = folder / "spring.jsonl"
    lines = [
        {"id": f"C-{n:02d}", "title": f"Course {n}", "description": text}
        for n, text in enumerate(TOPICS, start=1)
    ]
    source.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    mapped = folder / "spring-skills.jsonl"
    store = open_skill_store(tiny_embeddings, persist_directory=store_dir)
    map_courses(
        source, mapped, SkillRetriever(store=store, top_n=MAPPED_TOP_N), show_progress=False
    )
    return source, mapped


@pytest.fixture(scope="module")
def server(
    store_dir: Path,
    tiny_cross_encoder: Path,
    tmp_path_factory: pytest.TempPathFactory,
    catalogue: tuple[Path, Path],
) -> Iterator[dict[str, object]]:
    """A real `course-skills serve` on a free loopback port; yields its URL and process."""
    _browser_or_skip()
    tmp_path = tmp_path_factory.mktemp("serve")
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


def _small_catalogue(folder: Path, uri: str | None) -> Path:
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


def _browser(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


def _page(browser: Browser, url: str, curator: str | None = None) -> Page:
    """A page of its own browser context (its own storage), in English, with a curator name."""
    page = browser.new_context(viewport={"width": 1366, "height": 900}, locale="en-US").new_page()
    page.set_default_timeout(UI_TIMEOUT_MS)
    page.goto(url)
    page.select_option("#lang", "en")
    if curator is not None:
        page.fill("#curator", curator)
        page.press("#curator", "Tab")  # change: the name is remembered
    return page


def _export(store_dir: Path, out: Path, *options: str) -> list[dict[str, Any]]:
    """`course-skills feedback export` in a process of its own; the gold lines it wrote."""
    exported = subprocess.run(
        [sys.executable, "-m", "langchain_course_skills", "feedback", "export"]
        + ["--db", str(store_dir), "--out", str(out), *options],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert exported.returncode == 0, exported.stderr
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]


def _mapped_skills(mapped: Path) -> dict[str, list[str]]:
    """Course id -> the skill ids `course-skills map` proposed for it, best first."""
    records = [json.loads(line) for line in mapped.read_text(encoding="utf-8").splitlines()]
    return {r["id"]: [s["uri"] for s in r["skills"]] for r in records}


def _halve_odd_courses(mapped: Path, out: Path) -> Path:
    """A copy of a map output whose odd courses score half (tiny models score every skill ~1)."""
    records = [json.loads(line) for line in mapped.read_text(encoding="utf-8").splitlines()]
    for number, record in enumerate(records, start=1):
        for skill in record["skills"] if number % 2 else ():
            skill["similarity"] = round(skill["similarity"] / 2, 4)
    out.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return out


def _best_scores(mapped: Path) -> dict[str, float]:
    """Course id -> its best skill score as the score filter reads it (relevance, else cosine)."""
    records = [json.loads(line) for line in mapped.read_text(encoding="utf-8").splitlines()]
    return {
        r["id"]: max(
            s["relevance_score"] if s["relevance_score"] is not None else s["similarity"]
            for s in r["skills"]
        )
        for r in records
    }


def _texts(source: Path) -> dict[str, str]:
    """Course id -> its text, as `course-skills map` reads it (title, blank line, description)."""
    lines = [json.loads(line) for line in source.read_text(encoding="utf-8").splitlines()]
    return {line["id"]: f"{line['title']}\n\n{line['description']}" for line in lines}


def test_curate_a_course_in_the_browser_and_export_it_as_gold(
    server: dict[str, object], store_dir: Path, tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=UI_TIMEOUT_MS)
    url = str(server["url"])
    with sync_playwright() as playwright:
        browser = _browser(playwright)
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

        # A catalogue goes to the service for review: a course without skills is searched,
        # a mapped one shows its own, and the last course's skills are gone before it shows.
        page.set_input_files("#catalogue", str(_small_catalogue(tmp_path, second_uri)))
        page.click("#review-upload")
        expect(page.locator("#course-id-line")).to_have_text("Kurs-ID: K-1")
        expect(page.locator("#results")).to_have_attribute("aria-busy", "false")
        expect(page.locator("#course-text")).to_have_text(
            "Bakery basics\n\nBake bread and pastries."
        )
        expect(page.locator("#review-progress")).to_have_text("0 von 2 geprüft")
        page.keyboard.press("n")
        expect(page.locator("#course-id-line")).to_have_text("Kurs-ID: K-2")
        expect(skills).to_have_count(1)
        expect(skills.first.locator(".label")).to_have_text("mapped skill")
        expect(skills.first).not_to_have_attribute("data-verdict", "accepted")  # K-1's verdict
        browser.close()

    gold = tmp_path / "gold.jsonl"
    _export(store_dir, gold)
    [query] = [query for query in load_gold(gold) if query.query == COURSE]
    assert set(query.relevant) == {first_uri, second_uri}
    assert (tmp_path / "curator-page.png").stat().st_size > 10_000


def test_a_whole_catalogue_is_reviewed_by_keys_and_its_verdicts_keep_their_courses(
    server: dict[str, object], store_dir: Path, catalogue: tuple[Path, Path], tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    source, mapped = catalogue
    mapped = _halve_odd_courses(mapped, tmp_path / "scored.jsonl")  # for the score filter
    proposed, texts = _mapped_skills(mapped), _texts(source)
    # The check below tells courses apart by what was accepted and rejected on each: the
    # first skill accepted, the other two rejected.
    assert len({tuple(uris) for uris in proposed.values()}) == len(TOPICS)
    expect.set_options(timeout=UI_TIMEOUT_MS)
    added: str | None = None
    with sync_playwright() as playwright:
        browser = _browser(playwright)
        page = _page(browser, str(server["url"]), curator="ana")
        page.set_input_files("#catalogue", str(source))
        page.set_input_files("#mapped", str(mapped))
        page.click("#review-upload")
        expect(page.locator("#review-progress")).to_have_text("0 of 20 reviewed")
        skills = page.locator("#results li.skill")
        for number, course_id in enumerate(proposed, start=1):
            expect(page.locator("#course-id-line")).to_have_text(f"Course id: {course_id}")
            expect(page.locator("#review-position")).to_have_text(
                f"Course {number} of 20 · {course_id}"
            )
            expect(page.locator("#course-text")).to_have_text(texts[course_id])
            expect(skills).to_have_count(MAPPED_TOP_N)
            shown = [skills.nth(i).get_attribute("data-uri") for i in range(MAPPED_TOP_N)]
            assert shown == proposed[course_id]
            expect(skills.first).to_be_focused()
            # the selected skill's evidence is marked in the course text (a short text is
            # one passage: the whole of it)
            expect(page.locator("#evidence-mark")).to_have_text(texts[course_id])
            expect(skills.first.locator(".description")).not_to_be_empty()
            page.keyboard.press("a")
            expect(skills.nth(0)).to_have_attribute("data-verdict", "accepted")
            page.keyboard.press("r")
            expect(skills.nth(1)).to_have_attribute("data-verdict", "rejected")
            page.keyboard.press("r")
            expect(skills.nth(2)).to_have_attribute("data-verdict", "rejected")
            if number == 3:  # add a skill the mapping missed, from the taxonomy
                page.fill("#add-query", "musical staff")
                page.press("#add-query", "Enter")
                found = page.locator("#add-results button").first
                added = found.get_attribute("data-uri")
                found.click()
                expect(skills).to_have_count(MAPPED_TOP_N + 1)
                expect(skills.last).to_have_attribute("data-verdict", "accepted")
                skills.last.focus()
            if number == 5:  # back and forth: the course before shows its own verdicts
                page.keyboard.press("p")
                expect(page.locator("#course-id-line")).to_have_text("Course id: C-04")
                expect(skills.nth(0)).to_have_attribute("data-verdict", "accepted")
                page.keyboard.press("n")
                expect(page.locator("#course-id-line")).to_have_text(f"Course id: {course_id}")
                expect(skills.nth(1)).to_have_attribute("data-verdict", "rejected")
            page.keyboard.press("d")  # reviewed, on to the next course
            expect(page.locator("#review-progress")).to_have_text(f"{number} of 20 reviewed")
        expect(page.locator("#review-by")).to_have_text("Reviewed by: ana")

        page.select_option("#review-status", "open")
        expect(page.locator("#review-position")).to_have_text("No courses in this selection.")
        expect(skills).to_have_count(0)
        page.select_option("#review-status", "reviewed")
        expect(page.locator("#review-position")).to_have_text("Course 1 of 20 · C-01")

        # The score filter keeps the courses whose best skill scores at least the minimum; a
        # reload comes back to the course shown, in the same selection.
        best = _best_scores(mapped)
        minimum = sorted(best.values())[len(best) // 2]
        kept = [course_id for course_id, score in best.items() if score >= minimum]
        assert 0 < len(kept) < len(best)
        page.fill("#review-min-score", str(minimum))
        page.dispatch_event("#review-min-score", "change")
        expect(page.locator("#review-position")).to_have_text(
            f"Course 1 of {len(kept)} · {kept[0]}"
        )
        page.click("#review-next")  # the filter's field has the focus: n would be typed there
        expect(page.locator("#course-id-line")).to_have_text(f"Course id: {kept[1]}")
        page.reload()
        expect(page.locator("#review-position")).to_have_text(
            f"Course 2 of {len(kept)} · {kept[1]}"
        )
        expect(page.locator("#course-text")).to_have_text(texts[kept[1]])
        browser.close()

    gold = _export(store_dir, tmp_path / "ana.jsonl", "--curator", "ana")
    assert added is not None and added not in proposed["C-03"]
    expected = {
        course_id: {
            "query": texts[course_id],
            "relevant": uris[:1] + ([added] if course_id == "C-03" else []),
            "neg": uris[1:],
        }
        for course_id, uris in proposed.items()
    }
    assert {line["id"]: {k: line[k] for k in ("query", "relevant", "neg")} for line in gold} == (
        expected
    )
    with sqlite3.connect(default_feedback_path(store_dir)) as connection:
        stamps = connection.execute(
            "SELECT DISTINCT model, store_fingerprint FROM verdicts WHERE curator = 'ana'"
        ).fetchall()
    assert len(stamps) == 1 and all(stamps[0])  # every verdict names the model and the store


def test_two_curators_review_the_same_catalogue_at_once(
    server: dict[str, object], store_dir: Path, catalogue: tuple[Path, Path], tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    source, mapped = catalogue
    proposed, texts = _mapped_skills(mapped), _texts(source)
    url = str(server["url"])
    held = httpx.put(
        f"{url}/v1/review/catalogue",
        json={
            "catalogue": source.read_text(encoding="utf-8"),
            "mapped": mapped.read_text(encoding="utf-8"),
            "name": source.name,
        },
        timeout=60,
    )
    assert held.status_code == 200, held.text
    courses = list(proposed)[:4]
    expect.set_options(timeout=UI_TIMEOUT_MS)
    with sync_playwright() as playwright:
        browser = _browser(playwright)
        ben, cleo = _page(browser, url, curator="ben"), _page(browser, url, curator="cleo")
        for page in (ben, cleo):
            page.click("#review-resume")  # the catalogue the service holds
            expect(page.locator("#review-progress")).to_have_text("0 of 20 reviewed")
        for course_id in courses:  # one course each in turn: ben accepts, cleo rejects
            for page, key in ((ben, "a"), (cleo, "r")):
                expect(page.locator("#course-id-line")).to_have_text(f"Course id: {course_id}")
                first = page.locator("#results li.skill").first
                expect(first).to_have_attribute("data-uri", proposed[course_id][0])
                expect(first).to_be_focused()
                page.keyboard.press(key)
                expect(first).to_have_attribute(
                    "data-verdict", "accepted" if key == "a" else "rejected"
                )
                page.keyboard.press("d")
        for page in (ben, cleo):
            expect(page.locator("#review-progress")).to_have_text("4 of 20 reviewed")
        browser.close()

    # Kill the service without warning: what it answered is on disk.
    process = server["process"]
    assert isinstance(process, subprocess.Popen)
    process.kill()
    process.wait(timeout=30)
    for name, verdict in (("ben", "relevant"), ("cleo", "neg")):
        gold = _export(store_dir, tmp_path / f"{name}.jsonl", "--curator", name)
        assert [line["id"] for line in gold] == courses
        for line in gold:
            assert line["query"] == texts[line["id"]]
            assert line[verdict] == [proposed[line["id"]][0]]
            assert list(line["curators"]) == [name]
