"""The model card's recipe, call for call, so that the benchmark compares against exactly it.

The card embeds with langchain-community's `HuggingFaceBgeEmbeddings` (query and passage
instructions, normalized), indexes with langchain-community's `Chroma.from_documents` (cosine
space, a persistent folder), searches with `similarity_search_with_relevance_scores(q, 30)` and
re-ranks those 30 with langchain-classic's `CrossEncoderReranker` over a
`HuggingFaceCrossEncoder`. langchain-community's Chroma still works with chromadb 1.5, so it is
used as the card uses it.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from langchain_core.documents import Document

from langchain_course_skills.store import skill_collection

with warnings.catch_warnings():  # langchain-community announces its sunset on import
    warnings.simplefilter("ignore", DeprecationWarning)
    from langchain_classic.retrievers.document_compressors import CrossEncoderReranker
    from langchain_community.cross_encoders import HuggingFaceCrossEncoder
    from langchain_community.embeddings import HuggingFaceBgeEmbeddings
    from langchain_community.vectorstores import Chroma

K = 30  # candidates, as on the card


def embeddings(model_name: str | Path) -> HuggingFaceBgeEmbeddings:
    """The card's embeddings (fp32, sentence-transformers' default device and batch size 32)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return HuggingFaceBgeEmbeddings(
            model_name=str(model_name),
            query_instruction="query: ",
            embed_instruction="passage: ",
            encode_kwargs={"normalize_embeddings": True},
        )


def index(docs: list[Document], emb: HuggingFaceBgeEmbeddings, folder: Path) -> Chroma:
    """The card's index build; running it again on the same folder adds every skill again."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Chroma.from_documents(
            docs,
            emb,
            collection_metadata={"hnsw:space": "cosine"},
            persist_directory=str(folder),
        )


def search(db: Chroma, query: str) -> list[Document]:
    """The card's first stage: the 30 most similar skills."""
    return [doc for doc, _ in db.similarity_search_with_relevance_scores(query, K)]


def reranker(model_name: str | Path, top_n: int) -> CrossEncoderReranker:
    """The card's second stage."""
    return CrossEncoderReranker(
        model=HuggingFaceCrossEncoder(model_name=str(model_name)), top_n=top_n
    )


def reranked_query(db: Chroma, rerank: CrossEncoderReranker, query: str) -> list[Document]:
    """Search 30 candidates, then keep the reranker's `top_n`."""
    return list(rerank.compress_documents(search(db, query), query))


def count(db: Chroma) -> int:
    """Documents in the card's collection."""
    return int(skill_collection(db).count())
