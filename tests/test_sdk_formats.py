"""One policy, every API format, the official SDKs as clients: chat and legacy completions, Responses
and embeddings (``openai``), Messages (``anthropic``). Black box: SDK -> gateway with guard -> mock LLM.

The policy has no per-format configuration: the same blocklist and PII redaction apply to every route,
input and output, JSON and streams.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import anthropic
import openai
import pytest
from anthropic.types import TextBlock, ToolUseBlock
from openai.types.responses import ResponseFunctionToolCall

from tests.conftest import anth, oai, user

BLOCKED = "competitor-name"
EMAIL = "jane.doe@example.com"
REDACTED = "[PII REDACTED]"  # the default [pii] replacement
BLOCKLIST = {
    "type": "blocklist",
    "patterns": [{"pattern": BLOCKED, "category": "blocked_content", "message": "No competitors"}],
}
POLICY: dict[str, Any] = {
    "input": {"providers": [BLOCKLIST]},
    "output": {"streaming_mode": "per_chunk", "providers": [BLOCKLIST]},
    "pii": {"action": "redact", "apply_to": "both"},
}
# A named guardrail that answers a block the way a model refuses, instead of with an error.
REFUSE: dict[str, Any] = {
    "guardrails": [
        {
            "name": "polite-refusal",
            "type": "blocklist",
            "mode": "pre_call",
            "default_on": True,
            "disable_exception_on_block": True,
            "patterns": [{"pattern": BLOCKED, "message": "No competitors"}],
        }
    ]
}
# The mock's answer, streamed 3 characters at a time: the address is split across several deltas.
PII_REPLY = {"X-Mock-Reply": f"write to {EMAIL} today", "X-Mock-Chunk": "3"}
PII_REPLY_REDACTED = f"write to {REDACTED} today"
BLOCKED_REPLY = {"X-Mock-Reply": f"fine so far, then the {BLOCKED} and more", "X-Mock-Chunk": "3"}


def dumps(events: list[Any]) -> list[dict[str, Any]]:
    """SDK event objects as plain JSON (no serializer warnings for the stream helpers' generic types)."""
    return [e.model_dump(mode="json", warnings=False) for e in events]


# -- a blocked word in the request: the SDK's 400, and the upstream is never called -----------------

OpenAICall = Callable[[openai.AsyncOpenAI, str], Awaitable[object]]
OPENAI_INPUTS: dict[str, OpenAICall] = {
    "chat": lambda c, t: c.chat.completions.create(model="m", messages=user(t)),
    "chat-stream": lambda c, t: c.chat.completions.create(model="m", messages=user(t), stream=True),
    "completions": lambda c, t: c.completions.create(model="m", prompt=t),
    "completions-stream": lambda c, t: c.completions.create(model="m", prompt=t, stream=True),
    "responses-input-string": lambda c, t: c.responses.create(model="m", input=t),
    "responses-input-items": lambda c, t: c.responses.create(
        model="m", input=[{"role": "user", "content": [{"type": "input_text", "text": t}]}]
    ),
    "responses-instructions": lambda c, t: c.responses.create(model="m", input="hi", instructions=t),
    "responses-stream": lambda c, t: c.responses.create(model="m", input=t, stream=True),
    "responses-input-tokens": lambda c, t: c.responses.input_tokens.count(model="m", input=t),
    "embeddings-string": lambda c, t: c.embeddings.create(model="m", input=t),
    "embeddings-list": lambda c, t: c.embeddings.create(model="m", input=["fine", t]),
}


@pytest.mark.parametrize("call", list(OPENAI_INPUTS))
async def test_openai_blocked_input_raises_bad_request_with_content_filter(
    make_stack: Any, call: str
) -> None:
    async with make_stack(POLICY) as s, oai(s) as client:
        with pytest.raises(openai.BadRequestError) as info:
            await OPENAI_INPUTS[call](client, f"tell me about {BLOCKED}")
        assert info.value.status_code == 400
        assert info.value.code == "content_filter"
        assert s.record.bodies == []


AnthropicCall = Callable[[anthropic.AsyncAnthropic, str], Awaitable[object]]
ANTHROPIC_INPUTS: dict[str, AnthropicCall] = {
    "message-string": lambda c, t: c.messages.create(model="m", max_tokens=16, messages=user(t)),
    "message-text-block": lambda c, t: c.messages.create(
        model="m", max_tokens=16, messages=[{"role": "user", "content": [{"type": "text", "text": t}]}]
    ),
    "system": lambda c, t: c.messages.create(model="m", max_tokens=16, system=t, messages=user("hi")),
    "system-blocks": lambda c, t: c.messages.create(
        model="m", max_tokens=16, system=[{"type": "text", "text": t}], messages=user("hi")
    ),
    "stream": lambda c, t: c.messages.create(model="m", max_tokens=16, messages=user(t), stream=True),
    "count-tokens": lambda c, t: c.messages.count_tokens(model="m", messages=user(t)),
}


@pytest.mark.parametrize("call", list(ANTHROPIC_INPUTS))
async def test_anthropic_blocked_input_raises_bad_request_with_content_filter(
    make_stack: Any, call: str
) -> None:
    async with make_stack(POLICY) as s, anth(s) as client:
        with pytest.raises(anthropic.BadRequestError) as info:
            await ANTHROPIC_INPUTS[call](client, f"tell me about {BLOCKED}")
        assert info.value.status_code == 400
        body: Any = info.value.body
        assert body["error"]["type"] == "invalid_request_error"
        assert body["error"]["code"] == "content_filter"
        assert s.record.bodies == []


async def test_anthropic_stream_helper_raises_bad_request_on_a_blocked_input(make_stack: Any) -> None:
    async with make_stack(POLICY) as s, anth(s) as client:
        with pytest.raises(anthropic.BadRequestError):
            async with client.messages.stream(model="m", max_tokens=16, messages=user(BLOCKED)) as stream:
                await stream.get_final_message()
        assert s.record.bodies == []


async def test_token_count_routes_answer_clean_requests(make_stack: Any) -> None:
    async with make_stack(POLICY) as s, oai(s) as openai_client, anth(s) as anthropic_client:
        counted = await openai_client.responses.input_tokens.count(model="m", input="count these words")
        assert counted.input_tokens > 0
        tokens = await anthropic_client.messages.count_tokens(model="m", messages=user("count these words"))
        assert tokens.input_tokens > 0
        assert len(s.record.bodies) == 2


# -- PII in the request is redacted before the upstream sees it -------------------------------------


async def test_chat_and_completions_input_pii_is_redacted(make_stack: Any) -> None:
    async with make_stack(POLICY) as s, oai(s) as client:
        chat = await client.chat.completions.create(model="m", messages=user(f"mail {EMAIL}"))
        assert s.record.bodies[-1]["messages"][0]["content"] == f"mail {REDACTED}"
        assert chat.choices[0].message.content == f"You said: mail {REDACTED}"
        legacy = await client.completions.create(model="m", prompt=f"mail {EMAIL}")
        assert s.record.bodies[-1]["prompt"] == f"mail {REDACTED}"
        assert legacy.choices[0].text == f"You said: mail {REDACTED}"


async def test_chat_text_parts_are_redacted_each_in_its_own_part(make_stack: Any) -> None:
    async with make_stack(POLICY) as s, oai(s) as client:
        await client.chat.completions.create(
            model="m",
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "mail a@b.io"},
                        {"type": "text", "text": "or c@d.io"},
                        {"type": "text", "text": "thanks"},
                    ],
                }
            ],
        )
        parts = s.record.bodies[-1]["messages"][0]["content"]
        assert [p["text"] for p in parts] == [f"mail {REDACTED}", f"or {REDACTED}", "thanks"]


