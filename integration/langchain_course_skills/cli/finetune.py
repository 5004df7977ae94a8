"""`course-skills finetune` and `finetune-reranker`: train on a taxonomy and alignment data."""

from __future__ import annotations

import argparse
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from langchain_course_skills.cli import EXIT_INTERRUPTED
from langchain_course_skills.cli._common import (
    HelpFormatter,
    positive_float,
    positive_int,
    quiet_model_loading,
)
from langchain_course_skills.errors import CourseSkillsError
from langchain_course_skills.finetune.config import (
    CHECKPOINT_DIR,
    BiEncoderConfig,
    RerankerConfig,
    TrainingConfig,
)
from langchain_course_skills.loaders import KINDS, read_taxonomy
from langchain_course_skills.models.options import PRECISIONS
from langchain_course_skills.vocabulary import DEFAULT_EMBEDDING_MODEL

if TYPE_CHECKING:
    from langchain_core.documents import Document

    from langchain_course_skills.finetune import FinetuneResult, TrainingExample

SHOWN_METRICS = ("rp@5", "rp@10", "mrr@10")  # the summary printed after training
# The options that give the training functions' parameters named in their error messages.
PARAMETER_OPTIONS = {
    "kind": "--taxonomy-kind",
    "taxonomy": "--taxonomy-name",
    "documents": "--taxonomy",
    "examples": "--train",
    "output_dir": "--out",
    "resume": "--resume",
    "precision": "--precision",
}

EPILOG = """\
examples:
  # all-MiniLM-L6-v2 on 30,000 pairs derived from the ESCO file alone, evaluated on two gold sets
  course-skills finetune --taxonomy skills_en.csv --base ./all-MiniLM-L6-v2 --out minilm-esco \\
      --max-pairs 30000 --eval tech_validation.jsonl --eval house_validation.jsonl

  # your own alignments (the model card's {"query", "pos", "neg"} or {"query", "relevant"}),
  # mixed with the taxonomy's own pairs; a held-out 5 % of the queries is the evaluation
  course-skills finetune --taxonomy skills_de.csv --train alignments.jsonl --taxonomy-pairs \\
      --base intfloat/multilingual-e5-base --out e5-ours --epochs 5 --learning-rate 1e-5

  # stop after 500 steps and continue later
  course-skills finetune ... --out minilm-esco --stop-after 500
  course-skills finetune ... --out minilm-esco --resume

  # then use it
  course-skills index skills_en.csv --model minilm-esco
"""

RERANKER_EPILOG = """\
examples:
  # a reranker behind the fine-tuned bi-encoder; a bi-encoder base gets a fresh head
  course-skills finetune-reranker --taxonomy skills_en.csv --base ./all-MiniLM-L6-v2 \\
      --retriever minilm-esco --out reranker-esco --max-pairs 5000 \\
      --eval tech_validation.jsonl

  # then use it
  course-skills search "..." --rerank --reranker reranker-esco
"""


def _default(config: type[TrainingConfig], name: str) -> Any:
    return config.model_fields[name].default


