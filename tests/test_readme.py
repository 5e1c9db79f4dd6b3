"""README.md must stay true of the code. Each test names the README statement it guards.

Blocks that copy what the code holds or prints are generated, and checked here:
`<!-- generated: main -->` (the source of main()), `<!-- generated: help -->` (the --help
text) and `<!-- generated: events -->` (--events for a two-delta answer from the loopback
server). After changing the code, regenerate them with

    uv run python tests/test_readme.py

The other checks compare facts: the exit codes, the messages, the settings, the set-up
commands, the Python floor. Every `<!-- snippet -->` is pasted into a copy of the script
the way the README says, and run against the loopback server.
"""

import ast
import contextlib
import io
import os
import re
import runpy
import subprocess
import sys
from pathlib import Path
from unittest import mock

import agents
import openai
import pytest
from conftest import OPENAI_VARIABLES, ROOT, SCRIPT
from openai_server import OpenAIServer, Scenario

README = ROOT / "README.md"
BLOCK = re.compile(
    r"^(?:<!-- (?P<marker>[^>]*?) -->\n)?```(?P<language>\w*)\n(?P<body>.*?)^```$", re.M | re.S
)
HELP_COLUMNS = "80"  # argparse wraps --help to the terminal; the README's copy is 80 wide
EVENTS_DELTAS = ["Recursion is", " a function calling itself."]
LOOP_START = "async for event in result.stream_events():"
LOOP_END = "last_raw_event = event.data  # explains a failure, if one follows"
KEY = "sk-readme-test-key"


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


def script_tree(source: str | None = None) -> ast.Module:
    return ast.parse(source or SCRIPT.read_text())


def main_source(source: str | None = None) -> str:
    source = source or SCRIPT.read_text()
    [main] = [node for node in script_tree(source).body if getattr(node, "name", None) == "main"]
    return ast.get_source_segment(source, main)


def run_in_process(
    script: Path, *args: str, env: dict[str, str], stdin: str = "", isatty: bool = False
) -> tuple[int, str, str]:
    """Run `script` as __main__ here, with this environment; return (exit code, stdout, stderr)."""
    stdout, stderr = io.TextIOWrapper(io.BytesIO()), io.TextIOWrapper(io.BytesIO())
    stdout.isatty = lambda: isatty  # a terminal, or a file
    clean = {name: value for name, value in os.environ.items() if name not in OPENAI_VARIABLES}
    with (
        mock.patch.dict(os.environ, {**clean, **env}, clear=True),
        mock.patch.object(sys, "argv", [str(script), *args]),
        mock.patch.object(sys, "stdin", io.StringIO(stdin)),
        contextlib.redirect_stdout(stdout),
        contextlib.redirect_stderr(stderr),
    ):
        try:
            runpy.run_path(str(script), run_name="__main__")
            code = 0
        except SystemExit as exit:
            code = exit.code
        sys.stdout.flush()
        sys.stderr.flush()
    return code, stdout.buffer.getvalue().decode(), stderr.buffer.getvalue().decode()


def real_help() -> str:
    _, help_text, _ = run_in_process(SCRIPT, "--help", env={"COLUMNS": HELP_COLUMNS})
    return help_text


def real_events() -> str:
    with OpenAIServer(Scenario(deltas=EVENTS_DELTAS)) as server:
        env = {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.base_url}
        code, _, stderr = run_in_process(SCRIPT, "--events", env=env)
    assert code == 0, stderr
    return stderr


def generated_blocks() -> dict[str, str]:
    return {"main": main_source() + "\n", "help": real_help(), "events": real_events()}


def test_generated_blocks_are_what_the_code_holds_and_prints():
    for name, expected in generated_blocks().items():
        assert only_block(f"generated: {name}") == expected, (
            f"README.md's generated {name} block is stale; regenerate it with "
            "`uv run python tests/test_readme.py`"
        )


def test_main_is_quoted_whole_within_the_tutorials_first_200_lines():
    [(line, _, body)] = readme_blocks("generated: main")
    assert body == main_source() + "\n"
    assert line + body.count("\n") <= 200