async def test_responses_input_string_is_redacted(make_stack: Any) -> None:
    async with make_stack(POLICY) as s, oai(s) as client:
        answer = await client.responses.create(model="m", input=f"mail {EMAIL} please")
        assert s.record.bodies[-1]["input"] == f"mail {REDACTED} please"
        assert answer.output_text == f"You said: mail {REDACTED} please"


async def test_responses_input_items_and_instructions_are_redacted(make_stack: Any) -> None:
    async with make_stack(POLICY) as s, oai(s) as client:
        answer = await client.responses.create(
            model="m",
            instructions="the operator is ops@example.com; be brief",
            input=[
                {"role": "user", "content": "an easy message from bob@example.com"},
                {
                    "type": "message",
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": "first part"},
                        {"type": "input_text", "text": f"second part, {EMAIL}"},
                    ],
                },
            ],
        )
        sent = s.record.bodies[-1]
        assert sent["instructions"] == f"the operator is {REDACTED}; be brief"
        assert sent["input"][0]["content"] == f"an easy message from {REDACTED}"
        assert [p["text"] for p in sent["input"][1]["content"]] == ["first part", f"second part, {REDACTED}"]
        assert "@example.com" not in s.record.raw_bodies[-1].decode()
        assert answer.output_text == f"You said: first part second part, {REDACTED}"
        assert "@example.com" not in answer.model_dump_json(warnings=False)  # the echoed instructions too


