"""Baseline for the benchmark: the original tutorial's program, without this project's changes."""

import asyncio
import os

from agents import Agent, Runner, set_default_openai_key
from dotenv import load_dotenv
from openai.types.responses import ResponseTextDeltaEvent

load_dotenv()
set_default_openai_key(os.environ.get("OPENAI_API_KEY"))

agent = Agent(
    name="Assistant",
    instructions="You are a helpful assistant that explains things clearly.",
    model="gpt-4o",
)


async def main():
    print("=== Starting Stream ===")
    result = Runner.run_streamed(agent, "Explain recursion in programming in simple terms.")
    async for event in result.stream_events():
        if event.type == "raw_response_event" and isinstance(event.data, ResponseTextDeltaEvent):
            print(event.data.delta, end="", flush=True)
    print("\n=== Stream Complete ===")


if __name__ == "__main__":
    asyncio.run(main())