def test_readme_is_at_most_450_lines_and_its_tutorial_at_most_200():
    lines = README.read_text().splitlines()
    assert len(lines) <= 450
    assert lines.index("# Reference") <= 200


def test_script_leads_with_the_lesson():
    source = SCRIPT.read_text()
    tree = script_tree(source)
    functions = [node for node in tree.body if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)]
    assert isinstance(functions[0], ast.AsyncFunctionDef) and functions[0].name == "main"
    assert len(source.splitlines()) <= 170
    [main_block] = [node for node in tree.body if isinstance(node, ast.If)]
    assert len(main_block.body) <= 2
    for node in tree.body:
        if isinstance(node, ast.Assign):
            assert all(isinstance(target, ast.Name) and target.id.isupper() for target in node.targets)
            assert isinstance(node.value, ast.Constant)


def test_every_python_block_is_generated_or_a_snippet():
    for line, marker, _ in readme_blocks(language="python"):
        assert marker in ("generated: main", "snippet"), f"README.md:{line}: unmarked python block"


def pasted(snippet: str) -> str:
    """The script with `snippet` pasted in as the README says: in place of the loop, or of main()."""
    source = SCRIPT.read_text()
    if snippet.startswith("async def main("):
        return source.replace(main_source(source), snippet.rstrip("\n"))
    lines = source.splitlines(keepends=True)
    [start] = [number for number, line in enumerate(lines) if line.strip() == LOOP_START]
    [end] = [number for number, line in enumerate(lines) if line.strip() == LOOP_END]
    indent = lines[start][: len(lines[start]) - len(lines[start].lstrip())]
    snippet_lines = [indent + line if line.strip() else line for line in snippet.splitlines(keepends=True)]
    return "".join(lines[:start] + snippet_lines + lines[end + 1 :])


def snippets() -> list[str]:
    return [body for _, _, body in readme_blocks("snippet")]


def test_the_readme_has_its_five_snippets():
    assert len(snippets()) == 5


@pytest.fixture
def snippet_run(tmp_path, server):
    """Paste snippet number N into a copy of the script; run it against the loopback server."""

    def run(number: int, *args: str, stdin: str = "", isatty: bool = False) -> tuple[int, str, str]:
        script = tmp_path / SCRIPT.name
        script.write_text(pasted(snippets()[number]))
        env = {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.base_url}
        return run_in_process(script, *args, env=env, stdin=stdin, isatty=isatty)

    return run


WAITING, KEEP, STOP, TOOLS, CHAT = range(5)  # the snippets, in the README's order
WORDS = [f"word{number} " for number in range(60)]  # 360 characters
TEXT = "".join(WORDS)
START = "=== Starting Stream ===\n"
COMPLETE = re.compile(r"=== Stream Complete \(total \d+\.\d s, 25 in / 60 out tokens\) ===\n")


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


def test_keep_snippet_holds_the_whole_answer_after_the_loop(snippet_run, server):
    server.scenario = Scenario(deltas=WORDS)

    code, stdout, stderr = snippet_run(KEEP)

    assert (code, stderr) == (0, f"\n({len(TEXT)} characters, 60 words)")
    assert COMPLETE.fullmatch(stdout.split("\n", 2)[2])


def test_stop_snippet_stops_the_server_and_says_cancelled(snippet_run, server):
    words = [f"word{number:03} " for number in range(300)]  # 8 characters each
    server.scenario = Scenario(deltas=words, delta_interval=0.005)

    code, stdout, stderr = snippet_run(STOP)

    assert (code, stderr) == (0, "")
    answer, closing = stdout.removeprefix(START).split("\n", 1)
    assert "".join(words).startswith(answer)
    assert 500 <= len(answer) < len("".join(words)) / 2
    assert re.fullmatch(r"=== Stream Cancelled \(total \d+\.\d s, 0 in / 0 out tokens\) ===\n", closing)
    assert not server.logs[0].finished


