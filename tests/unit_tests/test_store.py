import shutil
from pathlib import Path

import chromadb
import pytest
from langchain_chroma import Chroma
from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_tests.integration_tests import VectorStoreIntegrationTests

from langchain_course_skills import (
    E5Embeddings,
    StoreMismatchError,
    StoreNotFoundError,
    build_skill_store,
    load_esco_skills,
    open_skill_store,
    read_store_fingerprint,
    sync_skill_store,
)
from langchain_course_skills.store import (
    HNSW_CONFIGURATION,
    collection_space,
    read_fingerprint,
    skill_collection,
    store_client,
)
from tests.support.store import _skills


class TestSkillStoreStandard(VectorStoreIntegrationTests):
    @pytest.fixture()
    def vectorstore(self, tmp_path: Path) -> Chroma:
        return build_skill_store(
            [], self.get_embeddings(), persist_directory=tmp_path / "db", show_progress=False
        )


def test_build_twice_never_duplicates_and_skips_unchanged(
    tmp_path: Path, esco_slice: Path, tiny_embeddings: E5Embeddings
) -> None:
    docs = load_esco_skills(esco_slice)

    first = sync_skill_store(docs, tiny_embeddings, persist_directory=tmp_path, show_progress=False)
    second = sync_skill_store(
        docs, tiny_embeddings, persist_directory=tmp_path, show_progress=False
    )

    # the default views store each skill as several passages; counts are of passages
    assert first.skills == second.skills == 300
    assert (first.added, first.updated, first.unchanged) == (first.total, 0, 0)
    assert (second.added, second.updated, second.unchanged, second.removed) == (
        0,
        0,
        first.total,
        0,
    )
    assert skill_collection(second.store).count() == first.total


def test_changed_skill_is_embedded_again_and_stale_ones_stay_without_prune(
    tmp_path: Path, tiny_embeddings: E5Embeddings
) -> None:
    build_skill_store(
        _skills("WordPress", "SQL", "Python"),
        tiny_embeddings,
        persist_directory=tmp_path,
        show_progress=False,
    )
    changed = _skills("WordPress", "SQL")
    changed[1].metadata["description"] = "Datenbankabfragen schreiben"

    report = sync_skill_store(
        changed, tiny_embeddings, persist_directory=tmp_path, show_progress=False
    )

    # SQL's label passage is embedded again and its new description adds a passage (the
    # default views); WordPress is unchanged, Python stays: 3 + 1 passages.
    assert (report.added, report.updated, report.unchanged, report.removed) == (1, 1, 1, 0)
    assert skill_collection(report.store).count() == 4
    stored = report.store.get_by_ids(["urn:test:SQL"])[0]
    assert stored.metadata["description"] == "Datenbankabfragen schreiben"


def test_prune_removes_skills_that_left_the_taxonomy(
    tmp_path: Path, tiny_embeddings: E5Embeddings
) -> None:
    build_skill_store(
        _skills("WordPress", "SQL", "Python"),
        tiny_embeddings,
        persist_directory=tmp_path,
        show_progress=False,
    )

    report = sync_skill_store(
        _skills("WordPress"),
        tiny_embeddings,
        persist_directory=tmp_path,
        prune=True,
        show_progress=False,
    )

    assert report.removed == 2
    assert skill_collection(report.store).count() == 1


def test_writes_more_than_the_client_batch_limit(tmp_path: Path) -> None:
    embeddings = DeterministicFakeEmbedding(size=8)
    client = chromadb.PersistentClient(path=str(tmp_path))
    docs = _skills(*(f"skill {i}" for i in range(client.get_max_batch_size() + 100)))

    store = build_skill_store(
        docs, embeddings, client=client, batch_size=10_000, show_progress=False
    )

    assert skill_collection(store).count() == len(docs)


