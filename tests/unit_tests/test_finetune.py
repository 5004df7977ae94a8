"""Fine-tuning the bi-encoder and the reranker: data, training, resume, outputs and errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from langchain_core.documents import Document
from sentence_transformers import SentenceTransformer

from langchain_course_skills import E5Embeddings, ModelLoadError, SkillCrossEncoder
from langchain_course_skills.embeddings import PASSAGE_PREFIX, QUERY_PREFIX
from langchain_course_skills.finetune import (
    BiEncoderConfig,
    RerankerConfig,
    TrainingDataError,
    TrainingExample,
    finetune_bi_encoder,
    finetune_reranker,
    read_alignments,
    select_examples,
    split_holdout,
    taxonomy_examples,
)
from tests.conftest import run_cli

# The tiny random models embed every text alike, so they cannot learn in a few steps: they
# check the mechanics; the real all-MiniLM-L6-v2 shows the learning. 20 examples, 4 held out,
# in batches of 8: 2 steps an epoch.
TINY = {"learning_rate": 1e-3, "batch_size": 8, "max_pairs": 20, "precision": "fp32"}
TUNED = {**TINY, "epochs": 4, "hard_negatives": 1, "holdout": 0.2, "checkpoint_steps": 3}


def _write_jsonl(path: Path, records: list[object]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Iterator[None]:
    """Tiny models run faster on one thread: most of their time is thread synchronisation."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def gold_file(tmp_path_factory: pytest.TempPathFactory, esco_skills: list[Document]) -> Path:
    """Ten skills' descriptions as queries, their labels (upper case) as the relevant skills."""
    records = [
        {"query": doc.metadata["description"], "relevant": [doc.metadata["label"].upper()]}
        for doc in esco_skills[:10]
    ]
    return _write_jsonl(tmp_path_factory.mktemp("gold") / "gold.jsonl", records)


@pytest.fixture(scope="module")
def tuned(
    tmp_path_factory: pytest.TempPathFactory, tiny_bi_encoder: Path, esco_skills: list[Document]
):
    """One bi-encoder run of 4 epochs (8 steps), evaluated on a held-out split."""
    out = tmp_path_factory.mktemp("tuned") / "model"
    return finetune_bi_encoder(
        tiny_bi_encoder, out, esco_skills, config=BiEncoderConfig(**TUNED), show_progress=False
    )


# --- data -------------------------------------------------------------------------------------


def test_taxonomy_examples_map_descriptions_and_alt_labels_to_the_skill_passage(
    esco_skills: list[Document],
) -> None:
    examples = taxonomy_examples(esco_skills)

    doc = esco_skills[0]
    own = [e for e in examples if e.positive_id == doc.id]
    alt_labels = doc.metadata["alt_labels"].splitlines()
    # An alternative label equal to the passage itself teaches nothing and is skipped.
    alt_labels = [a for a in alt_labels if a.strip() and a.casefold() != doc.page_content]
    assert doc.page_content in doc.metadata["alt_labels"].splitlines()
    assert {e.source for e in own} == {"description", "alt_label"}
    assert {e.query for e in own} == {doc.metadata["description"], *alt_labels}
    assert all(e.positive == doc.page_content and e.relevant_ids == {doc.id} for e in own)


def test_select_examples_keeps_alignments_then_alternates_kinds_over_distinct_skills(
    esco_skills: list[Document],
) -> None:
    aligned = TrainingExample("a course", "x", "x-id", frozenset({"x-id"}))
    pool = [*taxonomy_examples(esco_skills), aligned]

    chosen = select_examples(pool, 1 + 100, seed=0)

    # 1 alignment, then 50 descriptions and 50 alternative labels, each of 50 distinct skills.
    assert chosen[0] == aligned
    for source in ("description", "alt_label"):
        kind = [e for e in chosen[1:] if e.source == source]
        assert len(kind) == len({e.positive_id for e in kind}) == 50


def test_split_holdout_keeps_every_query_on_one_side(esco_skills: list[Document]) -> None:
    train, held = split_holdout(taxonomy_examples(esco_skills)[:200], 0.1, seed=0)

    assert len(held) > 0
    assert not {e.query for e in train} & {e.query for e in held}


def test_read_alignments_reads_the_card_format_and_strips_prefixes(
    tmp_path: Path, esco_skills: list[Document]
) -> None:
    label, other = esco_skills[0].page_content, esco_skills[1].page_content
    path = _write_jsonl(
        tmp_path / "card.jsonl",
        [
            {
                "query": f"{QUERY_PREFIX}course",
                "pos": [f"{PASSAGE_PREFIX}{label}", "free text"],
                "neg": [other],
            }
        ],
    )

    examples = read_alignments(path, esco_skills)

    # One example per positive; the taxonomy skill resolves to its id, free text stays text.
    assert [e.positive for e in examples] == [label, "free text"]
    assert examples[0].positive_id == esco_skills[0].id
    assert all(e.query == "course" and e.negative_ids == (esco_skills[1].id,) for e in examples)
    assert examples[0].relevant_ids == {esco_skills[0].id, "text:free text"}


