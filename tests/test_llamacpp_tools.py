"""ChatLlamaCpp as a LangChain citizen: the wire format, grammars, tool_choice, streamed tool calls, tool
histories, structured output, metadata, and LangGraph's and LangChain's own agents on the embedded SmolLM2."""

from __future__ import annotations

import json

import llama_cpp
import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import tool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import BaseModel, Field
from typing_extensions import TypedDict

from models import toolcalls
from models.gbnf import literal
from models.grammar_chat import DECIDES_TOOLS_FROM, tool_request
from models.llamacpp import ChatLlamaCpp, locate
from podium.settings import Settings
from tests.grammar_check import parses
from tools import select

MODEL_PATH = str(locate("smollm2-135m", Settings())[0])


@tool
def get_weather(location: str) -> str:
    """Get the weather at a location.

    Args:
        location: The city.
    """
    return "It's sunny."


@tool
def no_args() -> str:
    """Return a fixed word."""
    return "x"


class Person(BaseModel):
    """A person."""

    name: str = Field(description="their name")
    age: int = Field(description="their age in years")


class PersonDict(TypedDict):
    """A person."""

    name: str
    age: int


FUNCTIONS = [convert_to_openai_tool(t)["function"] for t in (get_weather, no_args)]


@pytest.fixture(scope="module")
def vocab():
    return llama_cpp.Llama(model_path=MODEL_PATH, vocab_only=True, verbose=False)


@pytest.mark.parametrize("given, expected", [
    (None, "auto"), ("auto", "auto"), ("any", "any"), ("required", "any"), (True, "any"), ("none", "none"),
    ("get_weather", "get_weather"), ({"type": "function", "function": {"name": "no_args"}}, "no_args"),
    ({"type": "tool", "name": "get_weather"}, "get_weather"), ({"type": "any"}, "any"),
])
def test_every_spelling_of_tool_choice(given, expected):
    assert toolcalls.choice(given, ["get_weather", "no_args"]) == expected


@pytest.mark.parametrize("bad", ["nope", {"type": "function", "function": {"name": "nope"}}, 3])
def test_a_tool_choice_naming_no_bound_tool_is_refused(bad):
    with pytest.raises(ValueError, match="names no bound tool"):
        toolcalls.choice(bad, ["get_weather"])


@pytest.mark.parametrize("choice", ["auto", "any", "get_weather", "no_args"])
def test_grammars_from_schemas_parse_in_llama_cpp(vocab, choice):
    only = choice if choice not in ("auto", "any") else None
    text = toolcalls.grammar(toolcalls.calls_gbnf(FUNCTIONS, only=only), choice)
    assert parses(vocab, text)
    assert ('"{\\"tool\\": \\"get_weather\\"' in text) == (only in (None, "get_weather"))
    assert ("text ::=" in text) == (choice == "auto"), "text is allowed only when the model may answer"


def test_string_arguments_can_be_spans_copied_from_the_message(vocab):
    text = toolcalls.grammar(toolcalls.calls_gbnf(FUNCTIONS, spans='Weather in "Paris"?'), "any")
    assert parses(vocab, text)
    assert '"\\"" span "\\""' in text and "span ::=" in text and "podium-span" not in text
    assert f"::= {literal(chr(34))} " in text, "quotes in the message are escaped as JSON"


def test_nested_schemas_with_refs_parse(vocab):
    class Team(BaseModel):
        """A team."""

        lead: Person
        members: list[Person]

    text = toolcalls.grammar(toolcalls.calls_gbnf([convert_to_openai_tool(Team)["function"]]), "any")
    assert parses(vocab, text)


def read(text: str, step: int, *, calls_only: bool = False) -> tuple[AIMessageChunk, toolcalls.WireReader]:
    reader, full = toolcalls.WireReader(calls_only=calls_only), AIMessageChunk(content="")
    for start in range(0, len(text), step):
        shown, calls = reader.feed(text[start:start + step])
        full = full + AIMessageChunk(content=shown, tool_call_chunks=calls)
    return full, reader


