"""README.md must stay true of the code. Each test names the README statement it guards.

Blocks that copy what the code holds or prints are generated, and checked here:

- `<!-- generated: main -->`, the source of main();
- `<!-- generated: help -->`, the --help text;
- `<!-- generated: events -->`, --events for a two-delta answer from the loopback server;
- `<!-- generated: failures -->`, the script's FAILURES table, each row's message built by explain()
  from that row's example in failures.py;
- `<!-- generated: settings -->`, what read_settings() says of each setting that cannot work.

After changing the code, regenerate them with

    uv run python tests/test_readme.py

The plain program is run as it is; every `<!-- snippet -->` is pasted into a copy of the script the
way the README says, and run against the loopback server.
"""

import asyncio
import contextlib
import dataclasses
import importlib.util
import inspect
import io
import os
import re
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from conftest import ROOT, SCRIPT, Outcome, load_script
from openai_server import OpenAIServer, Scenario

README = ROOT / "README.md"
BLOCK = re.compile(
    r"^(?:<!-- (?P<marker>[^>]*?) -->\n)?```(?P<language>\w*)\n(?P<body>.*?)^```$", re.M | re.S
)
TABLE = re.compile(r"^<!-- generated: (?P<name>\w+) -->\n(?P<body>(?:\|.*\n)+)", re.M)
HELP_COLUMNS = "80"  # argparse wraps --help to the terminal; the README's copy is 80 wide
EVENTS_DELTAS = ["Recursion is", " a function calling itself."]
LOOP = (
    "async for event in watch.events():\n"
    '    if event.type == "raw_response_event" and isinstance(event.data, ResponseTextDeltaEvent):\n'
    '        print(event.data.delta, end="", flush=True)\n'
)
KEY = "sk-readme-test-key"
HANG_LIMIT = 300  # seconds: only turns a hang into a failure


# --- Reading the README ----------------------------------------------------------------------------------


def readme_blocks(marker=None, language=None) -> list[tuple[int, str, str]]:
    """(line number, marker, body) of the README's fenced blocks."""
    text = README.read_text()
    blocks = []
    for match in BLOCK.finditer(text):
        line = text.count("\n", 0, match.start("body"))
        block = (line, match["marker"] or "", match["body"])
        if (marker is None or block[1] == marker) and (language is None or match["language"] == language):
            blocks.append(block)
    return blocks


def only_block(marker: str) -> str:
    [(_, _, body)] = readme_blocks(marker)
    return body


def readme_table(name: str) -> str:
    [body] = [match["body"] for match in TABLE.finditer(README.read_text()) if match["name"] == name]
    return body


# --- The generated blocks ----------------------------------------------------------------------------


def real_help(script) -> str:
    stdout = io.StringIO()
    with (
        mock_environ({"COLUMNS": HELP_COLUMNS}),
        contextlib.redirect_stdout(stdout),
        contextlib.suppress(SystemExit),
    ):
        script.read_settings(["--help"], {}, Path(os.devnull), None)
    return stdout.getvalue()


@contextlib.contextmanager
def mock_environ(variables: dict[str, str]):
    from unittest import mock

    clean = {name: value for name, value in os.environ.items() if not name.startswith("OPENAI_")}
    with mock.patch.dict(os.environ, {**clean, **variables}, clear=True):
        yield


def real_events(script) -> str:
    """What --events logs for a two-delta answer, from main() in this process."""
    stderr = io.StringIO()
    with OpenAIServer(Scenario(deltas=EVENTS_DELTAS)) as server, mock_environ({"OPENAI_API_KEY": KEY}):
        arguments = ["--events"]
        settings = script.read_settings(
            arguments, {**os.environ, "OPENAI_BASE_URL": server.base_url}, Path(os.devnull), None
        )
        script.set_up_sdk(settings)
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(stderr):
            exit_code = asyncio.run(script.main(settings))
    assert exit_code == 0, stderr.getvalue()
    return stderr.getvalue()


def code(text: str) -> str:
    """`text` as Markdown code, also when it holds backticks itself."""
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def cell(text: str) -> str:
    return text.replace("|", "\\|")  # a pipe would end the table's cell