def test_collection_uses_cosine_and_records_a_fingerprint(
    tmp_path: Path, esco_slice: Path, tiny_embeddings: E5Embeddings
) -> None:
    store = build_skill_store(
        load_esco_skills(esco_slice),
        tiny_embeddings,
        persist_directory=tmp_path,
        show_progress=False,
    )

    fingerprint = read_fingerprint(skill_collection(store))

    assert collection_space(skill_collection(store)) == "cosine"
    assert fingerprint["model"] == tiny_embeddings.model_identity
    assert fingerprint["dimension"] == 32
    assert (fingerprint["query_prefix"], fingerprint["passage_prefix"]) == ("query: ", "passage: ")
    assert fingerprint["passage_template"] == "{preferredLabel}"
    assert fingerprint["version"]
    assert fingerprint["hnsw_ef_search"] == str(HNSW_CONFIGURATION["ef_search"])


def test_any_langchain_embeddings_are_accepted(tmp_path: Path) -> None:
    store = build_skill_store(
        _skills("a b", "c d"),
        DeterministicFakeEmbedding(size=6),
        persist_directory=tmp_path,
        show_progress=False,
    )

    fingerprint = read_fingerprint(skill_collection(store))

    assert fingerprint["embeddings"].endswith("DeterministicFakeEmbedding")
    assert fingerprint["dimension"] == 6


def test_reopening_with_the_same_model_works(tmp_path: Path, tiny_embeddings: E5Embeddings) -> None:
    build_skill_store(
        _skills("WordPress"), tiny_embeddings, persist_directory=tmp_path, show_progress=False
    )

    store = open_skill_store(tiny_embeddings, persist_directory=tmp_path)

    assert store.similarity_search("WordPress Kurs", k=1)[0].id == "urn:test:WordPress"


def test_building_into_a_store_of_another_model_is_refused_and_keeps_it(
    tmp_path: Path, tiny_embeddings: E5Embeddings
) -> None:
    build_skill_store(
        _skills("WordPress", "SQL"),
        tiny_embeddings,
        persist_directory=tmp_path,
        show_progress=False,
    )

    with pytest.raises(StoreMismatchError):
        build_skill_store(
            _skills("Python"),
            DeterministicFakeEmbedding(size=32),
            persist_directory=tmp_path,
            show_progress=False,
        )

    assert (
        skill_collection(open_skill_store(tiny_embeddings, persist_directory=tmp_path)).count() == 2
    )


def test_collection_with_another_distance_is_refused(
    tmp_path: Path, tiny_embeddings: E5Embeddings
) -> None:
    client = chromadb.PersistentClient(path=str(tmp_path))
    client.create_collection(
        "skills", configuration={"hnsw": {"space": "l2"}}, embedding_function=None
    )

    with pytest.raises(StoreMismatchError, match="uses l2 distance"):
        open_skill_store(tiny_embeddings, client=client)
    with pytest.raises(StoreMismatchError, match="uses l2 distance"):
        build_skill_store(_skills("WordPress"), tiny_embeddings, client=client, show_progress=False)


def test_missing_store_says_how_to_build_it(tmp_path: Path, tiny_embeddings: E5Embeddings) -> None:
    with pytest.raises(StoreNotFoundError, match="build it first with build_skill_store"):
        open_skill_store(tiny_embeddings, persist_directory=tmp_path / "nothing")


def test_missing_collection_lists_the_existing_ones(
    tmp_path: Path, tiny_embeddings: E5Embeddings
) -> None:
    build_skill_store(
        _skills("WordPress"), tiny_embeddings, persist_directory=tmp_path, show_progress=False
    )

    with pytest.raises(StoreNotFoundError, match=r"no collection 'other' \(it has \['skills'\]\)"):
        open_skill_store(tiny_embeddings, persist_directory=tmp_path, collection_name="other")


@pytest.mark.parametrize(
    ("documents", "message"),
    [
        ([Document(page_content="no id")], "has no id"),
        ([Document(id="a", page_content="  ")], "empty page_content"),
        ([Document(id="a", page_content="x"), Document(id="a", page_content="y")], "appears twice"),
    ],
)
def test_bad_documents_are_rejected_before_anything_is_written(
    tmp_path: Path, tiny_embeddings: E5Embeddings, documents: list[Document], message: str
) -> None:
    build_skill_store(
        _skills("WordPress"), tiny_embeddings, persist_directory=tmp_path, show_progress=False
    )

    with pytest.raises(ValueError, match=message):
        build_skill_store(
            documents, tiny_embeddings, persist_directory=tmp_path, show_progress=False
        )

    assert (
        skill_collection(open_skill_store(tiny_embeddings, persist_directory=tmp_path)).count() == 1
    )