async def test_anthropic_system_and_message_blocks_are_redacted(make_stack: Any) -> None:
    async with make_stack(POLICY) as s, anth(s) as client:
        await client.messages.create(
            model="m",
            max_tokens=16,
            system="the operator is ops@example.com",
            messages=[{"role": "user", "content": f"plain {EMAIL}"}],
        )
        assert s.record.bodies[-1]["system"] == f"the operator is {REDACTED}"
        assert s.record.bodies[-1]["messages"][0]["content"] == f"plain {REDACTED}"
        answer = await client.messages.create(
            model="m",
            max_tokens=16,
            system=[{"type": "text", "text": "call 415-555-0132 for help"}],
            messages=[
                {"role": "user", "content": "earlier"},
                {"role": "assistant", "content": [{"type": "text", "text": "noted"}]},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "see"},
                        {"type": "text", "text": f"mail {EMAIL}"},
                    ],
                },
            ],
        )
        sent = s.record.bodies[-1]
        assert sent["system"] == [{"type": "text", "text": f"call {REDACTED} for help"}]
        assert [b["text"] for b in sent["messages"][2]["content"]] == ["see", f"mail {REDACTED}"]
        block = answer.content[0]
        assert isinstance(block, TextBlock) and block.text == f"You said: see mail {REDACTED}"


async def test_embeddings_input_is_redacted_and_the_vectors_still_decode(make_stack: Any) -> None:
    async with make_stack(POLICY) as s, oai(s) as client:
        one = await client.embeddings.create(model="m", input=f"mail {EMAIL}")
        assert s.record.bodies[-1]["input"] == f"mail {REDACTED}"
        assert s.record.bodies[-1]["encoding_format"] == "base64"  # the SDK's default, kept
        assert len(one.data) == 1 and len(one.data[0].embedding) == 8
        assert all(isinstance(x, float) for x in one.data[0].embedding)
        many = await client.embeddings.create(model="m", input=["no pii here", f"mail {EMAIL}"])
        assert s.record.bodies[-1]["input"] == ["no pii here", f"mail {REDACTED}"]
        assert [d.index for d in many.data] == [0, 1]


@pytest.mark.parametrize("tokens", [[1, 2, 3], [[1, 2, 3]], [[1, 2], [3, 4]]])
async def test_embeddings_token_arrays_are_refused_as_invalid_type(
    make_stack: Any, tokens: list[Any]
) -> None:
    async with make_stack(POLICY) as s, oai(s) as client:
        with pytest.raises(openai.BadRequestError) as info:
            await client.embeddings.create(model="m", input=tokens)
        assert info.value.status_code == 400 and info.value.code == "invalid_type"
        assert s.record.bodies == []


