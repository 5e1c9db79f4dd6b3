"""Try a streaming program without an OpenAI key: `uv run tests/demo.py [PROGRAM.py] [ARGS...]`

It runs 3runasyncstreaming.py, or PROGRAM.py (the README's plain loop saved as plain.py, say), with
this Python, against openai_server.py: a stand-in for OpenAI on this machine that streams a canned
answer about recursion at a model's pace. The program gets a made-up key, OPENAI_BASE_URL and
OPENAI_AGENTS_DISABLE_TRACING=1 (they win over .env) and ARGS; nothing leaves the machine. The exit
code is the program's.
"""

import contextlib
import os
import re
import subprocess
import sys
from pathlib import Path

from openai_server import OpenAIServer, Scenario

SCRIPT = Path(__file__).resolve().parents[1] / "3runasyncstreaming.py"
ANSWER = (
    "Recursion is when a function solves a problem by calling itself on a smaller piece of the same "
    "problem. Each call makes the problem smaller, until it reaches a base case simple enough to answer "
    "directly, such as an empty list. Then the answers come back up, one call at a time."
)


def main(argv: list[str]) -> int:
    program, args = (argv[0], argv[1:]) if argv and argv[0].endswith(".py") else (str(SCRIPT), argv)
    scenario = Scenario(deltas=re.findall(r"\s*\S+", ANSWER), first_byte_delay=0.5, delta_interval=0.05)
    with OpenAIServer(scenario) as server:
        env = {**os.environ, "OPENAI_API_KEY": "sk-demo-not-a-real-key", "OPENAI_BASE_URL": server.base_url}
        env |= {"OPENAI_AGENTS_DISABLE_TRACING": "1", "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"}
        process = subprocess.Popen([sys.executable, program, *args], env=env)  # on this terminal
        while process.returncode is None:
            with contextlib.suppress(KeyboardInterrupt):  # Ctrl+C reaches the program too: wait for it
                process.wait()
    return process.returncode if process.returncode >= 0 else 128 - process.returncode  # as shells say


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