def failures_table(script) -> str:
    from failures import example_message

    rows = ["| what happened | what you see on standard error | exit code |", "| --- | --- | --- |"]
    for row in script.FAILURES:
        message, exit_code = example_message(script, row)
        seen = code(f"error: {message}") if message else "nothing"
        if row.what == "a refusal":
            seen = f"the refusal on standard output, then {seen}"
        rows.append(f"| {cell(row.what)} | {cell(seen)} | {exit_code} |")
    return "\n".join(rows) + "\n"


# What is wrong, the arguments, the environment, standard input and .env: each setting that cannot work.
BAD_SETTINGS = [
    ("an unknown option", ["--colour"], {}, b"", None),
    ("no key", [], {"OPENAI_API_KEY": None}, b"", None),
    (
        "no key, in a `.env` copied from `.env.example`",
        [],
        {"OPENAI_API_KEY": None},
        b"",
        b"OPENAI_API_KEY=\n",
    ),
    ("`OPENAI_API_KEY=` exported empty", [], {"OPENAI_API_KEY": ""}, b"", None),
    ("a space, line break or curly quote in the key", [], {"OPENAI_API_KEY": "sk-abc def"}, b"", None),
    ("a `.env` that is not UTF-8", [], {}, b"", b"# caf\xe9\n"),
    ("a base URL without `http://`", [], {"OPENAI_BASE_URL": "localhost:11434/v1"}, b"", None),
    ("a base URL with a typo in its port", [], {"OPENAI_BASE_URL": "http://localhost:port/v1"}, b"", None),
    ("a base URL with a bracket missing", [], {"OPENAI_BASE_URL": "http://[::1/v1"}, b"", None),
    ("a base URL with a query", [], {"OPENAI_BASE_URL": "http://localhost:8000/v1?api-version=1"}, b"", None),
    (
        "non-ASCII in `OPENAI_ORG_ID` or `OPENAI_PROJECT_ID`",
        [],
        {"OPENAI_ORG_ID": "org-caf\u00e9"},
        b"",
        None,
    ),
    ("`SSL_CERT_FILE` names no file", [], {"SSL_CERT_FILE": "/etc/ssl/missing.pem"}, b"", None),
    ("`SSL_CERT_FILE` holds no certificate", [], {"SSL_CERT_FILE": "empty.pem"}, b"", None),
    (
        "`SSLKEYLOGFILE` in a folder that does not exist",
        [],
        {"SSLKEYLOGFILE": "/missing/keys.log"},
        b"",
        None,
    ),
    ("a proxy URL that does not parse", [], {"HTTPS_PROXY": "http://proxy:port"}, b"", None),
    ("a SOCKS proxy, without the socksio package", [], {"ALL_PROXY": "socks5://127.0.0.1:1080"}, b"", None),
    ("`OPENAI_DEFAULT_MODEL` set to spaces", [], {"OPENAI_DEFAULT_MODEL": "   "}, b"", None),
    ('`--model ""`', ["--model", ""], {}, b"", None),
    ("a model name that is not UTF-8", ["--model", "caf\udce9"], {}, b"", None),
    ("an empty prompt", [""], {}, b"", None),
    ("a prompt argument that is not UTF-8", ["caf\udce9"], {}, b"", None),
    ("a prompt on standard input that is not UTF-8", [], {}, b"caf\xe9\n", None),
    ("`--timeout 0`", ["--timeout", "0"], {}, b"", None),
]


def settings_problem(script, argv, variables, stdin_data, env_file_data, folder: Path) -> str:
    """What the script says of these settings, on its last line of standard error."""
    environ = {"OPENAI_API_KEY": KEY, **variables}
    environ = {name: value for name, value in environ.items() if value is not None}
    (folder / "empty.pem").write_text("")
    (folder / ".env").unlink(missing_ok=True)
    if env_file_data is not None:
        (folder / ".env").write_bytes(env_file_data)
    stderr = io.StringIO()
    with working_directory(folder), contextlib.redirect_stderr(stderr):
        try:
            stdin = io.TextIOWrapper(io.BytesIO(stdin_data))
            problem = script.read_settings(argv, environ, Path(".env"), stdin)
        except SystemExit:
            problem = stderr.getvalue().splitlines()[-1].removeprefix("3runasyncstreaming.py: error: ")
            return f"argparse's usage line and {code('error: ' + problem.replace('--colour', '...'))}"
    assert isinstance(problem, str), f"{argv} {variables} were accepted"
    return code(f"error: {problem}")