@pytest.mark.parametrize("step", [1, 4, 1000])
def test_the_reader_streams_calls_whatever_the_pieces(step):
    text = ('[{"tool": "get_weather", "args": {"location": "Paris \\"}{ \\\\ 😀"}}, '
            '{"tool": "no_args", "args": {}}]')
    full, reader = read(text, step)
    assert full.content == "" and not reader.repeated
    assert [(c["name"], c["args"]) for c in full.tool_calls] == [("get_weather", {"location": 'Paris "}{ \\ 😀'}),
                                                                 ("no_args", {})]
    assert len({c["id"] for c in full.tool_calls}) == 2


def test_the_first_call_streams_as_it_is_written():
    reader = toolcalls.WireReader(calls_only=True)
    assert reader.feed('[{"tool": "get_weather", "args": {"loc') == ("", [
        {"name": "get_weather", "args": '{"loc', "id": reader._call["id"], "index": 0, "type": "tool_call_chunk"}])
    assert reader.feed('ation": "Rome"}}')[1][0]["args"] == 'ation": "Rome"}'


def test_a_repeated_call_stops_the_reply_and_is_dropped():
    one = '{"tool": "no_args", "args": {}}'
    full, reader = read(f"[{one}, {one}, {one}", 3)
    assert reader.repeated and len(full.tool_calls) == 1


def test_text_is_text():
    full, _ = read("  Hello [there]", 2)
    assert full.content == "  Hello [there]" and not full.tool_call_chunks


def test_histories_render_calls_in_the_wire_format_and_results_as_user_turns():
    call = {"name": "get_weather", "args": {"location": "Paris"}, "id": "c1", "type": "tool_call"}
    messages = [SystemMessage("Be brief."), HumanMessage("Weather in Paris and Rome?"),
                AIMessage([{"type": "text", "text": "Checking."},
                           {"type": "tool_use", "id": "c1", "name": "get_weather", "input": {"location": "Paris"}}],
                          tool_calls=[call, {**call, "id": "c2", "args": {"location": "Rome"}}]),
                ToolMessage("Sunny", tool_call_id="c1"),
                ToolMessage([{"type": "text", "text": "no such city"}], tool_call_id="c2", status="error")]
    rendered = toolcalls.to_chat(messages, tools="TOOLS", examples=[("hi?", [{"name": "no_args", "args": {}}])])
    assert [m["role"] for m in rendered] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert rendered[0]["content"] == "Be brief.\n\nTOOLS"
    assert rendered[2] == {"role": "assistant", "content": '[{"tool": "no_args", "args": {}}]'}
    assert rendered[4]["content"] == ('Checking.\n[{"tool": "get_weather", "args": {"location": "Paris"}}, '
                                      '{"tool": "get_weather", "args": {"location": "Rome"}}]')
    assert rendered[5]["content"] == "Result of get_weather: Sunny\nError from get_weather: no such city"


def test_tool_requests_come_from_call_options():
    options = {"tools": [{"type": "function", "function": FUNCTIONS[0]}], "tool_choice": "any", "seed": 1}
    request = tool_request(options)
    assert options == {"seed": 1} and request.choice == "any" and request.functions == [FUNCTIONS[0]]
    assert tool_request({}) is None
    auto = tool_request({"tools": FUNCTIONS})
    assert auto.deciding("call_then_answer", [HumanMessage("q")]).choice == "any"
    assert auto.deciding("call_then_answer", [ToolMessage("r", tool_call_id="x")]).choice == "none"
    assert auto.deciding("model", [HumanMessage("q")]).choice == "auto"


def test_standard_metadata_without_loading_the_model():
    model = ChatLlamaCpp(model_path=MODEL_PATH, spec_name="llamacpp/smollm2-135m", temperature=0.3, max_tokens=7,
                         stop=["END"])
    assert model._get_ls_params(stop=["x"]) == {
        "ls_provider": "llamacpp", "ls_model_name": "llamacpp/smollm2-135m", "ls_model_type": "chat",
        "ls_temperature": 0.3, "ls_max_tokens": 7, "ls_stop": ["x", "END"]}
    assert ChatLlamaCpp(model_path=MODEL_PATH).model_name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert 0 < ChatLlamaCpp(model_path=MODEL_PATH).parameters() < DECIDES_TOOLS_FROM, "135M: too small to decide"