def test_tools_snippet_prints_a_plain_answer_when_no_tool_is_called(snippet_run, server):
    server.scenario = Scenario(deltas=WORDS)

    code, stdout, stderr = snippet_run(TOOLS)

    assert (code, stderr) == (0, "")
    assert stdout.startswith(START + TEXT + "\n")


@pytest.mark.parametrize("isatty", [False, True], ids=["file", "terminal"])
def test_waiting_snippet_shows_a_notice_only_on_a_terminal_until_the_first_word(snippet_run, server, isatty):
    server.scenario = Scenario(deltas=WORDS, first_byte_delay=0.2)

    code, stdout, _ = snippet_run(WAITING, isatty=isatty)

    assert code == 0
    notice = "(thinking…)\r\033[K" if isatty else ""
    assert stdout.startswith(START + notice + TEXT + "\n")
    assert COMPLETE.fullmatch(stdout.split("\n", 2)[2])


def test_chat_snippet_streams_each_turn_and_sends_the_conversation_back(snippet_run, server):
    server.scenario = Scenario(deltas=["Four."])

    code, stdout, stderr = snippet_run(CHAT, "What is 2 + 2?", stdin="And 3 + 3?\n\n")

    assert (code, stderr) == (0, "")
    assert stdout == "Four.\n> Four.\n> "
    assert [request["input"][-1]["content"] for request in server.requests] == [
        "What is 2 + 2?",
        "And 3 + 3?\n",
    ]
    second_turn = server.requests[1]["input"]
    assert second_turn[0]["content"] == "What is 2 + 2?"
    assert "Four." in str(second_turn[1])


def variables_the_script_reads() -> set[str]:
    """Names passed to os.environ.get(), os.getenv() or os.environ[...] in the script."""
    names = set()
    for node in ast.walk(script_tree()):
        if isinstance(node, ast.Call) and ast.unparse(node.func) in ("os.environ.get", "os.getenv"):
            names.add(node.args[0].value)
        if isinstance(node, ast.Subscript) and ast.unparse(node.value) == "os.environ":
            names.add(node.slice.value)
    return names


def variables_in_env_example() -> set[str]:
    example = (ROOT / ".env.example").read_text()
    return set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", example, re.M))


def test_script_reads_the_variables_the_readme_describes():
    described = {"OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_DEFAULT_MODEL"}  # the Settings table
    assert variables_the_script_reads() == described, "README.md's Settings table is stale"


def test_every_variable_the_script_reads_is_in_env_example_and_the_readme():
    readme = README.read_text()
    for name in variables_the_script_reads():
        assert name in variables_in_env_example(), f".env.example does not mention {name}"
        assert f"`{name}`" in readme, f"README.md does not mention {name}"


def test_every_variable_in_env_example_is_really_read():
    sources = [SCRIPT]
    for package in (agents, openai):
        sources += Path(package.__file__).parent.rglob("*.py")
    code = "\n".join(path.read_text(encoding="utf-8") for path in sources)
    for name in variables_in_env_example():
        assert f'"{name}"' in code, f".env.example sets {name}, which neither the script nor the SDK reads"


def test_setup_commands_are_the_ones_ci_runs():
    commands = only_block("setup").splitlines()
    assert commands == ["uv run 3runasyncstreaming.py", "uv run pytest"]
    ci = (ROOT / ".ci" / "run").read_text()
    for command in commands:
        assert re.search(rf"^{re.escape(command)}\b", ci, re.M), f".ci/run does not run `{command}`"


def test_python_floor_matches_requires_python():
    requires = re.search(r'^requires-python = ">=(\d+\.\d+)"', (ROOT / "pyproject.toml").read_text(), re.M)
    assert f"Python {requires[1]} or later" in README.read_text(), (
        f"README.md does not say 'Python {requires[1]} or later', as requires-python does"
    )


def failure_table() -> str:
    return README.read_text().split("## Failures and exit codes")[1].split("\n## ")[0]


