"""Build an ESCO skill store and search it with reranking: the model card's recipe, done right.

    python examples/esco_search.py --esco ../shared/data/esco/skills_de_labels_v1.0.3.csv \
        --label-column preferredLabel_de

Offline, pass local model folders with --model and --reranker (or --no-rerank). The store goes
to the per-user data folder (printed), where lcel_chain.py and agent_tool.py find it.
"""

import argparse

from langchain_course_skills import (
    E5Embeddings,
    SkillCrossEncoder,
    SkillReranker,
    SkillRetriever,
    build_skill_store,
    load_esco_skills,
)
from langchain_course_skills.store import user_store_dir

COURSE = (
    "WordPress Grundlagen: In diesem Kurs lernen Sie, wie Sie mit WordPress eine eigene Website "
    "erstellen und pflegen. Sie planen die Struktur Ihrer Seiten mit einem Wireframe, "
    "installieren Themes und Plugins und verwalten Inhalte im Content-Management-System."
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--esco", required=True, help="an ESCO skills_<lang>.csv file")
    parser.add_argument("--label-column", help="label column of a label-only file")
    parser.add_argument("--db", default=str(user_store_dir("esco-skills-db")))
    parser.add_argument("--model", default="isy-thl/multilingual-e5-base-course-skill-tuned")
    parser.add_argument("--reranker", default="isy-thl/bge-reranker-base-course-skill-tuned")
    parser.add_argument("--no-rerank", action="store_true", help="rank by similarity only")
    parser.add_argument("--limit", type=int, help="index only the first N skills (a quick try)")
    parser.add_argument("--course", default=COURSE)
    args = parser.parse_args()

    columns = {"preferredLabel": args.label_column} if args.label_column else None
    skills = load_esco_skills(args.esco, columns=columns)[: args.limit]
    embeddings = E5Embeddings(model_name=args.model)
    # Safe to run again: unchanged skills are skipped, nothing is duplicated.
    store = build_skill_store(skills, embeddings, persist_directory=args.db)
    print(f"store: {args.db}")

    reranker = None
    if not args.no_rerank:
        cross_encoder = SkillCrossEncoder(model_name=args.reranker)
        reranker = SkillReranker(cross_encoder=cross_encoder, top_n=10)
    retriever = SkillRetriever(store=store, k=30, reranker=reranker)
    for rank, doc in enumerate(retriever.invoke(args.course)[:10], start=1):
        relevance = doc.metadata.get("relevance_score")
        scores = f"similarity={doc.metadata['similarity']:.3f}"
        if relevance is not None:
            scores += f" relevance={relevance:.3f}"
        print(f"{rank:2}. {doc.metadata['label']:<55} {scores}  {doc.metadata['uri']}")


if __name__ == "__main__":
    main()