# -- PII in the answer is redacted, JSON and stream -------------------------------------------------


async def test_chat_and_completions_answer_pii_is_redacted_json_and_stream(make_stack: Any) -> None:
    async with make_stack(POLICY) as s, oai(s) as client:
        chat = await client.chat.completions.create(model="m", messages=user("x"), extra_headers=PII_REPLY)
        assert chat.choices[0].message.content == PII_REPLY_REDACTED
        legacy = await client.completions.create(model="m", prompt="x", extra_headers=PII_REPLY)
        assert legacy.choices[0].text == PII_REPLY_REDACTED
        chat_stream = await client.chat.completions.create(
            model="m", messages=user("x"), stream=True, extra_headers=PII_REPLY
        )
        async with chat_stream:
            text = "".join([c.choices[0].delta.content or "" async for c in chat_stream if c.choices])
        assert text == PII_REPLY_REDACTED
        legacy_stream = await client.completions.create(
            model="m", prompt="x", stream=True, extra_headers=PII_REPLY
        )
        async with legacy_stream:
            text = "".join([c.choices[0].text async for c in legacy_stream if c.choices])
        assert text == PII_REPLY_REDACTED


async def test_responses_answer_pii_is_redacted_json(make_stack: Any) -> None:
    async with make_stack(POLICY) as s, oai(s) as client:
        answer = await client.responses.create(model="m", input="x", extra_headers=PII_REPLY)
        assert answer.status == "completed"
        assert answer.output_text == PII_REPLY_REDACTED
        assert EMAIL not in answer.model_dump_json(warnings=False)


async def test_responses_answer_pii_is_redacted_in_every_copy_of_the_stream(make_stack: Any) -> None:
    async with (
        make_stack(POLICY) as s,
        oai(s) as client,
        client.responses.stream(model="m", input="x", extra_headers=PII_REPLY) as stream,
    ):
        events = dumps([e async for e in stream])
        final = await stream.get_final_response()
    assert final.status == "completed" and final.output_text == PII_REPLY_REDACTED

    def of(kind: str) -> list[dict[str, Any]]:
        return [e for e in events if e["type"] == kind]

    deltas = of("response.output_text.delta")
    assert len(deltas) > 1  # really streamed in pieces
    assert "".join(e["delta"] for e in deltas) == PII_REPLY_REDACTED
    assert [e["text"] for e in of("response.output_text.done")] == [PII_REPLY_REDACTED]
    assert [e["part"]["text"] for e in of("response.content_part.done")] == [PII_REPLY_REDACTED]
    assert [e["item"]["content"][0]["text"] for e in of("response.output_item.done")] == [PII_REPLY_REDACTED]
    (completed,) = of("response.completed")
    assert completed["response"]["output"][0]["content"][0]["text"] == PII_REPLY_REDACTED
    assert EMAIL not in json.dumps(events)
    assert events[-1]["type"] == "response.completed"


async def test_anthropic_answer_pii_is_redacted_json_and_stream(make_stack: Any) -> None:
    async with make_stack(POLICY) as s, anth(s) as client:
        answer = await client.messages.create(
            model="m", max_tokens=16, messages=user("x"), extra_headers=PII_REPLY
        )
        block = answer.content[0]
        assert isinstance(block, TextBlock) and block.text == PII_REPLY_REDACTED
        assert answer.stop_reason == "end_turn"
        async with client.messages.stream(
            model="m", max_tokens=16, messages=user("x"), extra_headers=PII_REPLY
        ) as stream:
            pieces = [t async for t in stream.text_stream]
            final = await stream.get_final_message()
        assert len(pieces) > 1 and "".join(pieces) == PII_REPLY_REDACTED
        block = final.content[0]
        assert isinstance(block, TextBlock) and block.text == PII_REPLY_REDACTED
        assert final.stop_reason == "end_turn"
        assert EMAIL not in final.model_dump_json(warnings=False)


