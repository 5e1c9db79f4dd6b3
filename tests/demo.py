"""Try the tutorial without an OpenAI key: `uv run tests/demo.py [prompt] [--events] ...`

It runs the real, unchanged 3runasyncstreaming.py over real HTTP against a server on this machine
(openai_server.py) that plays a canned answer at a model's pace: a pause, then a word every few
hundredths of a second. Only the key (a made-up one) and OPENAI_BASE_URL differ from a real run:
they replace yours, wherever set; your other settings (a model, say) still apply. Nothing leaves
the machine. The arguments go to
the script, but the answer is always the same one, about recursion. The exit code is the script's.
"""

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

from openai_server import OpenAIServer, Scenario

SCRIPT = Path(__file__).resolve().parent.parent / "3runasyncstreaming.py"
ANSWER = """\
Recursion is when a function solves a problem by calling itself on a smaller piece of the same problem.

Picture a stack of plates you want to count. Take the top plate off: the total is one, plus the plates \
still on the stack. Counting those is the same job, only smaller, so you do it the same way, until no \
plates are left. An empty stack holds zero plates, and that is where the calls stop.

Every recursive function has those two parts:

1. A base case, small enough to answer directly (the empty stack).
2. A recursive case, which shrinks the problem and calls the function again.

Forget the base case, and the function calls itself until it runs out of room: in Python, that ends \
with a RecursionError."""
# Wrapped to fit an 80-column terminal, and cut into word-sized deltas, as a model's tokens arrive.
TEXT = "\n".join(textwrap.fill(line, 78) for line in ANSWER.splitlines())
DELTAS = re.findall(r"\s*(?:\w+|[^\w\s]+)", TEXT)


def main() -> int:
    scenario = Scenario(deltas=DELTAS, first_byte_delay=0.6, delta_interval=0.04)
    with OpenAIServer(scenario) as server:
        # The environment wins over .env, so these two override whatever the user has set.
        env = {**os.environ, "OPENAI_API_KEY": "sk-demo-not-a-real-key", "OPENAI_BASE_URL": server.base_url}
        bypass = env.get("no_proxy") or env.get("NO_PROXY")  # a proxy from the environment cannot reach it
        env["no_proxy"] = env["NO_PROXY"] = f"{bypass},127.0.0.1" if bypass else "127.0.0.1"
        process = subprocess.Popen([sys.executable, str(SCRIPT), *sys.argv[1:]], env=env)
        while True:
            try:
                code = process.wait()
                break
            except KeyboardInterrupt:  # Ctrl+C reaches the script too; wait for its own exit code
                continue
    return code if code >= 0 else 128 - code  # killed by a signal: as a shell reports it


if __name__ == "__main__":
    sys.exit(main())