@pytest.fixture(scope="module")
def llm() -> ChatLlamaCpp:
    return ChatLlamaCpp(model_path=MODEL_PATH, n_ctx=2048, n_threads=1, temperature=0.0, max_tokens=48)


@pytest.mark.model
def test_tool_choice_forces_a_call_of_the_named_tool_and_none_forbids_calls(llm):
    named = llm.bind_tools([get_weather, no_args], tool_choice="get_weather").invoke("Hello!")
    assert [c["name"] for c in named.tool_calls] == ["get_weather"] and named.content == ""
    assert named.response_metadata["finish_reason"] == "tool_calls"
    assert isinstance(named.tool_calls[0]["args"]["location"], str)
    plain = llm.bind_tools([get_weather], tool_choice="none").invoke("Say hello.", max_tokens=8)
    assert plain.content and not plain.tool_calls


@pytest.mark.model
def test_streamed_tool_call_chunks_add_up_to_the_call(llm):
    chunks = list(llm.bind_tools([get_weather], tool_choice="any").stream("What is the weather in Paris?"))
    assert any(c.tool_call_chunks for c in chunks)
    full = sum(chunks[1:], chunks[0])
    (call,) = full.tool_calls
    assert call["name"] == "get_weather" and set(call["args"]) == {"location"}
    assert full.usage_metadata["output_tokens"] > 0 and full.response_metadata["model_name"]


@pytest.mark.model
@pytest.mark.parametrize("method", ["json_schema", "function_calling"])
@pytest.mark.parametrize("schema", [Person, PersonDict, Person.model_json_schema()])
def test_structured_output_fits_the_schema(llm, method, schema):
    if schema is PersonDict and method == "function_calling":
        pytest.skip("one TypedDict case is enough")  # keeps make test short; json_schema covers TypedDicts
    result = llm.with_structured_output(schema, method=method, include_raw=True).invoke(
        "Ada Lovelace was 36 years old. Who is she?")
    assert result["parsing_error"] is None
    parsed = result["parsed"]
    data = parsed.model_dump() if isinstance(parsed, BaseModel) else parsed
    assert isinstance(data["name"], str) and isinstance(data["age"], int)
    assert isinstance(result["raw"], AIMessage)


@pytest.mark.model
def test_json_mode_gives_a_json_object(llm):
    out = llm.with_structured_output(None, method="json_mode").invoke('Reply with a JSON object {"ok": true}.')
    assert isinstance(out, dict)


@pytest.fixture(scope="module")
def calculator():
    return select(["calculator"])["calculator"].as_langchain()


def tool_turn(messages) -> tuple[AIMessage, ToolMessage]:
    call = next(m for m in messages if isinstance(m, AIMessage) and m.tool_calls)
    result = next(m for m in messages if isinstance(m, ToolMessage))
    return call, result


@pytest.mark.model
def test_langgraph_prebuilt_react_agent_calls_the_calculator(llm, calculator):
    from langgraph.prebuilt import create_react_agent

    agent = create_react_agent(llm, [calculator])
    messages = agent.invoke({"messages": [("user", "What is 1234 * 5678?")]})["messages"]
    call, result = tool_turn(messages)
    assert call.tool_calls[0]["name"] == "calculator" and result.content == "7006652"
    assert isinstance(messages[-1], AIMessage) and not messages[-1].tool_calls, "the agent answered and stopped"


@pytest.mark.model
def test_langchain_create_agent_calls_the_calculator(llm, calculator):
    from langchain.agents import create_agent

    agent = create_agent(llm, tools=[calculator])
    messages = agent.invoke({"messages": [HumanMessage("What is 1234 * 5678?")]})["messages"]
    call, result = tool_turn(messages)
    assert call.tool_calls[0]["name"] == "calculator" and result.content == "7006652"
    assert json.loads(json.dumps(call.tool_calls[0]["args"])) == call.tool_calls[0]["args"]
    assert isinstance(messages[-1], AIMessage) and not messages[-1].tool_calls
