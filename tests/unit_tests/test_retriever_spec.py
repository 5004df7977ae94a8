"""One way from options to a retriever: every `RetrieverSpec` field is an option of every face.

`course-skills search`, `map` and `serve` build their retrievers through `retriever_spec`, so a
field of the spec that a face does not offer is a setting its users cannot reach.
"""

from __future__ import annotations

from typing import Any

import pytest

from langchain_course_skills import RetrieverSpec
from langchain_course_skills.cli import build_parser
from langchain_course_skills.cli._common import retriever_spec
from langchain_course_skills.service.schemas import SearchOptions

# Each field, a value other than its default, and the options that set it.
FIELDS: dict[str, tuple[Any, list[str]]] = {
    "model": ("./e5", ["--model", "./e5"]),
    "reranker": ("./bge", ["--reranker", "./bge"]),
    "device": ("cpu", ["--device", "cpu"]),
    "precision": ("bf16", ["--precision", "bf16"]),
    "backend": ("torch", ["--backend", "torch"]),
    "batch_size": (7, ["--batch-size", "7"]),
    "chroma_url": ("http://chroma:8000", ["--chroma-url", "http://chroma:8000"]),
    "chroma_token": ("secret", ["--chroma-token", "secret"]),
    "chroma_timeout": (5.0, ["--chroma-timeout", "5"]),
    "collection": ("other", ["--collection", "other"]),
    "k": (40, ["-k", "40"]),
    "top_n": (5, ["-n", "5"]),
    "taxonomies": (["ESCO"], ["--taxonomy", "ESCO"]),
    "min_score": (0.5, ["--min-score", "0.5"]),
    "fusion": ("max", ["--fusion", "max"]),
    "view_fusion": ("mean", ["--view-fusion", "mean"]),
}
EMBEDDED = {"persist_directory": ("my-db", ["--db", "my-db"])}  # instead of chroma_url
PER_REQUEST = {"k", "top_n", "taxonomies", "min_score"}  # the service takes these per request
FACES = {
    "search": (["search", "text", "--rerank"], set()),
    "map": (["map", "courses.csv", "-o", "out.jsonl", "--rerank"], set()),
    "serve": (["serve"], PER_REQUEST),
}


def test_the_table_covers_every_field_of_the_spec() -> None:
    assert set(FIELDS) | set(EMBEDDED) == set(RetrieverSpec.model_fields)


@pytest.mark.parametrize("face", list(FACES))
def test_every_field_of_the_spec_is_an_option_of_each_command(face: str) -> None:
    argv, elsewhere = FACES[face]
    fields = {name: spec for name, spec in FIELDS.items() if name not in elsewhere}
    options = [option for _, flags in fields.values() for option in flags]

    spec = retriever_spec(build_parser().parse_args([*argv, *options]))

    assert {name: getattr(spec, name) for name in fields} == {
        name: value for name, (value, _) in fields.items()
    }
    embedded = retriever_spec(
        build_parser().parse_args([*argv, "--model", "./e5", *EMBEDDED["persist_directory"][1]])
    )
    assert (embedded.persist_directory, embedded.chroma_url) == ("my-db", None)


def test_evaluate_builds_each_configuration_from_the_spec_of_its_options() -> None:
    from langchain_course_skills.cli.evaluate import evaluation_spec

    measured = {"top_n", "taxonomies", "min_score"}  # evaluate ranks all k of every skill
    fields = {name: spec for name, spec in FIELDS.items() if name not in measured}
    options = [option for _, flags in fields.values() for option in flags]
    args = build_parser().parse_args(["evaluate", "gold.jsonl", "--rerank", *options])

    spec = evaluation_spec(args, args.model[0])

    expected = {name: value for name, (value, _) in fields.items()}
    expected["view_fusion"] = "blend"  # each configuration sets its own (`--view-fusion` repeats)
    assert {name: getattr(spec, name) for name in fields} == expected
    assert args.view_fusion == ["mean"]
    assert spec.top_n == spec.k == 40


def test_the_service_takes_the_rest_with_each_request() -> None:
    assert set(SearchOptions.model_fields) >= PER_REQUEST


def test_without_rerank_the_spec_has_no_reranker() -> None:
    def spec(*argv: str) -> RetrieverSpec:  # --model: the command reads it from the store
        return retriever_spec(build_parser().parse_args([*argv, "--model", "./e5"]))

    assert spec("search", "text").reranker is None
    assert spec("serve", "--no-rerank").reranker is None
    assert spec("serve").reranker is not None


def test_a_spec_refuses_a_min_score_outside_zero_to_one() -> None:
    with pytest.raises(ValueError, match="min_score"):
        RetrieverSpec(min_score=1.5)
