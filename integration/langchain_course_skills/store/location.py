"""Where a store lives and how it opens: folders, clients, collections, `open_skill_store`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_chroma import Chroma

from langchain_course_skills.errors import (
    StoreNotFoundError,
    parameter,
)
from langchain_course_skills.store._storage import open_embedded_client, store_faults
from langchain_course_skills.store.fingerprint import (
    _verify,
    _verify_views,
    cosine_similarity,
    embeddings_fingerprint,
    read_fingerprint,
)
from langchain_course_skills.views import check_views
from langchain_course_skills.vocabulary import DEFAULT_COLLECTION

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection
    from langchain_core.embeddings import Embeddings

APP_NAME = "course-skills"  # the per-user data folder's name


def user_store_dir(name: str) -> Path:
    """Return a store folder `name` in the per-user data folder, not the working directory.

    On Linux `~/.local/share/course-skills/NAME` (or under `$XDG_DATA_HOME`); the demo and the
    examples keep their stores there.
    """
    from platformdirs import user_data_dir

    return Path(user_data_dir(APP_NAME)) / name


def _check_location(persist_directory: str | Path | None, client: ClientAPI | None) -> None:
    if (persist_directory is None) == (client is None):
        msg = "pass either persist_directory (an embedded store folder) or client, not both"
        raise ValueError(msg)


def _client(
    persist_directory: str | Path | None, client: ClientAPI | None, *, write: bool
) -> ClientAPI:
    _check_location(persist_directory, client)
    if client is not None:
        return client
    return open_embedded_client(str(persist_directory), write=write)


def _store_label(persist_directory: str | Path | None, client: ClientAPI | None) -> str:
    """How fault messages name the store: `--db DIR` or the server's URL."""
    if persist_directory is not None or client is None:
        return parameter("persist_directory", repr(str(persist_directory)))
    settings = client.get_settings()
    if settings.chroma_server_host:
        scheme = "https" if settings.chroma_server_ssl_enabled else "http"
        return f"{scheme}://{settings.chroma_server_host}:{settings.chroma_server_http_port}"
    if settings.is_persistent and settings.persist_directory:
        return parameter("persist_directory", repr(str(settings.persist_directory)))
    return "an in-memory Chroma store"


def _embedded_folder(persist_directory: str | Path | None, client: ClientAPI | None) -> Path | None:
    """The folder of an embedded store (to lock while writing); None for a server or memory."""
    if persist_directory is not None:
        return Path(str(persist_directory)).expanduser().resolve()
    settings = client.get_settings() if client is not None else None
    if settings and not settings.chroma_server_host and settings.is_persistent:
        return Path(settings.persist_directory).expanduser().resolve()
    return None


def skill_collection(store: Chroma) -> Collection:
    """Return the Chroma collection behind a skill store (count, get, raw queries).

    langchain-chroma keeps it private; this is the one place that reaches for it, and a test
    fails if langchain-chroma ever renames it.

    Example:
        >>> skill_collection(open_skill_store(embeddings, persist_directory="skills-db")).count()
        113086
    """
    return store._collection


def store_client(store: Chroma) -> ClientAPI:
    """Return the Chroma client behind a skill store (its settings name the store in messages).

    langchain-chroma keeps it private; this is the one place that reaches for it, and a test
    fails if langchain-chroma ever renames it.
    """
    return store._client


def find_collection(client: ClientAPI, name: str) -> Collection | None:
    """Return the collection `name`, or None if the store has no such collection."""
    if name not in {c.name for c in client.list_collections()}:
        return None
    return client.get_collection(name, embedding_function=None)


def _where(persist_directory: str | Path | None) -> str:
    if persist_directory is None:
        return "the same client"
    return parameter("persist_directory", repr(str(persist_directory)))


def _chroma(client: ClientAPI, name: str, embeddings: Embeddings) -> Chroma:
    # An explicit relevance function: Chroma would otherwise read the collection configuration,
    # which makes chromadb warn about the (legacy) embedding-function entry on every search.
    return Chroma(
        client=client,
        collection_name=name,
        embedding_function=embeddings,
        relevance_score_fn=cosine_similarity,
    )


def _existing_collection(
    persist_directory: str | Path | None, client: ClientAPI | None, collection_name: str
) -> tuple[ClientAPI, Collection]:
    """Return the client and collection of an existing store; creates nothing."""
    if persist_directory is not None and not Path(str(persist_directory)).expanduser().is_dir():
        msg = (
            f"no skill store at {str(persist_directory)!r}; build it first with "
            f"{parameter('build_skill_store')}"
        )
        raise StoreNotFoundError(msg)
    with store_faults(
        _store_label(persist_directory, client), _embedded_folder(persist_directory, client)
    ):
        chroma_client = _client(persist_directory, client, write=False)
        collection = find_collection(chroma_client, collection_name)
        if collection is None:
            where = _where(persist_directory)
            names = [c.name for c in chroma_client.list_collections()]
            msg = (
                f"the store ({where}) has no collection {collection_name!r} (it has {names}); "
                f"build it with {parameter('build_skill_store')} and "
                f"{parameter('collection_name', repr(collection_name))}"
            )
            raise StoreNotFoundError(msg)
    return chroma_client, collection


def read_store_fingerprint(
    *,
    persist_directory: str | Path | None = None,
    client: ClientAPI | None = None,
    collection_name: str = DEFAULT_COLLECTION,
) -> dict[str, Any]:
    """Return what a store recorded about the embeddings that built it, without loading a model.

    Use it to open a store with the model it was built with:

    Example:
        >>> model = read_store_fingerprint(persist_directory="skills-db")["model"]
        >>> store = open_skill_store(E5Embeddings(model_name=model), persist_directory="skills-db")

    Raises:
        StoreNotFoundError: The folder or the collection does not exist.
    """
    _, collection = _existing_collection(persist_directory, client, collection_name)
    return read_fingerprint(collection)


def open_skill_store(
    embeddings: Embeddings,
    *,
    persist_directory: str | Path | None = None,
    client: ClientAPI | None = None,
    collection_name: str = DEFAULT_COLLECTION,
    views: Sequence[str] | None = None,
) -> Chroma:
    """Open an existing skill store, checking that `embeddings` match the ones it was built with.

    Args:
        embeddings: The embeddings the store was built with.
        persist_directory: Folder of an embedded store.
        client: A Chroma client instead.
        collection_name: The collection.
        views: The view kinds you expect the store to hold; None accepts the store's own.

    Raises:
        StoreNotFoundError: The folder or the collection does not exist.
        StoreMismatchError: The store was built with other embeddings, other views or without
            cosine distance.
    """
    chroma_client, collection = _existing_collection(persist_directory, client, collection_name)
    where = _where(persist_directory)
    _verify(collection, embeddings_fingerprint(embeddings), where)
    if views is not None:
        _verify_views(collection, read_fingerprint(collection), check_views(views), where)
    with store_faults(_store_label(persist_directory, client)):
        return _chroma(chroma_client, collection_name, embeddings)