# -- a blocked word in a streamed answer: the SDK raises while iterating ----------------------------


async def test_chat_stream_block_raises_api_error(make_stack: Any) -> None:
    async with make_stack(POLICY) as s, oai(s) as client:
        stream = await client.chat.completions.create(
            model="m", messages=user("x"), stream=True, extra_headers=BLOCKED_REPLY
        )
        got: list[str] = []
        async with stream:
            with pytest.raises(openai.APIError) as info:
                async for chunk in stream:
                    got.append(chunk.choices[0].delta.content or "" if chunk.choices else "")
        assert info.value.code == "content_filter"
        assert BLOCKED not in "".join(got) and "fine so far" in "".join(got)


async def test_completions_stream_block_raises_api_error(make_stack: Any) -> None:
    async with make_stack(POLICY) as s, oai(s) as client:
        stream = await client.completions.create(
            model="m", prompt="x", stream=True, extra_headers=BLOCKED_REPLY
        )
        got: list[str] = []
        async with stream:
            with pytest.raises(openai.APIError) as info:
                async for chunk in stream:
                    got.append(chunk.choices[0].text if chunk.choices else "")
        assert info.value.code == "content_filter"
        assert BLOCKED not in "".join(got)


async def test_responses_stream_block_raises_api_error(make_stack: Any) -> None:
    async with make_stack(POLICY) as s, oai(s) as client:
        stream = await client.responses.create(model="m", input="x", stream=True, extra_headers=BLOCKED_REPLY)
        got: list[Any] = []
        async with stream:
            with pytest.raises(openai.APIError) as info:
                async for event in stream:
                    got.append(event)
        assert info.value.code == "content_filter"
        events = dumps(got)
        assert BLOCKED not in json.dumps(events)
        assert "response.completed" not in [e["type"] for e in events]


async def test_responses_stream_helper_raises_api_error_on_a_block(make_stack: Any) -> None:
    async with make_stack(POLICY) as s, oai(s) as client:
        text: list[str] = []
        with pytest.raises(openai.APIError):
            async with client.responses.stream(model="m", input="x", extra_headers=BLOCKED_REPLY) as stream:
                async for event in stream:
                    if event.type == "response.output_text.delta":
                        text.append(event.delta)
        assert BLOCKED not in "".join(text)


async def test_anthropic_stream_block_raises_api_status_error(make_stack: Any) -> None:
    async with make_stack(POLICY) as s, anth(s) as client:
        got: list[str] = []
        with pytest.raises(anthropic.APIStatusError):
            async with client.messages.stream(
                model="m", max_tokens=16, messages=user("x"), extra_headers=BLOCKED_REPLY
            ) as stream:
                async for piece in stream.text_stream:
                    got.append(piece)
        assert BLOCKED not in "".join(got)


# -- tool calls in the answer -----------------------------------------------------------------------

TOOL_ARGS = json.dumps({"to": EMAIL, "body": "hi", "n": 2})
TOOL_ARGS_REDACTED = {"to": REDACTED, "body": "hi", "n": 2}


async def test_responses_function_call_arguments_are_redacted_json(make_stack: Any) -> None:
    async with make_stack(POLICY) as s, oai(s) as client:
        answer = await client.responses.create(
            model="m", input="x", extra_headers={"X-Mock-Tool": f"send:{TOOL_ARGS}"}
        )
        call = answer.output[0]
        assert isinstance(call, ResponseFunctionToolCall) and call.name == "send"
        assert json.loads(call.arguments) == TOOL_ARGS_REDACTED
        assert EMAIL not in answer.model_dump_json(warnings=False)