@contextlib.contextmanager
def working_directory(folder: Path):
    previous = Path.cwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(previous)


def settings_table(script, folder: Path) -> str:
    rows = ["| what is wrong | what you see on standard error |", "| --- | --- |"]
    for what, *example in BAD_SETTINGS:
        rows.append(f"| {cell(what)} | {cell(settings_problem(script, *example, folder))} |")
    return "\n".join(rows) + "\n"


def generated_blocks(script, folder: Path) -> dict[str, str]:
    return {
        "main": inspect.getsource(script.main),
        "help": real_help(script),
        "events": real_events(script),
        "failures": failures_table(script),
        "settings": settings_table(script, folder),
    }


def current_block(name: str) -> str:
    return readme_table(name) if name in ("failures", "settings") else only_block(f"generated: {name}")


def test_generated_blocks_are_what_the_code_holds_and_prints(script, environment, tmp_path):
    for name, expected in generated_blocks(script, tmp_path).items():
        assert current_block(name) == expected, (
            f"README.md's generated {name} block is stale; regenerate it with "
            "`uv run python tests/test_readme.py`"
        )


def test_every_python_block_is_generated_or_a_snippet_or_the_plain_program():
    for line, marker, _ in readme_blocks(language="python"):
        assert marker in ("generated: main", "snippet", "plain"), f"README.md:{line}: unmarked python block"


# --- The plain program -------------------------------------------------------------------------------------


def test_plain_program_runs_as_it_is_and_streams_the_answer(tmp_path, server):
    """A process of its own: it must start from the SDK's own defaults, as a reader's copy does."""
    (tmp_path / "plain.py").write_text(only_block("plain"))
    (tmp_path / ".env").write_text(f"OPENAI_API_KEY={KEY}\n")
    server.scenario = Scenario(deltas=["Recursion", " is", " self-reference."])
    clean = {name: value for name, value in os.environ.items() if not name.startswith("OPENAI_")}
    env = {**clean, "OPENAI_BASE_URL": server.base_url, "OPENAI_AGENTS_DISABLE_TRACING": "1"}

    plain = subprocess.run(
        [sys.executable, "plain.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=HANG_LIMIT,
    )

    assert (plain.returncode, plain.stderr) == (0, "")
    assert plain.stdout == "Recursion is self-reference.\n"
    assert server.request_headers[0]["authorization"] == f"Bearer {KEY}"


# --- The snippets -----------------------------------------------------------------------------------------


def snippets() -> list[str]:
    return [body for _, _, body in readme_blocks("snippet")]


WAITING, COLOUR, COUNT, STOP, TOOL, CHAT = range(6)  # the snippets, in the README's order


def test_the_readme_has_its_six_snippets():
    assert len(snippets()) == 6


def pasted(snippet: str) -> str:
    """The script with `snippet` pasted in as the README says: in place of the loop, or of main()."""
    source = SCRIPT.read_text()
    if "async def main(" in snippet:
        main = inspect.getsource(load_script().main)
        assert source.count(main) == 1
        return source.replace(main, snippet)
    [indent] = re.findall(r"^( *)async for event in watch\.events\(\):\n", source, re.M)
    loop = "".join(indent + line for line in LOOP.splitlines(keepends=True))
    assert source.count(loop) == 1, "the README's description of the loop no longer matches main()"
    body = "".join(indent + line if line.strip() else line for line in snippet.splitlines(keepends=True))
    return source.replace(loop, body)


@pytest.fixture
def paste(environment, monkeypatch):
    """A copy of the script with snippet number N pasted in, loaded as a module."""

    def paste(number: int):
        copy = environment.parent / SCRIPT.name
        copy.write_text(pasted(snippets()[number]))
        spec = importlib.util.spec_from_file_location(f"pasted_{number}", copy)
        module = importlib.util.module_from_spec(spec)
        monkeypatch.setitem(sys.modules, spec.name, module)  # where dataclasses look up its annotations
        spec.loader.exec_module(module)
        module.ENV_FILE = environment
        return module

    return paste


@pytest.fixture
def run_module(monkeypatch, capfd, server):
    """Run a pasted copy's run() in this process against `server`."""

    def run(module, *args: str, stdin: str = "", isatty: bool = False) -> Outcome:
        monkeypatch.setenv("OPENAI_API_KEY", KEY)
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin.encode())))
        monkeypatch.setattr(sys.stdout, "isatty", lambda: isatty)
        exit_code = module.run(list(args))
        sys.stdout.flush()
        captured = capfd.readouterr()
        return Outcome(exit_code, captured.out, captured.err)

    return run


