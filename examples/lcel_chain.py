"""An LCEL chain that feeds the retrieved skills into a prompt for a chat model.

    python examples/lcel_chain.py --db esco-skills-db

A fake chat model keeps the example offline; swap in any LangChain chat model.
"""

import argparse

from langchain_core.documents import Document
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnablePassthrough

from langchain_course_skills import E5Embeddings, SkillRetriever, open_skill_store

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
    parser.add_argument("--db", default="esco-skills-db")
    parser.add_argument("--model", default="isy-thl/multilingual-e5-base-course-skill-tuned")
    parser.add_argument("--course", default="WordPress Grundlagen: eine eigene Website erstellen")
    args = parser.parse_args()

    store = open_skill_store(E5Embeddings(model_name=args.model), persist_directory=args.db)
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
