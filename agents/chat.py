"""The chat specialist: streams an answer with a system prompt and few-shot examples."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langgraph.runtime import Runtime

from agents.common import call_model, fit_to_context, model_chain, notify
from agents.contract import Context, Rule, Specialist, State
from podium.errors import ContextOverflowError

SMALL_TALK = re.compile(r"^\W*(?:hi|hello|hey|hiya|howdy|yo|good (?:morning|afternoon|evening|night)|thanks?(?: you)?"
                        r"(?: (?:so|very) much| a lot)?|thx|ty|cheers|bye|goodbye|see you|ok(?:ay)?|cool|great|nice)"
                        r"(?:\W+(?:there|all|everyone|podium|again|then))?"
                        r"(?:\W+how(?:'s it going| are (?:you|things)(?: doing)?(?: today)?))?\W*$", re.I)
"""Greetings and thanks: chat, without loading an embedding model to know it."""


def build_prompt(system: str, few_shot: list[tuple[str, str]], history: Sequence[BaseMessage]) -> list[BaseMessage]:
    """System prompt, then example exchanges, then the conversation."""
    examples: list[BaseMessage] = []
    for user, assistant in few_shot:
        examples += [HumanMessage(user), AIMessage(assistant)]
    return [SystemMessage(system), *examples, *history]


def chat(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Answer the conversation's last message, trimming old turns to fit the context."""
    ctx = runtime.context
    # A model without its key is skipped: the call falls back past it, so trim for the one that will answer.
    spec, model = ctx.engine.first_usable(model_chain(ctx, "chat"))
    history = [m for m in state["messages"] if m.type in ("human", "ai") and m.content]
    prompt = build_prompt(ctx.options.system_prompt or ctx.settings.system_prompt, ctx.options.few_shot, history)
    budget = spec.context_length - ctx.settings.max_tokens
    try:
        prompt, dropped = fit_to_context(model, prompt, budget, model_name=spec.spec)
    except ContextOverflowError:
        dropped = 0  # too long for this model even trimmed: call_model escalates along the chain, or says so
    notices = []
    if dropped:
        notices.append(f"trimmed {dropped} older messages to fit {spec.spec}'s {spec.context_length}-token context")
        notify("notice", text=notices[-1])
    reply = call_model(ctx, "chat", prompt)
    return {"messages": [reply], "notices": notices}


SPECIALIST = Specialist(
    name="chat",
    node=chat,
    description="general conversation, writing and explanations",
    examples=(
        "hey", "hello!", "good evening", "thanks a lot", "bye for now", "how's it going?", "nice to meet you",
        "What can you do?", "Tell me a story about a brave mouse.", "Write a sonnet about the moon.",
        "compose a short song about coffee", "Explain quantum entanglement simply.",
        "Why do leaves change colour in the fall?", "What is the tallest mountain in Africa?",
        "Who invented the telephone?", "Give me tips for sleeping better.",
        "How can I be more productive when working from home?", "Help me write a cover letter for a nurse job.",
        "Translate 'thank you very much' into Japanese.", "Make this paragraph shorter and clearer.",
        "Paraphrase: the meeting has been postponed until further notice.",
        "What's the difference between weather and climate?", "what does serendipity mean",
        "Recommend a few science fiction novels.", "Summarize the story of Romeo and Juliet.",
        "Give me an idea for a weekend hike.", "Describe how a rainbow forms.",
        "Can you explain what machine learning is?", "What are the benefits of meditation?",
        "I had a rough day at work.", "Tell me a riddle.", "write a thank-you note to my teacher",
        "What should I cook for dinner tonight?", "How do airplanes stay in the air?",
        "What's a black hole?", "Is it better to rent or buy a house?", "explane how the internet works",
        "Pretend you are a pirate and greet me.", "Come up with a catchy title for my blog post about gardening.",
        "What is the plural of cactus?", "Who was Ada Lovelace?", "Which country has the largest population?",
        "What language is spoken in Brazil?", "When did the Second World War end?", "How far away is the moon?",
        "What is the boiling point of water at high altitude?", "how do i ask my boss for a raise",
        "Any advice for a first-time manager?", "How do I deal with stress before an exam?",
        "What's the best way to learn to play guitar?", "Should I learn Python or JavaScript first?",
        "What is overfitting in machine learning?", "How do neural networks learn from data?",
        "What does a benchmark measure, in general?", "Explain what fine-tuning a language model means.",
        "What is a dataset, in simple words?", "What's the difference between training and inference?",
        "Write a LinkedIn post about finishing my degree.", "Draft a short speech for my sister's wedding.",
        "Give me a funny caption for a photo of my dog.", "Write a product description for handmade soap.",
        "What's the etymology of the word 'salary'?", "Tell me a fun fact about space.",
        "Can you give me an example of a metaphor?", "What rhymes with orange?",
        "Argue for and against school uniforms.", "Describe Paris to someone who has never been there.",
        "What are good questions to ask at the end of an interview?", "what's your favourite colour",
        "I can't decide what to watch tonight, any ideas?", "Explain the rules of cricket briefly.",
        "What is the theory of relativity about?", "Why is exercise good for the brain?",
        "And why is that?", "What about the second one?", "When does it usually happen?", "how old was she then?",
        "Where is that exactly?", "Can you say more about it?", "And in winter?", "Which one would you pick?",
        "Who won in the end?", "What happened next?", "Really? How come?", "so what does that mean for me",
        "Is that true?", "What do you think?", "Could you give another example?", "how big do they get",
        # Numbers that count, name or date things are not arithmetic ('session 3', 'room 12', 'version 2.1').
        "good afternoon from desk 7", "Hi, this is message 3 of my test run", "hello again, second try today",
        "I'm on day 12 of learning Spanish!", "my son is 6 and loves dinosaurs", "I finished chapter 9 last night",
        "we're meeting in room 4B at noon", "I just landed at gate 23, long flight", "my birthday is on 3 June",
        "the iOS 18 update looks nice", "it's been 5 years since I moved to Berlin", "part 2 of the story, please",
        "test 1 2 3, can you hear me?", "user 7 here, just saying hi", "version 5.0 of my favourite app is great",
        "back in 1999 I got my first computer", "2024 was a tough year for me", "I was born in 1987",
        "happy new year, hello 2027!",
    ),
    rules=(Rule(SMALL_TALK, "small talk"),),
)
"""The default specialist: whatever no other one claims."""
