"""An LCEL chain that feeds the retrieved skills into a prompt for a chat model.

    python examples/lcel_chain.py              # the store that esco_search.py built
    python examples/lcel_chain.py --db skills-db

The store's own model is used (pass --model only to override it). A fake chat model keeps the
example offline; swap in any LangChain chat model.
"""

import argparse

from langchain_core.documents import Document
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnablePassthrough

from langchain_course_skills import (
    E5Embeddings,
    SkillRetriever,
    open_skill_store,
    read_store_fingerprint,
)
from langchain_course_skills.store import user_store_dir

PROMPT = ChatPromptTemplate.from_messages(
    [
        ("system", "You write the 'skills you will learn' section of a course page."),
        (
            "human",
            "Course:\n{course}\n\nCandidate skills (label, similarity):\n{skills}\n\n"
            "List the five skills the course really teaches.",
        ),
    ]
)


def format_skills(docs: list[Document]) -> str:
    return "\n".join(f"- {d.metadata['label']} ({d.metadata['similarity']:.2f})" for d in docs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=str(user_store_dir("esco-skills-db")))
    parser.add_argument("--model", help="default: the model the store was built with")
    parser.add_argument("--course", default="WordPress Grundlagen: eine eigene Website erstellen")
    args = parser.parse_args()

    model = args.model or read_store_fingerprint(persist_directory=args.db)["model"]
    store = open_skill_store(E5Embeddings(model_name=model), persist_directory=args.db)
    retriever = SkillRetriever(store=store, k=10)
    chat_model = FakeListChatModel(responses=["(the chat model's answer would appear here)"])
    chain = (
        {"skills": retriever | format_skills, "course": RunnablePassthrough()}
        | RunnablePassthrough.assign(prompt=PROMPT)
        | (lambda inputs: (print(inputs["prompt"].to_string()), inputs["prompt"])[1])
        | chat_model
        | StrOutputParser()
    )
    print(chain.invoke(args.course))


if __name__ == "__main__":
    main()