async def test_responses_function_call_arguments_are_redacted_in_every_copy_of_the_stream(
    make_stack: Any,
) -> None:
    headers = {"X-Mock-Tool": f"send:{TOOL_ARGS}", "X-Mock-Chunk": "3"}
    async with (
        make_stack(POLICY) as s,
        oai(s) as client,
        client.responses.stream(model="m", input="x", extra_headers=headers) as stream,
    ):
        events = dumps([e async for e in stream])
        final = await stream.get_final_response()
    call = final.output[0]
    assert isinstance(call, ResponseFunctionToolCall)
    assert json.loads(call.arguments) == TOOL_ARGS_REDACTED
    deltas = [e["delta"] for e in events if e["type"] == "response.function_call_arguments.delta"]
    assert json.loads("".join(deltas)) == TOOL_ARGS_REDACTED
    (done,) = [e for e in events if e["type"] == "response.function_call_arguments.done"]
    assert json.loads(done["arguments"]) == TOOL_ARGS_REDACTED
    assert EMAIL not in json.dumps(events)


async def test_responses_function_call_with_a_blocked_word_is_blocked(make_stack: Any) -> None:
    headers = {"X-Mock-Tool": f"lookup:{json.dumps({'q': BLOCKED})}", "X-Mock-Chunk": "2"}
    async with make_stack(POLICY) as s, oai(s) as client:
        with pytest.raises(openai.BadRequestError) as info:
            await client.responses.create(model="m", input="x", extra_headers=headers)
        assert info.value.code == "content_filter"
        stream = await client.responses.create(model="m", input="x", stream=True, extra_headers=headers)
        got: list[Any] = []
        async with stream:
            with pytest.raises(openai.APIError):
                async for event in stream:
                    got.append(event)
        assert BLOCKED not in json.dumps(dumps(got))


TOOL_INPUT = {"to": EMAIL, "contact": {"email": "ops@example.com", "n": 2}}
TOOL_INPUT_REDACTED = {"to": REDACTED, "contact": {"email": REDACTED, "n": 2}}


async def test_anthropic_tool_use_input_is_redacted_json_and_stream(make_stack: Any) -> None:
    headers = {"X-Mock-Tool": f"send:{json.dumps(TOOL_INPUT)}", "X-Mock-Chunk": "3"}
    async with make_stack(POLICY) as s, anth(s) as client:
        answer = await client.messages.create(
            model="m", max_tokens=16, messages=user("x"), extra_headers=headers
        )
        block = answer.content[0]
        assert isinstance(block, ToolUseBlock) and block.name == "send"
        assert block.input == TOOL_INPUT_REDACTED
        assert answer.stop_reason == "tool_use"
        async with client.messages.stream(
            model="m", max_tokens=16, messages=user("x"), extra_headers=headers
        ) as stream:
            final = await stream.get_final_message()
        block = final.content[0]
        assert isinstance(block, ToolUseBlock) and block.input == TOOL_INPUT_REDACTED
        assert final.stop_reason == "tool_use"
        assert "@example.com" not in final.model_dump_json(warnings=False)


async def test_anthropic_tool_use_input_with_a_blocked_key_is_blocked(make_stack: Any) -> None:
    headers = {"X-Mock-Tool": f"send:{json.dumps({BLOCKED: 'yes', 'n': 1})}", "X-Mock-Chunk": "2"}
    async with make_stack(POLICY) as s, anth(s) as client:
        with pytest.raises(anthropic.BadRequestError) as info:
            await client.messages.create(model="m", max_tokens=16, messages=user("x"), extra_headers=headers)
        body: Any = info.value.body
        assert body["error"]["code"] == "content_filter"
        with pytest.raises(anthropic.APIStatusError):
            async with client.messages.stream(
                model="m", max_tokens=16, messages=user("x"), extra_headers=headers
            ) as stream:
                await stream.get_final_message()


# -- disable_exception_on_block: a refusal each SDK parses without raising --------------------------