def test_persist_directory_and_client_are_exclusive(
    tmp_path: Path, tiny_embeddings: E5Embeddings
) -> None:
    with pytest.raises(ValueError, match="either persist_directory"):
        build_skill_store(
            [], tiny_embeddings, persist_directory=tmp_path, client=chromadb.EphemeralClient()
        )


def test_relative_store_path_follows_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    embeddings = DeterministicFakeEmbedding(size=8)
    skills = [Document(id="urn:s:1", page_content="WordPress", metadata={"label": "WordPress"})]
    for folder in ("first", "second"):
        (tmp_path / folder).mkdir()
        monkeypatch.chdir(tmp_path / folder)
        build_skill_store(skills, embeddings, persist_directory="skills-db", show_progress=False)

    assert (tmp_path / "first" / "skills-db" / "chroma.sqlite3").is_file()
    assert (tmp_path / "second" / "skills-db" / "chroma.sqlite3").is_file()
    fingerprint = read_store_fingerprint(persist_directory=tmp_path / "second" / "skills-db")
    assert fingerprint["dimension"] == 8


# --- the fingerprint protocol and the model's revision ---------------------------------------


class _OwnEmbeddings(DeterministicFakeEmbedding):
    """Not an E5Embeddings: any embeddings with a fingerprint() describe themselves."""

    def fingerprint(self) -> dict[str, str | int]:
        return {
            "model": "acme/own",
            "dimension": self.size,
            "query_prefix": "q: ",
            "passage_prefix": "",
        }


def test_any_embeddings_with_a_fingerprint_describe_themselves(tmp_path: Path) -> None:
    build_skill_store(
        _skills("Excel"), _OwnEmbeddings(size=8), persist_directory=tmp_path, show_progress=False
    )

    stored = read_store_fingerprint(persist_directory=tmp_path)

    assert (stored["model"], stored["query_prefix"], stored["dimension"]) == ("acme/own", "q: ", 8)


def _hub_cache(root: Path, model: Path, *commits: str) -> Path:
    """A Hugging Face cache holding `model` as acme/tiny at each commit; main is the last."""
    repo = root / "models--acme--tiny"
    for commit in commits:
        shutil.copytree(model, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commits[-1])
    return root


def test_store_records_the_hub_revision_and_refuses_another(
    tmp_path: Path, tiny_bi_encoder: Path
) -> None:
    old, new = "1" * 40, "2" * 40
    cache = _hub_cache(tmp_path / "hub", tiny_bi_encoder, old, new)
    db = tmp_path / "db"

    def embeddings(revision: str) -> E5Embeddings:
        options = {"cache_folder": str(cache), "revision": revision}
        return E5Embeddings(model_name="acme/tiny", model_kwargs=options)

    build_skill_store(_skills("Excel"), embeddings(old), persist_directory=db, show_progress=False)

    assert read_store_fingerprint(persist_directory=db)["revision"] == old
    assert open_skill_store(embeddings(old), persist_directory=db)  # the same revision opens
    with pytest.raises(StoreMismatchError, match=f"revision '{old}' vs '{new}'"):
        open_skill_store(embeddings(new), persist_directory=db)


def test_a_plain_local_folder_records_no_revision(
    tmp_path: Path, tiny_embeddings: E5Embeddings
) -> None:
    build_skill_store(
        _skills("Excel"), tiny_embeddings, persist_directory=tmp_path, show_progress=False
    )

    assert "revision" not in read_store_fingerprint(persist_directory=tmp_path)


def test_the_store_client_is_the_one_behind_its_collection(
    tmp_path: Path, tiny_embeddings: E5Embeddings
) -> None:
    docs = _skills("Excel", "Python")
    store = build_skill_store(
        docs, tiny_embeddings, persist_directory=tmp_path, show_progress=False
    )

    client = store_client(store)  # langchain-chroma's private client, reached in one place

    assert client.get_settings().persist_directory
    assert client.get_collection(skill_collection(store).name).count() == len(docs)