@pytest.fixture
def run_pasted(paste, run_module):
    """Paste snippet number N into a copy of the script, and run it against `server`."""
    return lambda number, *args, **options: run_module(paste(number), *args, **options)


def test_every_snippet_pasted_in_passes_the_projects_ruff_check():
    for number, snippet in enumerate(snippets()):
        ruff = subprocess.run(
            [sys.executable, "-m", "ruff", "check", "--stdin-filename", SCRIPT.name, "-"],
            input=pasted(snippet),
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        assert ruff.returncode == 0, f"snippet {number + 1}:\n{ruff.stdout}"


ENDINGS = {
    "response.failed": (Scenario(deltas=["Recursion", " is"], ending="failed"), []),
    "response.incomplete": (Scenario(deltas=["Recursion", " is"], ending="incomplete"), []),
    "silence": (Scenario(deltas=["Recursion", " is", " when"], stall_after=2), ["--timeout", "0.5"]),
    "broken off": (Scenario(deltas=["Recursion", " is", " when"], cut_after=2), []),
}


@pytest.mark.parametrize("number", range(6), ids=["waiting", "colour", "count", "stop", "tool", "chat"])
@pytest.mark.parametrize(("scenario", "args"), ENDINGS.values(), ids=ENDINGS.keys())
def test_every_snippet_fails_as_the_script_does(run_pasted, run_script, server, number, scenario, args):
    server.scenario = scenario
    script = run_script(*args, env={"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.base_url})

    snippet = run_pasted(number, *args)

    assert script.exit_code == 1
    assert (snippet.exit_code, snippet.stderr.splitlines()[-1]) == (script.exit_code, script.stderr.strip())
    assert "Recursion is" in snippet.stdout


WORDS = [f"word{number} " for number in range(60)]  # 360 characters
TEXT = "".join(WORDS)
START = "=== Starting Stream ===\n"


def closing_line(stdout: str) -> str:
    return stdout.rstrip("\n").rsplit("\n", 1)[-1]


@pytest.mark.parametrize("isatty", [False, True], ids=["file", "terminal"])
def test_waiting_snippet_shows_a_notice_only_on_a_terminal_until_the_first_word(run_pasted, server, isatty):
    server.scenario = Scenario(deltas=WORDS, first_byte_delay=0.2)

    outcome = run_pasted(WAITING, isatty=isatty)

    assert outcome.exit_code == 0
    notice = "(thinking…)\r\033[K" if isatty else ""
    assert outcome.stdout.startswith(START + notice + TEXT + "\n=== Stream Complete (")


def test_waiting_snippet_clears_the_notice_when_the_run_fails_before_the_first_word(run_pasted, server):
    server.scenario = Scenario(deltas=[], ending="failed")

    outcome = run_pasted(WAITING, isatty=True)

    assert outcome.exit_code == 1
    assert outcome.stdout == START + "(thinking…)\r\033[K\n"


@pytest.mark.parametrize("isatty", [False, True], ids=["file", "terminal"])
def test_colour_snippet_colours_each_delta_only_on_a_terminal(run_pasted, server, isatty):
    server.scenario = Scenario(deltas=["Re", "cursion"])

    outcome = run_pasted(COLOUR, isatty=isatty)

    assert outcome.exit_code == 0
    answer = "\033[36mRe\033[0m\033[36mcursion\033[0m" if isatty else "Recursion"
    assert outcome.stdout.startswith(START + answer + "\n=== Stream Complete (")


def test_count_snippet_counts_the_deltas_and_keeps_the_whole_answer(run_pasted, server):
    server.scenario = Scenario(deltas=WORDS)

    outcome = run_pasted(COUNT)

    assert (outcome.exit_code, outcome.stderr) == (0, f"\n(60 deltas, {len(TEXT)} characters, 60 words)")
    assert closing_line(outcome.stdout).startswith("=== Stream Complete (")


def test_stop_snippet_stops_the_server_and_says_cancelled(run_pasted, server):
    words = [f"word{number:03} " for number in range(300)]  # 8 characters each
    server.scenario = Scenario(deltas=words, delta_interval=0.005)

    outcome = run_pasted(STOP)

    assert (outcome.exit_code, outcome.stderr) == (0, "")
    answer = outcome.stdout.removeprefix(START).split("\n", 1)[0]
    assert "".join(words).startswith(answer)
    assert 500 <= len(answer) < len("".join(words)) / 2
    assert closing_line(outcome.stdout).startswith("=== Stream Cancelled (")
    assert not server.logs[0].finished


def test_tool_snippet_runs_the_tool_the_model_calls_and_shows_the_call(paste, run_module, monkeypatch):
    """The SDK's ScriptedModel plays the model here: it asks for the tool, then answers."""
    from agents import ModelProvider
    from agents.testing import ModelStep, ScriptedModel, assistant_message, function_call

    model = ScriptedModel(
        [
            ModelStep(output=[function_call("current_time", {}, call_id="call_1")]),
            ModelStep(output=[assistant_message("It is 12:34.")]),
        ]
    )

    class ScriptedProvider(ModelProvider):
        def get_model(self, model_name):
            return model

    module = paste(TOOL)
    monkeypatch.setattr(module, "OpenAIProvider", ScriptedProvider)

    outcome = run_module(module, "What time is it?")

    assert outcome.exit_code == 0, outcome.stderr
    assert outcome.stderr == "[calling current_time]\n"
    assert outcome.stdout.startswith(START + "It is 12:34.\n=== Stream Complete (")
    tool_output = model.last_call.input[-1]
    assert tool_output["type"] == "function_call_output"
    assert re.fullmatch(r"\d\d:\d\d", tool_output["output"])


def test_chat_snippet_streams_each_turn_and_sends_the_conversation_back(run_pasted, server):
    server.scenario = Scenario(deltas=["Four."])

    outcome = run_pasted(CHAT, "What is 2 + 2?", stdin="And 3 + 3?\n\n")

    assert (outcome.exit_code, outcome.stderr) == (0, "")
    turns = outcome.stdout.split("> ")
    assert [turn.split("\n")[0] for turn in turns] == ["Four.", "Four.", ""]
    assert [request["input"][-1]["content"] for request in server.requests] == [
        "What is 2 + 2?",
        "And 3 + 3?",
    ]
    second_turn = server.requests[1]["input"]
    assert second_turn[0]["content"] == "What is 2 + 2?"
    assert "Four." in str(second_turn[1])


def test_chat_snippet_ends_its_line_on_ctrl_d(run_pasted, server):
    server.scenario = Scenario(deltas=["Four."])

    outcome = run_pasted(CHAT, "What is 2 + 2?", stdin="")

    assert outcome.exit_code == 0
    assert outcome.stdout.endswith("> \n")


def test_chat_snippet_ends_on_the_first_ctrl_c_at_its_prompt(tmp_path, server):
    """A process of its own: the point is the signal, while the chat waits for a line."""
    copy = tmp_path / SCRIPT.name
    copy.write_text(pasted(snippets()[CHAT]))
    server.scenario = Scenario(deltas=["Four."])
    clean = {name: value for name, value in os.environ.items() if not name.startswith("OPENAI_")}
    env = {**clean, "OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.base_url}
    chat = subprocess.Popen(
        [sys.executable, str(copy), "What is 2 + 2?"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    seen = b""
    while not seen.endswith(b"> "):
        chunk = chat.stdout.read1(4096)
        assert chunk, f"the chat ended before its prompt; it wrote {seen!r}"
        seen += chunk

    chat.send_signal(signal.SIGINT)  # once
    rest, stderr = chat.communicate(timeout=HANG_LIMIT)

    assert (chat.returncode, stderr) == (130, b"")
    assert (seen + rest).startswith(b"Four.\n=== Stream Complete (")


# --- Facts the README states ---------------------------------------------------------------------------


def variables_in_env_example() -> set[str]:
    example = (ROOT / ".env.example").read_text()
    return set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", example, re.M))


def test_every_variable_in_env_example_is_read_by_the_script_or_the_sdk(script, environment):
    import agents

    sdk = "\n".join(path.read_text() for path in Path(agents.__file__).parent.rglob("*.py"))
    without = script.read_settings([], {"OPENAI_API_KEY": KEY}, environment, None)
    for name in variables_in_env_example():
        value = "sk-example" if name == "OPENAI_API_KEY" else "http://example.com/v1"
        settings = script.read_settings([], {"OPENAI_API_KEY": KEY, name: value}, environment, None)
        read_by_script = dataclasses.replace(settings, from_env_file={}) != without
        assert read_by_script or f'"{name}"' in sdk, f".env.example sets {name}, which nothing reads"


def test_every_variable_in_env_example_is_in_the_readmes_settings_table():
    readme = README.read_text()
    for name in variables_in_env_example():
        assert f"`{name}`" in readme, f"README.md does not mention {name}"


def test_setup_commands_are_the_ones_ci_runs():
    commands = only_block("setup").splitlines()
    assert commands == ["uv run 3runasyncstreaming.py", "uv run pytest"]
    ci = (ROOT / ".ci" / "run").read_text()
    for command in commands:
        assert re.search(rf"^{re.escape(command)}\b", ci, re.M), f".ci/run does not run `{command}`"


def test_python_floor_matches_requires_python():
    requires = re.search(r'^requires-python = ">=(\d+\.\d+)"', (ROOT / "pyproject.toml").read_text(), re.M)
    assert f"Python {requires[1]} or later" in README.read_text()


def test_example_output_has_the_real_format(run_script, server):
    server.scenario = Scenario(deltas=["Recursion", " is a function calling itself."])
    real = run_script(env={"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.base_url}).stdout.splitlines()
    # The real output's frame, with every name and number free to vary.
    closing = re.sub(r"\\\(.*?,", r"\\(.+?,", re.sub(r"\d+", r"\\d+", re.escape(real[-1])), count=1)

    example = only_block("output").splitlines()

    assert example[0] == real[0]
    assert re.fullmatch(closing, example[-1]), f"README example closes with {example[-1]!r}"
    assert len(example) > 2, "README example shows no answer"


def test_the_recording_is_there_and_small():
    recording = ROOT / "tests" / "demo.svg"
    assert f"]({recording.relative_to(ROOT)})" in README.read_text()
    assert recording.stat().st_size < 1_000_000


def regenerate() -> None:
    """Rewrite the generated blocks in README.md, as the code now holds and prints them."""
    import agents

    agents.set_trace_processors([])
    script = load_script()
    text = README.read_text()
    with tempfile.TemporaryDirectory() as folder:
        for name, body in generated_blocks(script, Path(folder)).items():
            marker = f"<!-- generated: {name} -->\n"
            if name in ("failures", "settings"):
                old, new = marker + current_block(name), marker + body
            else:
                fence = "```python\n" if name == "main" else "```text\n"
                old, new = f"{marker}{fence}{current_block(name)}```", f"{marker}{fence}{body}```"
            assert text.count(old) == 1, f"README.md's {name} block is not where it should be"
            text = text.replace(old, new)
    README.write_text(text)


if __name__ == "__main__":
    regenerate()
    print(f"regenerated the generated blocks in {README}")