async def test_refusal_instead_of_error_for_chat(make_stack: Any) -> None:
    async with make_stack(REFUSE) as s, oai(s) as client:
        answer = await client.chat.completions.create(model="m", messages=user(f"about {BLOCKED}"))
        assert answer.choices[0].finish_reason == "content_filter"
        assert s.record.bodies == []


async def test_refusal_instead_of_error_for_responses_json_and_stream(make_stack: Any) -> None:
    async with make_stack(REFUSE) as s, oai(s) as client:
        answer = await client.responses.create(model="m", input=f"about {BLOCKED}")
        assert answer.status == "incomplete"
        assert answer.incomplete_details is not None
        assert answer.incomplete_details.reason == "content_filter"
        assert BLOCKED not in answer.output_text
        stream = await client.responses.create(model="m", input=f"about {BLOCKED}", stream=True)
        async with stream:
            events = dumps([e async for e in stream])
        assert events[-1]["type"] == "response.incomplete"
        assert events[-1]["response"]["status"] == "incomplete"
        assert events[-1]["response"]["incomplete_details"]["reason"] == "content_filter"
        assert s.record.bodies == []


async def test_refusal_instead_of_error_for_anthropic_json_and_stream(make_stack: Any) -> None:
    async with make_stack(REFUSE) as s, anth(s) as client:
        answer = await client.messages.create(model="m", max_tokens=16, messages=user(f"about {BLOCKED}"))
        assert answer.stop_reason == "refusal"
        async with client.messages.stream(
            model="m", max_tokens=16, messages=user(f"about {BLOCKED}")
        ) as stream:
            final = await stream.get_final_message()
        assert final.stop_reason == "refusal"
        assert s.record.bodies == []


# -- every route is guarded by default, and says so -------------------------------------------------

ROUTES: dict[str, tuple[str, dict[str, Any]]] = {
    "chat": ("/v1/chat/completions", {"model": "m", "messages": user("hi")}),
    "completions": ("/v1/completions", {"model": "m", "prompt": "hi"}),
    "responses": ("/v1/responses", {"model": "m", "input": "hi"}),
    "responses-stream": ("/v1/responses", {"model": "m", "input": "hi", "stream": True}),
    "responses-input-tokens": ("/v1/responses/input_tokens", {"model": "m", "input": "hi"}),
    "embeddings": ("/v1/embeddings", {"model": "m", "input": "hi"}),
    "messages": ("/v1/messages", {"model": "m", "max_tokens": 16, "messages": user("hi")}),
    "messages-stream": (
        "/v1/messages",
        {"model": "m", "max_tokens": 16, "messages": user("hi"), "stream": True},
    ),
    "messages-count-tokens": ("/v1/messages/count_tokens", {"model": "m", "messages": user("hi")}),
}


@pytest.mark.parametrize("route", list(ROUTES))
async def test_every_route_carries_the_guardrails_applied_header(make_stack: Any, route: str) -> None:
    path, body = ROUTES[route]
    async with make_stack(POLICY) as s, s.session.post(f"{s.url}{path}", json=body) as resp:
        await resp.read()
        assert resp.status == 200
        assert "blocklist" in resp.headers["X-Guardrails-Applied"].split(",")
        assert len(s.record.bodies) == 1


async def test_sdk_raw_responses_carry_the_header(make_stack: Any) -> None:
    async with make_stack(POLICY) as s, oai(s) as openai_client, anth(s) as anthropic_client:
        raw = await openai_client.responses.with_raw_response.create(model="m", input="hi")
        assert "blocklist" in raw.headers["X-Guardrails-Applied"].split(",")
        assert raw.parse().output_text == "You said: hi"
        raw_msg = await anthropic_client.messages.with_raw_response.create(
            model="m", max_tokens=16, messages=user("hi")
        )
        assert "blocklist" in raw_msg.headers["X-Guardrails-Applied"].split(",")
        block = (await raw_msg.parse()).content[0]
        assert isinstance(block, TextBlock) and block.text == "You said: hi"