def _add_common(parser: argparse.ArgumentParser, config: type[TrainingConfig]) -> None:
    data = parser.add_argument_group("data")
    data.add_argument(
        "--taxonomy",
        required=True,
        metavar="PATH",
        help="the skills: ESCO skills_<lang>.csv, the GRETA JSON, or your own CSV/JSONL",
    )
    data.add_argument(
        "--train",
        action="append",
        metavar="JSONL",
        help='alignment data, lines {"query", "pos": [...], "neg": [...]} or '
        '{"query", "relevant": [skill ids or labels]}; repeat for several files '
        "(default: pairs derived from the taxonomy)",
    )
    data.add_argument(
        "--taxonomy-pairs",
        action="store_true",
        help="with --train, also train on pairs derived from the taxonomy (description -> "
        "skill, alternative label -> skill)",
    )
    data.add_argument(
        "--taxonomy-kind", choices=("auto", *KINDS), default="auto", help="kind of --taxonomy"
    )
    data.add_argument("--taxonomy-name", help='metadata["taxonomy"] of a table\'s skills')
    data.add_argument("--label-column", help="the taxonomy file's label column")
    data.add_argument("--id-column", help="the taxonomy file's id column")
    data.add_argument(
        "--passage-template",
        help="how each skill is written, as when indexing (default: its label)",
    )
    data.add_argument(
        "--max-pairs",
        type=positive_int,
        help="at most this many training examples: alignment data first, then taxonomy pairs "
        "spread evenly over the skills (default: all)",
    )
    models = parser.add_argument_group("models")
    models.add_argument("--base", required=True, metavar="MODEL", help="model to start from")
    models.add_argument("--out", required=True, metavar="DIR", help="new folder for the model")
    training = parser.add_argument_group("training")
    training.add_argument(
        "--epochs", type=positive_int, default=_default(config, "epochs"), help="passes"
    )
    training.add_argument(
        "--batch-size",
        type=positive_int,
        default=_default(config, "batch_size"),
        help="examples per step",
    )
    training.add_argument(
        "--learning-rate",
        type=positive_float,
        default=_default(config, "learning_rate"),
        help="peak learning rate (linear warm-up over 10 %% of the steps, then linear decay)",
    )
    training.add_argument(
        "--hard-negatives",
        type=int,
        default=_default(config, "hard_negatives"),
        help="hard negatives per example: the given ones, topped up from the model's candidates",
    )
    training.add_argument("--seed", type=int, default=_default(config, "seed"), help="seed")
    training.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, mps")
    training.add_argument(
        "--threads",
        type=positive_int,
        help="CPU threads for torch (default: torch's choice, one per core); on a machine "
        "shared with other jobs, 1 can be several times faster",
    )
    training.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="auto",
        help="compute precision (auto: bf16 on CPUs that have it, else fp32; GPUs: bf16/fp16)",
    )
    training.add_argument(
        "--checkpoint-steps",
        type=positive_int,
        default=_default(config, "checkpoint_steps"),
        help="save a checkpoint every this many steps",
    )
    training.add_argument("--resume", action="store_true", help="continue the stopped run in --out")
    training.add_argument(
        "--stop-after",
        type=positive_int,
        metavar="STEPS",
        help="stop after this many steps (with a checkpoint); continue with --resume",
    )
    evaluation = parser.add_argument_group("evaluation")
    evaluation.add_argument(
        "--eval",
        action="append",
        metavar="GOLD",
        help="gold JSONL to evaluate on before and after (e.g. a Decorte validation file); "
        "repeat for several (default: --holdout of the training queries)",
    )
    evaluation.add_argument(
        "--holdout",
        type=float,
        default=_default(config, "holdout"),
        help="without --eval: share of the training queries held out for the evaluation "
        "(0: no evaluation)",
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `finetune` and `finetune-reranker` subcommands."""
    parser = subparsers.add_parser(
        "finetune",
        help="fine-tune the embedding model on a taxonomy and alignment data",
        description=textwrap.fill(
            "Fine-tune a sentence-transformers bi-encoder with a contrastive loss (in-batch "
            "negatives, temperature 0.05: the best measured recipe), on pairs derived from "
            "the taxonomy and/or alignment data, with the query:/passage: prefixes that "
            "E5Embeddings applies. The result drops into `course-skills index --model DIR`. "
            "Base and fine-tuned model are evaluated side by side; the folder gets a README, "
            "finetune.json and evaluation.png."
        ),
        epilog=EPILOG,
        formatter_class=HelpFormatter,
    )
    _add_common(parser, BiEncoderConfig)
    group = parser.add_argument_group("bi-encoder")
    group.add_argument(
        "--temperature",
        type=positive_float,
        default=_default(BiEncoderConfig, "temperature"),
        help="softmax temperature of the loss (scale = 1 / temperature)",
    )
    group.add_argument(
        "--query-max-length",
        type=positive_int,
        default=_default(BiEncoderConfig, "query_max_length"),
        help="tokens of a query",
    )
    group.add_argument(
        "--passage-max-length",
        type=positive_int,
        default=_default(BiEncoderConfig, "passage_max_length"),
        help="tokens of a passage",
    )
    parser.set_defaults(
        handler=run_bi_encoder,
        model_options={"embedding": "--base DIR"},
        skip_model={},
        parameter_options=PARAMETER_OPTIONS,
    )

    reranker = subparsers.add_parser(
        "finetune-reranker",
        help="fine-tune the cross-encoder reranker on the same data",
        description=textwrap.fill(
            "Fine-tune a cross-encoder (binary cross-entropy on each positive and its hard "
            "negatives, mined from --retriever's candidates) that SkillCrossEncoder and "
            "`course-skills search --rerank --reranker DIR` load. A bi-encoder folder as --base "
            "starts from its encoder weights with a fresh classification head. The evaluation "
            "compares the retriever's order, the base reranker and the fine-tuned one."
        ),
        epilog=RERANKER_EPILOG,
        formatter_class=HelpFormatter,
    )
    _add_common(reranker, RerankerConfig)
    group = reranker.add_argument_group("reranker")
    group.add_argument(
        "--retriever",
        default=DEFAULT_EMBEDDING_MODEL,
        metavar="MODEL",
        help="bi-encoder that mines negatives and retrieves the evaluation's candidates",
    )
    group.add_argument(
        "--max-length",
        type=positive_int,
        default=_default(RerankerConfig, "max_length"),
        help="tokens of a (query, skill) pair",
    )
    reranker.set_defaults(
        handler=run_reranker,
        model_options={"embedding": "--retriever DIR", "cross-encoder": "--base DIR"},
        skip_model={},
        parameter_options=PARAMETER_OPTIONS,
    )


def _documents(args: argparse.Namespace) -> list[Document]:
    taxonomy = read_taxonomy(args.taxonomy, args.taxonomy_kind)
    documents = taxonomy.documents(
        taxonomy=args.taxonomy_name,
        label_column=args.label_column,
        id_column=args.id_column,
        passage_template=args.passage_template,
    )
    print(f"{taxonomy.path.name}: {len(documents)} skills ({taxonomy.kind})", file=sys.stderr)
    return documents


def _examples(args: argparse.Namespace, documents: list[Document]) -> list[TrainingExample]:
    from langchain_course_skills.finetune import read_alignments, taxonomy_examples

    examples: list[TrainingExample] = []
    for path in args.train or []:
        examples.extend(read_alignments(path, documents))
    if not args.train or args.taxonomy_pairs:
        examples.extend(taxonomy_examples(documents))
    return examples


def _eval_files(args: argparse.Namespace) -> dict[str, str]:
    files: dict[str, str] = {}
    for path in args.eval or []:
        name = Path(path).stem
        while name in files:
            name += "'"
        files[name] = path
    return files


def _sources(args: argparse.Namespace) -> dict[str, str]:
    sources = {"taxonomy": str(args.taxonomy)}
    if args.train:
        sources["alignment files"] = ", ".join(args.train)
        sources["taxonomy pairs"] = "yes" if args.taxonomy_pairs else "no"
    return sources


def _config(cls: type[TrainingConfig], args: argparse.Namespace, **extra: Any) -> Any:
    values = {
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "learning_rate": args.learning_rate,
        "hard_negatives": args.hard_negatives,
        "max_pairs": args.max_pairs,
        "holdout": args.holdout,
        "seed": args.seed,
        "device": args.device,
        "precision": args.precision,
        "checkpoint_steps": args.checkpoint_steps,
        **extra,
    }
    try:
        return cls(**values)
    except ValidationError as exc:
        problems = "; ".join(
            f"--{'-'.join(str(p) for p in e['loc']).replace('_', '-')}: {e['msg']}"
            for e in exc.errors()
        )
        msg = f"invalid options: {problems}"
        raise CourseSkillsError(msg) from exc


def _train(args: argparse.Namespace, call: Callable[[], FinetuneResult]) -> int:
    quiet_model_loading(args)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    try:
        result = call()
    except KeyboardInterrupt:
        print(
            f"interrupted; the last checkpoint is in {Path(args.out) / CHECKPOINT_DIR}: run the "
            "same command with --resume to continue from it",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    _print_result(result)
    return 0


def _print_result(result: FinetuneResult) -> None:
    minutes = result.train_seconds / 60
    if not result.completed:
        print(
            f"stopped after step {result.steps} of {result.total_steps} ({minutes:.1f} min of "
            f"training); the checkpoint is in {result.output_dir / CHECKPOINT_DIR}: run the same "
            "command with --resume to continue"
        )
        return
    print(
        f"trained {result.steps} steps on {result.examples} examples in {minutes:.1f} min; "
        f"model saved to {result.output_dir}"
    )
    for name, models in result.metrics.items():
        print(f"\n{name}:")
        print(f"  {'model':<22}" + "".join(f"{m:>9}" for m in SHOWN_METRICS))
        for model, values in models.items():
            print(f"  {model:<22}" + "".join(f"{values[m]:>9.3f}" for m in SHOWN_METRICS))
    if result.chart is not None:
        print(f"\nchart: {result.chart}")


def run_bi_encoder(args: argparse.Namespace) -> int:
    """Fine-tune the bi-encoder and print the metrics before and after."""
    from langchain_course_skills.finetune import finetune_bi_encoder

    config = _config(
        BiEncoderConfig,
        args,
        temperature=args.temperature,
        query_max_length=args.query_max_length,
        passage_max_length=args.passage_max_length,
    )
    documents = _documents(args)
    examples = _examples(args, documents)
    return _train(
        args,
        lambda: finetune_bi_encoder(
            args.base,
            args.out,
            documents,
            examples,
            config=config,
            eval_files=_eval_files(args),
            sources=_sources(args),
            resume=args.resume,
            stop_after=args.stop_after,
        ),
    )


def run_reranker(args: argparse.Namespace) -> int:
    """Fine-tune the reranker and print the reranked metrics before and after."""
    from langchain_course_skills.finetune import finetune_reranker

    config = _config(RerankerConfig, args, max_length=args.max_length)
    documents = _documents(args)
    examples = _examples(args, documents)
    return _train(
        args,
        lambda: finetune_reranker(
            args.base,
            args.out,
            documents,
            examples,
            retriever=args.retriever,
            config=config,
            eval_files=_eval_files(args),
            sources=_sources(args),
            resume=args.resume,
            stop_after=args.stop_after,
        ),
    )
