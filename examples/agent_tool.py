"""An agent that calls the skill search tool; a scripted fake chat model keeps it offline.

    python examples/agent_tool.py              # the store that esco_search.py built
    python examples/agent_tool.py --db skills-db

The store's own model is used (pass --model only to override it).

With a real chat model (`init_chat_model(...)`), bind the tool with `model.bind_tools([tool])`
and the same loop works unchanged.
"""

import argparse

from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage

from langchain_course_skills import (
    E5Embeddings,
    SkillRetriever,
    create_skill_search_tool,
    open_skill_store,
    read_store_fingerprint,
)
from langchain_course_skills.store import user_store_dir

COURSE = "WordPress Grundlagen: eine eigene Website mit WordPress erstellen und pflegen"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=str(user_store_dir("esco-skills-db")))
    parser.add_argument("--model", help="default: the model the store was built with")
    args = parser.parse_args()

    model = args.model or read_store_fingerprint(persist_directory=args.db)["model"]
    store = open_skill_store(E5Embeddings(model_name=model), persist_directory=args.db)
    tool = create_skill_search_tool(SkillRetriever(store=store, k=30))
    call = {"name": tool.name, "args": {"course_description": COURSE, "max_skills": 5}, "id": "1"}
    model = FakeMessagesListChatModel(
        responses=[
            AIMessage(content="", tool_calls=[call]),
            AIMessage(content="The course teaches the skills listed by the tool above."),
        ]
    )

    messages: list[BaseMessage] = [HumanMessage(f"Which skills does this course teach? {COURSE}")]
    while True:
        reply = model.invoke(messages)
        messages.append(reply)
        if not isinstance(reply, AIMessage) or not reply.tool_calls:
            break
        for tool_call in reply.tool_calls:
            result = tool.invoke({**tool_call, "type": "tool_call"})
            assert isinstance(result, ToolMessage)
            print(f"tool {tool.name} returned:\n{result.content}\n")
            messages.append(result)
    print(f"agent: {messages[-1].content}")


if __name__ == "__main__":
    main()