def exit_codes_in_readme() -> set[int]:
    return {int(code) for code in re.findall(r"\| (\d+) \|$", failure_table(), re.M)}


def exit_codes_in_script() -> set[int]:
    """Whole numbers the script returns from a function or exits with, plus argparse's 2."""
    codes = {2}
    for node in ast.walk(script_tree()):
        if isinstance(node, ast.Return) and node.value is not None:
            values = (
                [node.value.body, node.value.orelse] if isinstance(node.value, ast.IfExp) else [node.value]
            )
            codes |= {value.value for value in values if isinstance(value, ast.Constant)}
        if isinstance(node, ast.Call) and ast.unparse(node.func) in ("sys.exit", "parser.exit"):
            codes |= {arg.value for arg in node.args[:1] if isinstance(arg, ast.Constant)}
    return codes - {None}


def test_readme_lists_exactly_the_exit_codes_the_script_returns():
    readme, script = exit_codes_in_readme(), exit_codes_in_script()
    assert readme == script, (
        f"README.md's exit code table lists {sorted(readme)}; the script returns {sorted(script)}"
    )


def message_patterns() -> list[str]:
    """Every message the script writes to stderr, as a regex; f-string fields match anything."""

    def pattern(node) -> str:
        if isinstance(node, ast.Constant):
            return re.escape(node.value)
        return "".join(pattern(part) if isinstance(part, ast.Constant) else ".+" for part in node.values)

    strings = (ast.Constant, ast.JoinedStr)
    patterns = []
    for node in ast.walk(script_tree()):
        is_reason = isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "reason"
        if is_reason and isinstance(node.value, strings):  # report()'s reasons
            patterns.append("error: " + pattern(node.value))
        if isinstance(node, ast.For) and ast.unparse(node.target) == "(found, problem)":
            patterns += ["error: " + pattern(row.elts[1]) for row in node.iter.elts]  # read_settings()
        is_stderr_print = isinstance(node, ast.Call) and ast.unparse(node).endswith("file=sys.stderr)")
        if is_stderr_print and len(node.args) == 1 and isinstance(node.args[0], strings):
            patterns.append(pattern(node.args[0]))  # run()'s
    return patterns


def messages_in_readme() -> list[str]:
    messages = re.findall(r"`(error: [^`]*)`", failure_table())
    return [message for message in messages if not message.startswith("error: unrecognized arguments")]


def test_every_message_in_the_readme_is_one_the_script_prints():
    patterns = message_patterns()
    for message in messages_in_readme():
        assert any(re.fullmatch(pattern, message) for pattern in patterns), (
            f"README.md shows `{message}`, which the script no longer prints"
        )


def test_every_message_the_script_prints_is_in_the_readme():
    readme_messages = messages_in_readme()
    for pattern in message_patterns():
        assert any(re.fullmatch(pattern, message) for message in readme_messages), (
            f"README.md's failure table lacks the message /{pattern}/"
        )


def test_example_output_has_the_real_format(server):
    server.scenario = Scenario(deltas=["Recursion", " is a function calling itself."])
    env = {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.base_url}
    real_lines = run_in_process(SCRIPT, env=env)[1].splitlines()
    # The real output's frame, with every number free to vary.
    opening = re.escape(real_lines[0])
    closing = re.sub(r"\\\.", r"\.", re.sub(r"\d+", r"\\d+", re.escape(real_lines[-1])))

    example = only_block("output").splitlines()

    assert re.fullmatch(opening, example[0])
    assert re.fullmatch(closing, example[-1]), f"README example closes with {example[-1]!r}"
    assert len(example) > 2, "README example shows no answer"


def regenerate() -> None:
    text = README.read_text()
    for name, body in generated_blocks().items():
        old = only_block(f"generated: {name}")
        marker = f"<!-- generated: {name} -->\n```{'python' if name == 'main' else 'text'}\n"
        text = text.replace(f"{marker}{old}```", f"{marker}{body}```", 1)
        README.write_text(text)


if __name__ == "__main__":
    regenerate()
    print(f"regenerated the generated blocks in {README}")
