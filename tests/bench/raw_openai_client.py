"""Floor for the benchmark: the openai client alone streaming the same request, no Agents SDK."""

import asyncio

from openai import AsyncOpenAI


async def main():
    client = AsyncOpenAI()
    print("=== Starting Stream ===")
    stream = await client.responses.create(
        model="gpt-4o",
        instructions="You are a helpful assistant that explains things clearly.",
        input="Explain recursion in programming in simple terms.",
        stream=True,
    )
    async for event in stream:
        if event.type == "response.output_text.delta":
            print(event.delta, end="", flush=True)
    print()


if __name__ == "__main__":
    asyncio.run(main())