def test_read_alignments_resolves_gold_labels_and_ids(
    tmp_path: Path, esco_skills: list[Document]
) -> None:
    path = _write_jsonl(
        tmp_path / "gold.jsonl",
        [
            {
                "query": "course",
                "relevant": [esco_skills[0].metadata["label"].upper(), esco_skills[1].id],
            }
        ],
    )

    examples = read_alignments(path, esco_skills)

    assert [e.positive_id for e in examples] == [esco_skills[0].id, esco_skills[1].id]


@pytest.mark.parametrize(
    ("records", "message"),
    [
        ([], "has no examples"),
        ([{"relevant": ["x"]}], "no query text"),
        ([{"query": "course"}], "no positives"),
        ([{"query": "course", "relevant": []}], "is empty"),
        ([{"query": "course", "relevant": ["no such skill"]}], "neither an id nor a label"),
        (["just a string"], "expected a JSON object"),
    ],
)
def test_read_alignments_rejects_bad_lines_with_a_clear_message(
    tmp_path: Path, esco_skills: list[Document], records: list[object], message: str
) -> None:
    path = _write_jsonl(tmp_path / "bad.jsonl", records)

    with pytest.raises(TrainingDataError, match=message):
        read_alignments(path, esco_skills)


def test_training_data_error_lives_in_errors_and_keeps_its_old_import_paths() -> None:
    from langchain_course_skills import errors
    from langchain_course_skills.finetune import pairs

    assert TrainingDataError is errors.TrainingDataError is pairs.TrainingDataError
    assert issubclass(TrainingDataError, errors.CourseSkillsError)


def test_taxonomy_without_descriptions_gives_no_pairs() -> None:
    bare = [Document(id="a", page_content="skill a", metadata={"label": "skill a"})]

    with pytest.raises(TrainingDataError, match="no training pairs"):
        taxonomy_examples(bare)


# --- bi-encoder -------------------------------------------------------------------------------


def test_bi_encoder_run_completes_its_steps(tuned) -> None:
    assert tuned.completed and tuned.steps == tuned.total_steps == 8


def test_bi_encoder_output_loads_in_e5embeddings_with_the_training_prefixes(tuned) -> None:
    embeddings = E5Embeddings(model_name=str(tuned.output_dir), precision="fp32", backend="torch")
    model = SentenceTransformer(str(tuned.output_dir))

    query = embeddings.embed_query("WordPress Kurs")
    passage = embeddings.embed_documents(["WordPress"])[0]

    # Trained as "query: <text>" / "passage: <text>": E5Embeddings adds exactly these, and the
    # saved prompts give plain sentence-transformers users the same vectors.
    assert model.prompts["query"] == QUERY_PREFIX and model.prompts["document"] == PASSAGE_PREFIX
    np.testing.assert_allclose(query, model.encode_query("WordPress Kurs"), atol=1e-5)
    np.testing.assert_allclose(passage, model.encode_document(["WordPress"])[0], atol=1e-5)


def test_bi_encoder_output_records_data_parameters_and_metrics(tuned) -> None:
    out = tuned.output_dir
    report = json.loads((out / "finetune.json").read_text())
    card = (out / "README.md").read_text()

    assert set(tuned.metrics["held-out"]) == {"base", "fine-tuned"}
    assert report["parameters"]["temperature"] == 0.05
    assert report["data"]["training examples"] == tuned.examples
    assert "| held-out | fine-tuned |" in card and "evaluation.png" in card
    assert (out / "evaluation.png").stat().st_size > 0
    assert (out / "training_data.jsonl").is_file()
    assert not (out / "checkpoint").exists()


def test_resume_refuses_other_parameters_then_continues_to_the_same_weights(
    tmp_path: Path, tiny_bi_encoder: Path, esco_skills: list[Document], tuned
) -> None:
    config = BiEncoderConfig(**TUNED)
    other = config.model_copy(update={"learning_rate": 1e-4})

    def run(**kwargs: object):
        return finetune_bi_encoder(
            tiny_bi_encoder, tmp_path, esco_skills, show_progress=False, **kwargs
        )

    stopped = run(config=config, stop_after=5)  # checkpoints at step 3 and when stopping
    with pytest.raises(TrainingDataError, match="learning_rate"):
        run(config=other, resume=True)
    with pytest.raises(TrainingDataError, match="add resume=True to continue"):
        run(config=config)
    resumed = run(config=config, resume=True)

    # `tuned` is the same run without the break.
    assert not stopped.completed and stopped.steps == 5
    assert resumed.completed and resumed.steps == tuned.steps
    assert resumed.losses == pytest.approx(tuned.losses, rel=1e-4)
    weights = SentenceTransformer(str(tmp_path)).state_dict()
    for name, value in SentenceTransformer(str(tuned.output_dir)).state_dict().items():
        torch.testing.assert_close(weights[name], value)


