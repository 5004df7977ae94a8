"""Fine-tune a bi-encoder on (query, skill) pairs so that it drops into `E5Embeddings`.

The loss is the model card's: contrastive cross-entropy over cosine similarities divided by
a temperature, with every other positive and hard negative of the batch as a negative (the
multiple-negatives ranking loss of sentence-transformers). Candidates that are relevant to a
query (the same skill reached from two of its alternative labels, say) are masked for that
query instead of being pushed away. Queries carry `query: ` and passages `passage: `, exactly
as `E5Embeddings` applies them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from langchain_course_skills.embeddings import PASSAGE_PREFIX, QUERY_PREFIX, E5Embeddings
from langchain_course_skills.evaluation.exact import ExactSearch
from langchain_course_skills.finetune._prepare import ENCODE_BATCH, finish, prepare_run, train
from langchain_course_skills.finetune._training import autocast
from langchain_course_skills.finetune.config import BiEncoderConfig
from langchain_course_skills.finetune.pairs import TrainingExample

if TYPE_CHECKING:
    from langchain_core.documents import Document
    from sentence_transformers import SentenceTransformer

    from langchain_course_skills.finetune.report import FinetuneResult

logger = logging.getLogger(__name__)

_TOKENIZER_LIMIT_SENTINEL = 100_000  # tokenizers without a limit report a huge model_max_length
_DROP_IN_MIN_COSINE = 0.98  # saved model vs trained model; bf16 vs autocast differ by ~1e-3


def _embed(model: SentenceTransformer, texts: list[str], max_length: int) -> torch.Tensor:
    """Embed with gradients (`encode` runs without), L2-normalized in fp32."""
    from sentence_transformers.util import batch_to_device

    model.max_seq_length = max_length
    features = batch_to_device(model.preprocess(texts), model.device)
    vectors = model(features)["sentence_embedding"]
    return torch.nn.functional.normalize(vectors.float(), dim=-1)


def contrastive_loss(
    model: SentenceTransformer, batch: list[TrainingExample], config: BiEncoderConfig
) -> torch.Tensor:
    """The batch's contrastive loss: each query against all positives and hard negatives.

    Candidates are deduplicated by text; a candidate relevant to a query other than its own
    positive is masked for that query.
    """
    columns: dict[str, int] = {}
    column_ids: list[str] = []
    for example in batch:
        for text, skill_id in (
            (example.positive, example.positive_id),
            *zip(example.negatives, example.negative_ids),
        ):
            if text not in columns:
                columns[text] = len(columns)
                column_ids.append(skill_id)
    queries = _embed(model, [QUERY_PREFIX + e.query for e in batch], config.query_max_length)
    passages = _embed(model, [PASSAGE_PREFIX + t for t in columns], config.passage_max_length)
    scores = queries @ passages.T / config.temperature
    targets = torch.tensor([columns[e.positive] for e in batch], device=scores.device)
    mask = torch.tensor(
        [
            [
                skill_id in e.relevant_ids and col != columns[e.positive]
                for col, skill_id in enumerate(column_ids)
            ]
            for e in batch
        ],
        device=scores.device,
    )
    return torch.nn.functional.cross_entropy(scores.masked_fill(mask, float("-inf")), targets)


def _cap_lengths(model: SentenceTransformer, config: BiEncoderConfig) -> BiEncoderConfig:
    limit = getattr(model.tokenizer, "model_max_length", None)
    if not isinstance(limit, int) or limit >= _TOKENIZER_LIMIT_SENTINEL:
        return config
    return config.model_copy(
        update={
            "query_max_length": min(config.query_max_length, limit),
            "passage_max_length": min(config.passage_max_length, limit),
        }
    )


def _check_drop_in(
    output_dir: Path, trained: E5Embeddings, config: BiEncoderConfig, dtype: torch.dtype, probe: str
) -> float:
    """Load the saved model through `E5Embeddings`; return its cosine with the trained model."""
    loaded = E5Embeddings(
        model_name=str(output_dir), device=config.device, precision=config.precision
    )
    with autocast(str(trained.client.device), dtype):
        vector = trained.embed_query(probe)
    similarity = float(torch.tensor(loaded.embed_query(probe)) @ torch.tensor(vector))
    if similarity < _DROP_IN_MIN_COSINE:
        logger.warning(
            "E5Embeddings(model_name=%r) embeds %r at cosine %.3f to the trained model; "
            "expected about 1",
            str(output_dir),
            probe,
            similarity,
        )
    return similarity


def finetune_bi_encoder(
    base_model: str | Path,
    output_dir: str | Path,
    documents: Sequence[Document],
    examples: Sequence[TrainingExample] | None = None,
    *,
    config: BiEncoderConfig | None = None,
    eval_files: Mapping[str, str | Path] | None = None,
    sources: Mapping[str, str] | None = None,
    resume: bool = False,
    show_progress: bool = True,
    stop_after: int | None = None,
) -> FinetuneResult:
    """Fine-tune a sentence-transformers bi-encoder on course/skill pairs and evaluate it.

    The output folder becomes a sentence-transformers model that `E5Embeddings(model_name=...)`
    and `course-skills index --model ...` load unchanged, with a README (data, parameters,
    metrics before and after), `finetune.json`, the examples it was trained on
    (`training_data.jsonl`, hard negatives included) and `evaluation.png`.

    Example:
        >>> docs = load_esco_skills("skills_en.csv")
        >>> result = finetune_bi_encoder("all-MiniLM-L6-v2", "minilm-esco", docs,
        ...                              config=BiEncoderConfig(max_pairs=30_000))
        >>> scores = result.metrics["held-out"]
        >>> scores["fine-tuned"]["rp@5"] > scores["base"]["rp@5"]
        True

    Args:
        base_model: A sentence-transformers model: local folder or Hub id.
        output_dir: A new or empty folder; with `resume`, the folder of the stopped run.
        documents: The taxonomy's skills (from the loaders): the passages of training, mining
            and evaluation.
        examples: Training examples (`read_alignments`, `taxonomy_examples`, or both
            concatenated); None derives them from `documents`.
        config: The parameters.
        eval_files: Name -> gold JSONL file to evaluate on, before and after; None holds out
            `config.holdout` of the training queries instead.
        sources: What the data came from (name -> description), recorded in the README.
        resume: Continue the stopped or interrupted run in `output_dir`.
        show_progress: Show a progress bar.
        stop_after: Stop after this many steps (with a checkpoint); resume later.

    Returns:
        The result; `completed` is False when stopped by `stop_after`.

    Raises:
        TrainingDataError: For empty or malformed data, a non-empty `output_dir` (without
            `resume`), or a resume with other parameters or data.
        GoldSetError: For an evaluation file that is malformed or does not fit the taxonomy.
        ModelLoadError: If the base model cannot be loaded.
    """
    config = config or BiEncoderConfig()
    run = prepare_run(output_dir, documents, examples, config, eval_files, resume=resume)
    torch.manual_seed(config.seed)
    # The model is trained in torch fp32 inside the E5Embeddings that mines and evaluates with it.
    embeddings = E5Embeddings(
        model_name=str(base_model),
        device=run.device,
        precision="fp32",
        backend="torch",
        max_seq_length=None,
        batch_size=ENCODE_BATCH,
    )
    model = embeddings.client
    config = _cap_lengths(model, config)
    model.max_seq_length = config.query_max_length
    k = config.eval_k

    def search() -> ExactSearch:  # a new one after training: the skills' vectors change
        return ExactSearch(embeddings, documents, context=lambda: autocast(run.device, run.dtype))

    base = search()
    result = train(
        run,
        config,
        model,
        lambda batch: contrastive_loss(model, batch, config),
        before=lambda: {name: {"base": m} for name, m in base.evaluate(run.gold_sets, k=k).items()},
        miner=base,
        show_progress=show_progress,
        stop_after=stop_after,
        description="fine-tuning the bi-encoder",
    )
    if not result.completed:
        return result
    out = run.workspace.output_dir
    _save(model, out, config)  # leaves model.max_seq_length at the query length
    drop_in = _check_drop_in(out, embeddings, config, run.dtype, run.train[0].query)
    return finish(
        run,
        result,
        documents,
        after=search().evaluate(run.gold_sets, k=k),
        label="fine-tuned",
        title=f"{out.name}: base vs. fine-tuned (top {k}, exact)",
        kind="bi-encoder (sentence-transformers)",
        base_model=str(base_model),
        config=config.model_dump(mode="json"),
        sources=sources,
        usage=(
            "from langchain_course_skills import E5Embeddings\n\n"
            f'embeddings = E5Embeddings(model_name="{out}")\n'
            f"# passages are embedded as {PASSAGE_PREFIX!r} + text, "
            f"queries as {QUERY_PREFIX!r} + text"
        ),
        notes=[
            f"Loaded back through `E5Embeddings`, it embeds a training query at cosine "
            f"{drop_in:.4f} to the trained model (precision {config.precision}).",
            "The metrics come from exact top-k cosine retrieval over all the taxonomy's "
            f"passages (k = {k}), before and after, with the same code.",
        ],
    )


def _save(model: SentenceTransformer, out: Path, config: BiEncoderConfig) -> None:
    """Save the model (fp32) with its prompts."""
    model.max_seq_length = config.query_max_length
    # For plain sentence-transformers users: encode_query/encode_document add the prefixes.
    model.prompts = {"query": QUERY_PREFIX, "document": PASSAGE_PREFIX}
    model.save(str(out), create_model_card=False)
