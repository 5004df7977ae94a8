"""The defects of issue 14, one test (or a few) each; the suites that keep them fixed are the
tests/test_faults_*.py, test_bad_input.py and test_concurrency.py files."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from langchain_core.documents import Document

from langchain_course_skills.cli import main
from langchain_course_skills.embeddings import E5Embeddings
from langchain_course_skills.errors import TaxonomyError
from langchain_course_skills.finetune import BiEncoderConfig, TrainingDataError, finetune_bi_encoder
from langchain_course_skills.finetune._training import STATE_FILE
from langchain_course_skills.loaders import load_esco_skills, load_skill_table
from langchain_course_skills.store import HASH_KEY, SYNC_DIGEST_KEY, sync_skill_store
from langchain_course_skills.store._chroma_http import redact, redact_url, url_secrets
from langchain_course_skills.store._faults import set_fault_hook
from langchain_course_skills.store._storage import open_embedded_client
from langchain_course_skills.store.sync import _content_hash
from tests.reliability import free_port

SECRET = "s3cr3t-T0KEN"  # noqa: S105 - a made-up token that must never be printed


def _skills(*labels: str) -> list[Document]:
    return [
        Document(id=f"S/{i}", page_content=label, metadata={"label": label})
        for i, label in enumerate(labels)
    ]


def _stored(db: Path) -> dict[str, str]:
    collection = open_embedded_client(db, write=False).get_collection("skills")
    result = collection.get()
    return dict(zip(result["ids"], result["documents"]))


# --- 1. a sync never vouches for content it did not check ------------------------------------


def test_record_cleared_by_another_writer_during_an_unchanged_run_stays_cleared(
    tmp_path: Path, tiny_embeddings: E5Embeddings
) -> None:
    db = tmp_path / "db"
    skills = _skills("Excel", "Word", "PowerPoint")
    sync_skill_store(skills, tiny_embeddings, persist_directory=db, show_progress=False)

    def another_writer_starts(point: str) -> None:
        # Between this run's look at the record and its last metadata write, another writer
        # clears the record (as every writing sync does first).
        if point == "checked":
            collection = open_embedded_client(db, write=True).get_collection("skills")
            collection.modify(metadata={**(collection.metadata or {}), SYNC_DIGEST_KEY: ""})

    set_fault_hook(another_writer_starts)
    try:
        report = sync_skill_store(
            skills, tiny_embeddings, persist_directory=db, show_progress=False
        )
    finally:
        set_fault_hook(None)

    assert report.unchanged == 3
    # The run wrote its metadata from what is stored now, not what it read when it began.
    collection = open_embedded_client(db, write=False).get_collection("skills")
    assert not (collection.metadata or {}).get(SYNC_DIGEST_KEY)


def test_skill_changed_behind_a_sync_is_written_again_before_it_records_the_sync(
    tmp_path: Path, tiny_embeddings: E5Embeddings
) -> None:
    db = tmp_path / "db"
    old, new = _skills("Excel", "Word"), _skills("Excel 365", "Word")
    sync_skill_store(old, tiny_embeddings, persist_directory=db, show_progress=False)
    changed = []

    def other_version_lands(point: str) -> None:
        # After this run wrote "Excel 365", another writer puts back the old version.
        if point == "written" and not changed:
            changed.append(point)
            collection = open_embedded_client(db, write=True).get_collection("skills")
            collection.upsert(
                ids=["S/0"],
                embeddings=tiny_embeddings.embed_documents(["Excel"]),  # type: ignore[arg-type]
                documents=["Excel"],
                metadatas=[{"label": "Excel", HASH_KEY: _content_hash(old[0])}],
            )

    set_fault_hook(other_version_lands)
    try:
        sync_skill_store(new, tiny_embeddings, persist_directory=db, show_progress=False)
    finally:
        set_fault_hook(None)

    assert changed and _stored(db) == {"S/0": "Excel 365", "S/1": "Word"}
    again = sync_skill_store(new, tiny_embeddings, persist_directory=db, show_progress=False)
    assert again.unchanged == 2  # and the record it left is true


# --- 4. input messages that do not mislead ----------------------------------------------------


def test_semicolon_and_tab_separated_tables_are_read(tmp_path: Path) -> None:
    for name, separator in (("semicolon.csv", ";"), ("tab.csv", "\t")):
        file = tmp_path / name
        file.write_text(f"id{separator}label\nD1{separator}Excel, Word\n", encoding="utf-8")
        assert [d.page_content for d in load_skill_table(file, taxonomy="T")] == ["Excel, Word"]


def test_semicolon_separated_esco_export_is_detected_by_index(
    tmp_path: Path, esco_slice: Path, capsys: pytest.CaptureFixture[str], tiny_bi_encoder: Path
) -> None:
    import csv

    semicolon = tmp_path / "skills_de.csv"
    with (
        esco_slice.open(encoding="utf-8", newline="") as source,
        semicolon.open("w", encoding="utf-8", newline="") as target,
    ):
        csv.writer(target, delimiter=";").writerows(list(csv.reader(source))[:21])
    status = main(
        ["index", str(semicolon), "--db", str(tmp_path / "db"), "--model", str(tiny_bi_encoder)]
    )
    assert status == 0, capsys.readouterr().err
    assert "20 skills (esco)" in capsys.readouterr().out


def test_overlong_cell_names_its_line_and_the_quote_not_the_encoding(tmp_path: Path) -> None:
    file = tmp_path / "skills.csv"
    file.write_text("id,label\nD1,Excel\nD2," + "x" * 1_000_000 + "\n", encoding="utf-8")
    with pytest.raises(TaxonomyError, match=r"line 3: .*quote") as caught:
        load_skill_table(file, taxonomy="T")
    assert "UTF-8" not in str(caught.value)


def test_nul_byte_is_refused_with_its_line(tmp_path: Path) -> None:
    file = tmp_path / "skills.csv"
    file.write_bytes(b"id,label\nD1,Excel\nD2,Wo\x00rd\n")
    with pytest.raises(TaxonomyError, match="line 3: contains a NUL byte"):
        load_skill_table(file, taxonomy="T")


def test_label_of_ten_thousand_characters_is_refused(tmp_path: Path) -> None:
    file = tmp_path / "skills.jsonl"
    file.write_text('{"id": "D1", "label": "' + "x" * 10_000 + '"}\n', encoding="utf-8")
    with pytest.raises(TaxonomyError, match="line 1: the label .* 10,000 characters"):
        load_skill_table(file, taxonomy="T")


def test_crlf_copy_of_a_taxonomy_changes_no_skill(
    tmp_path: Path, esco_slice: Path, tiny_embeddings: E5Embeddings
) -> None:
    crlf = tmp_path / "skills_crlf.csv"
    crlf.write_bytes(esco_slice.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
    lf, converted = load_esco_skills(esco_slice), load_esco_skills(crlf)
    db = tmp_path / "db"
    sync_skill_store(lf, tiny_embeddings, persist_directory=db, show_progress=False)
    report = sync_skill_store(converted, tiny_embeddings, persist_directory=db, show_progress=False)
    # The slice's alt labels span lines inside quoted cells, which CRLF changed before.
    assert any("\n" in d.metadata["alt_labels"] for d in lf)
    assert report.skills == len(lf)
    assert (report.added, report.updated, report.unchanged) == (0, 0, report.total)


# --- 5. secrets ----------------------------------------------------------------------------------


def test_url_and_token_secrets_are_masked() -> None:
    assert redact_url(f"http://user:{SECRET}@host:8000") == "http://user:***@host:8000"
    assert redact_url(f"http://{SECRET}@host") == "http://***@host"
    text = f"Bearer {SECRET} at http://user:{SECRET}@host"
    assert SECRET not in redact(text, url_secrets(f"http://user:{SECRET}@host", SECRET))


@pytest.mark.parametrize("where", ["url", "token"])
def test_cli_errors_never_print_the_token(capsys: pytest.CaptureFixture[str], where: str) -> None:
    dead = f"127.0.0.1:{free_port()}"
    if where == "url":
        argv = ["info", "--chroma-url", f"http://user:{SECRET}@{dead}"]
    else:
        argv = ["info", "--chroma-url", f"http://{dead}", "--chroma-token", SECRET]
    assert main([*argv, "--chroma-timeout", "5"]) == 1
    captured = capsys.readouterr()
    assert SECRET not in captured.out + captured.err
    assert "cannot reach the Chroma server" in captured.err


class _Payload:
    """Unpickling it would create a file: what a hostile checkpoint could do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (Path.write_text, (str(self.marker), "pwned"))  # type: ignore[return-value]


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_resume_loads_tensors_only_and_refuses_a_pickled_object(
    tmp_path: Path, tiny_bi_encoder: Path, esco_slice: Path
) -> None:
    skills = load_esco_skills(esco_slice)
    config = BiEncoderConfig(
        learning_rate=1e-3, batch_size=8, max_pairs=20, epochs=2, precision="fp32", holdout=0
    )
    out = tmp_path / "model"
    finetune_bi_encoder(
        tiny_bi_encoder, out, skills, config=config, stop_after=1, show_progress=False
    )
    state_file = out / "checkpoint" / STATE_FILE
    marker = tmp_path / "marker"
    state = torch.load(state_file, weights_only=True)
    torch.save({**state, "extra": _Payload(marker)}, state_file)

    with pytest.raises(TrainingDataError, match="cannot be loaded as tensors"):
        finetune_bi_encoder(
            tiny_bi_encoder, out, skills, config=config, resume=True, show_progress=False
        )
    assert not marker.exists()


# --- 6. a closed pipe -----------------------------------------------------------------------------
