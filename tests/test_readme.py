"""README.md stays true: its generated blocks are what the code holds and prints, the plain program runs,
and each snippet, pasted into the plain program and into the script, streams.

Regenerate the blocks after changing the code: `uv run python tests/test_readme.py`.
"""

import asyncio
import importlib.util
import inspect
import io
import logging
import re
import tempfile
from pathlib import Path
from unittest import mock

import pytest
from conftest import ANSWER, KEY, ROOT, START, only, run_in_process, script
from openai_server import OpenAIServer, Scenario, error_body

README = ROOT / "README.md"
BLOCK = re.compile(r"<!-- (?P<kind>[\w: ]+) -->\n```(?P<language>\w*)\n(?P<body>.*?)```\n", re.S)
LOCAL = "http://localhost:11434/v1"  # how the README shows the loopback server's changing address
HOME = Path("/home/you/3runasyncstreaming")  # where the README's messages say the script is
# The loop that a snippet replaces: in the plain program, and in the script's main().
PLAIN_LOOP = re.compile(r"    async for event in result\.stream_events\(\):\n(        .*\n)+")


def blocks(kind: str) -> list[str]:
    return [found["body"] for found in BLOCK.finditer(README.read_text()) if found["kind"] == kind]


def run_against(scenario: Scenario, *args: str, env: dict | None = None, **options):
    """Run the script, or a copy of it with a snippet in it, against a loopback server."""
    with OpenAIServer(scenario) as server:
        env = {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.base_url} | (env or {})
        outcome = run_in_process(*args, env=env, env_file=HOME / ".env", **options)
    outcome.stdout, outcome.stderr = (
        out.replace(server.base_url, LOCAL) for out in (outcome.stdout, outcome.stderr)
    )
    return outcome, server


# --- Generated blocks --------------------------------------------------------------------------------

MESSAGES = [  # (what happened, how to run into it): the README's examples of failure messages
    ("no key", Scenario(), (), {"OPENAI_API_KEY": None}),
    ("a base URL without http://", Scenario(), (), {"OPENAI_BASE_URL": "localhost:11434/v1"}),
    (
        "a key the server rejects",
        Scenario(status=401, error_body=error_body("Incorrect API key provided.", "x", "y")),
        (),
        {},
    ),
    ("no server there", Scenario(), (), {"OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}),
    ("a silent server", Scenario(stall_after=1), ("--timeout", "1"), {}),
    ("an answer cut off", Scenario(ending="incomplete"), (), {}),
]


def generated() -> dict[str, str]:
    """Each generated block's text, made by running the code."""
    logging.getLogger("openai.agents").addHandler(logging.NullHandler())  # as when run as a program
    messages = []
    for _, scenario, args, env in MESSAGES:
        outcome, _ = run_against(scenario, *args, env=env)
        messages.append(f"{outcome.exit_code}  {outcome.stderr}")
    return {
        "help": run_in_process("--help", env={"COLUMNS": "100"}).stdout,
        "main": inspect.getsource(script.main),
        "events": run_against(Scenario(deltas=["Hi", "!"]), "--events")[0].stderr,
        "messages": "".join(messages),
    }


def regenerate(text: str, blocks: dict[str, str]) -> str:
    def fill(found: re.Match) -> str:
        name = found["kind"].removeprefix("generated: ")
        body = blocks[name] if found["kind"].startswith("generated: ") else found["body"]
        return f"<!-- {found['kind']} -->\n```{found['language']}\n{body}```\n"

    return BLOCK.sub(fill, text)


def test_generated_blocks_are_what_the_code_holds_and_prints():
    assert README.read_text() == regenerate(README.read_text(), generated()), (
        "run: uv run python tests/test_readme.py"
    )


def test_setup_block_is_the_two_commands_ci_runs():
    assert blocks("setup") == ["uv run 3runasyncstreaming.py\nuv run pytest\n"]
    assert "uv run pytest\n" in (ROOT / ".ci" / "run").read_text()


# --- The plain program, and each snippet pasted into it and into the script -----------------------------


def load(source: str, name: str):
    """`source` as a module, from a file of its own (the script's copy then reads no .env)."""
    path = Path(tempfile.mkdtemp()) / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pasted(program: str, snippet: str) -> str:
    """`program` with its loop replaced by `snippet`, whose imports go to the top."""
    imports = "".join(line + "\n" for line in snippet.splitlines() if line.startswith(("import ", "from ")))
    body = "".join(f"    {line}\n" if line else "\n" for line in snippet.splitlines() if line not in imports)
    return imports + PLAIN_LOOP.sub(lambda _: body, program, count=1)


def run_plain(source: str, scenario: Scenario, capsys, stdin: str = ""):
    with OpenAIServer(scenario) as server, mock.patch("sys.stdin", io.StringIO(stdin)):
        env = {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.base_url}
        with mock.patch.dict("os.environ", only(env), clear=True):
            asyncio.run(load(source, "plain").main())
    return capsys.readouterr(), server


def test_plain_program_streams_the_answer(capsys):
    [plain] = blocks("plain")

    printed, server = run_plain(plain, Scenario(), capsys)

    assert printed.out == ANSWER + "\n"
    assert server.requests[0]["input"] == [
        {"role": "user", "content": "Explain recursion in programming in simple terms."}
    ]


SNIPPETS = blocks("snippet")
NUMBERS = [f"snippet {number}" for number in range(1, len(SNIPPETS) + 1)]
CHAT = "And in Python?\n\n"  # a question, then an empty line, which ends the chat


@pytest.mark.parametrize("snippet", SNIPPETS, ids=NUMBERS)
def test_snippet_pasted_into_the_plain_program_streams(snippet, capsys):
    [plain] = blocks("plain")

    printed, _ = run_plain(pasted(plain, snippet), Scenario(), capsys, stdin=CHAT)

    assert ANSWER in printed.out


SCRIPT_CASES = {  # what the script keeps with a snippet in place of its loop
    "answer": (Scenario(), (), 0, ""),
    "slow but steady": (Scenario(deltas=["Re", "cursion"], delta_interval=0.5), ("--timeout", "1.5"), 0, ""),
    "response.failed": (
        Scenario(ending="failed"),
        (),
        1,
        "error: the server sent an error: The model crashed.\n",
    ),
    "response.incomplete": (
        Scenario(ending="incomplete"),
        (),
        1,
        "error: the answer was cut off (max_output_tokens).\n",
    ),
}


@pytest.mark.parametrize("case", SCRIPT_CASES.values(), ids=SCRIPT_CASES.keys())
@pytest.mark.parametrize("snippet", SNIPPETS, ids=NUMBERS)
def test_snippet_pasted_into_the_script_keeps_its_promises(snippet, case):
    scenario, args, exit_code, stderr = case
    module = load(pasted(inspect.getsource(script), snippet), "tutorial_copy")

    outcome, _ = run_against(scenario, "Explain recursion.", *args, module=module, stdin=CHAT.encode())

    assert outcome.stdout.startswith(START)
    assert outcome.exit_code == exit_code
    assert outcome.stderr.endswith(stderr)


if __name__ == "__main__":
    README.write_text(regenerate(README.read_text(), generated()))