def test_base_model_that_cannot_be_loaded_offline_raises_model_load_error(
    tmp_path: Path, esco_skills: list[Document]
) -> None:
    with pytest.raises(ModelLoadError, match="no-such-org/no-such-model"):
        finetune_bi_encoder("no-such-org/no-such-model", tmp_path / "out", esco_skills)


# --- reranker ---------------------------------------------------------------------------------


def test_reranker_output_loads_in_skill_cross_encoder_with_reranked_metrics(
    tmp_path: Path,
    tiny_cross_encoder: Path,
    tiny_bi_encoder: Path,
    esco_skills: list[Document],
    gold_file: Path,
) -> None:
    config = RerankerConfig(hard_negatives=3, **TINY)

    result = finetune_reranker(
        tiny_cross_encoder,
        tmp_path / "reranker",
        esco_skills,
        retriever=tiny_bi_encoder,
        config=config,
        eval_files={"gold": gold_file},
        show_progress=False,
    )
    scores = SkillCrossEncoder(model_name=str(result.output_dir), precision="fp32").score(
        [("WordPress Kurs", "WordPress"), ("WordPress Kurs", "cut clay")]
    )

    # 20 examples with --eval (nothing held out), batches of 8: 3 steps.
    assert result.completed and result.steps == 3
    assert set(result.metrics["gold"]) == {"retriever", "base reranker", "fine-tuned reranker"}
    assert all(0 <= s <= 1 for s in scores)
    assert (result.output_dir / "evaluation.png").is_file()
    assert not (result.output_dir / "checkpoint").exists()


def test_reranker_resume_continues_to_the_same_losses_and_metrics(
    tmp_path: Path, tiny_bi_encoder: Path, esco_skills: list[Document]
) -> None:
    config = RerankerConfig(**TUNED)

    def run(out: str, **kwargs: object):
        return finetune_reranker(
            tiny_bi_encoder,
            tmp_path / out,
            esco_skills,
            retriever=tiny_bi_encoder,
            config=config,
            show_progress=False,
            **kwargs,
        )

    full = run("full")
    stopped = run("part", stop_after=5)
    resumed = run("part", resume=True)

    # The metrics before training and the fresh head come back from the checkpoint.
    assert not stopped.completed and resumed.completed and resumed.steps == full.steps == 8
    assert resumed.losses == pytest.approx(full.losses, rel=1e-4)
    assert resumed.metrics == full.metrics
    assert "fresh, randomly initialised" in (tmp_path / "part" / "README.md").read_text()


# --- command line -----------------------------------------------------------------------------


def test_cli_finetune_trains_evaluates_and_prints_before_and_after(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    esco_slice: Path,
    tiny_bi_encoder: Path,
    gold_file: Path,
) -> None:
    status, out, err = run_cli(
        capsys,
        "finetune",
        "--taxonomy",
        esco_slice,
        "--base",
        tiny_bi_encoder,
        "--out",
        tmp_path / "model",
        "--max-pairs",
        24,
        "--batch-size",
        8,
        "--precision",
        "fp32",
        "--eval",
        gold_file,
    )

    assert status == 0, err
    assert "trained 3 steps on 24 examples" in out
    assert "gold:" in out and "fine-tuned" in out
    assert E5Embeddings(model_name=str(tmp_path / "model")).dimension == 32


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--holdout", "1.5"], "--holdout"),
        (["--taxonomy", "missing.csv"], "does not exist"),
        (["--resume"], "start a new run without --resume"),
        (["--base", "no-such-org/no-such-model"], "--base DIR"),
        (["--train", "{train}"], "neither an id nor a label"),
        (["--eval", "{train}"], "neither a skill id nor a skill label"),
    ],
)
def test_cli_finetune_errors_exit_1_without_traceback(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    esco_slice: Path,
    tiny_bi_encoder: Path,
    extra: list[str],
    message: str,
) -> None:
    train = _write_jsonl(tmp_path / "train.jsonl", [{"query": "q", "relevant": ["nope"]}])
    argv = [
        "finetune",
        "--taxonomy",
        esco_slice,
        "--base",
        tiny_bi_encoder,
        "--out",
        tmp_path / "model",
        "--max-pairs",
        8,
        "--precision",
        "fp32",
    ]
    argv += [e.format(train=train) for e in extra]

    status, _, err = run_cli(capsys, *argv)

    assert status == 1
    assert err.splitlines()[-1].startswith("error: ") and message in err
    assert "Traceback" not in err
