"""An agent that calls the skill search tool, built with LangChain's `create_agent`.

    pip install langchain                      # create_agent lives in the langchain package
    python examples/agent_tool.py              # the store that esco_search.py built
    python examples/agent_tool.py --db skills-db

The store's own model is used (pass --model only to override it). A scripted fake chat model
keeps the example offline; with a real one (`init_chat_model("...")`) the agent is the same.
"""

import argparse
from collections.abc import Sequence
from typing import Any

from langchain.agents import create_agent
from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage, ToolMessage

from langchain_course_skills import (
    E5Embeddings,
    SkillRetriever,
    create_skill_search_tool,
    open_skill_store,
    read_store_fingerprint,
)
from langchain_course_skills.store import user_store_dir

COURSE = "WordPress Grundlagen: eine eigene Website mit WordPress erstellen und pflegen"


class ScriptedToolCallingModel(FakeMessagesListChatModel):
    """langchain-core's scripted chat model, accepting tools as a real tool-calling model does."""

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> "ScriptedToolCallingModel":
        return self


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=str(user_store_dir("esco-skills-db")))
    parser.add_argument("--model", help="default: the model the store was built with")
    args = parser.parse_args()

    model = args.model or read_store_fingerprint(persist_directory=args.db)["model"]
    store = open_skill_store(E5Embeddings(model_name=model), persist_directory=args.db)
    tool = create_skill_search_tool(SkillRetriever(store=store, k=30))
    call = {"name": tool.name, "args": {"course_description": COURSE, "max_skills": 5}, "id": "1"}
    chat_model = ScriptedToolCallingModel(
        responses=[
            AIMessage(content="", tool_calls=[call]),
            AIMessage(content="The course teaches the skills listed by the tool above."),
        ]
    )

    agent = create_agent(chat_model, tools=[tool])
    result = agent.invoke(
        {"messages": [("user", f"Which skills does this course teach? {COURSE}")]}
    )
    for message in result["messages"]:
        if isinstance(message, ToolMessage):
            print(f"tool {message.name} returned:\n{message.content}\n")
    print(f"agent: {result['messages'][-1].content}")


if __name__ == "__main__":
    main()
