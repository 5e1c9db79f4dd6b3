"""README.md must stay true of the code. Each test names the README statement it guards.

Run this file directly to regenerate the README's `--help` block from the real script:

    uv run python tests/test_readme.py

Markers in README.md (HTML comments, invisible on GitHub) say what each block is:
`<!-- quote: 3runasyncstreaming.py -->` code copied from the script, `<!-- snippet -->` a
customisation idea, `<!-- help -->` the --help text, `<!-- output -->` example output,
`<!-- events -->` an --events excerpt, `<!-- setup -->` the set-up commands.
"""

import ast
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import agents
import openai
import pytest
from conftest import ROOT, SCRIPT, FakeRun
from events import answer

README = ROOT / "README.md"
BLOCK = re.compile(
    r"^(?:<!-- (?P<marker>[^>]*?) -->\n)?```(?P<language>\w*)\n(?P<body>.*?)^```$", re.M | re.S
)
HELP_COLUMNS = "80"  # argparse wraps --help to the terminal; the README's copy is 80 wide


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


def script_tree() -> ast.Module:
    return ast.parse(SCRIPT.read_text())


def real_help() -> str:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--help"],
        env={**os.environ, "COLUMNS": HELP_COLUMNS},
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def test_every_python_block_is_either_a_quote_or_a_snippet():
    for line, marker, _ in readme_blocks(language="python"):
        assert marker in ("quote: 3runasyncstreaming.py", "snippet"), (
            f"README.md:{line}: unmarked python block"
        )


def test_quoted_code_appears_in_the_script_verbatim():
    script_lines = SCRIPT.read_text().splitlines()
    for line, _, body in readme_blocks("quote: 3runasyncstreaming.py"):
        quote = textwrap.dedent(body).strip("\n")
        size = len(quote.splitlines())
        windows = ("\n".join(script_lines[start : start + size]) for start in range(len(script_lines)))
        assert any(textwrap.dedent(window) == quote for window in windows), (
            f"README.md:{line}: this quote is no longer in {SCRIPT.name}:\n{quote}"
        )


def test_customisation_snippets_compile():
    for line, _, body in readme_blocks("snippet"):
        try:
            compile(body, f"README.md:{line}", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        except SyntaxError as error:
            pytest.fail(f"README.md:{line}: the snippet does not compile: {error}")


def test_help_text_is_the_real_one():
    assert only_block("help") == real_help(), (
        "README.md's --help block is stale; regenerate it with `uv run python tests/test_readme.py`"
    )


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


def exit_codes_in_readme() -> set[int]:
    table = README.read_text().split("## Failures and exit codes")[1].split("\n## ")[0]
    return {int(code) for code in re.findall(r"\| (\d+) \|$", table, re.M)}


def exit_codes_in_script() -> set[int]:
    """Whole numbers passed to sys.exit() or returned by main(), plus argparse's 2."""
    codes = {2}
    for node in ast.walk(script_tree()):
        if (
            isinstance(node, ast.Call)
            and ast.unparse(node.func) == "sys.exit"
            and isinstance(node.args[0], ast.Constant)
        ):
            codes.add(node.args[0].value)
        if isinstance(node, ast.AsyncFunctionDef) and node.name == "main":
            codes |= {ret.value.value for ret in ast.walk(node) if isinstance(ret, ast.Return)}
    return codes


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

    tree = script_tree()
    [explain] = [
        node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef) and node.name == "explain"
    ]
    patterns = ["error: " + pattern(ret.value) for ret in ast.walk(explain) if isinstance(ret, ast.Return)]
    for node in ast.walk(tree):
        is_stderr_print = isinstance(node, ast.Call) and ast.unparse(node).endswith("file=sys.stderr)")
        if is_stderr_print and isinstance(node.args[0], ast.Constant):
            patterns.append(pattern(node.args[0]))
    return patterns


def messages_in_readme() -> list[str]:
    table = README.read_text().split("## Failures and exit codes")[1].split("\n## ")[0]
    return re.findall(r"^\| [^|]+ \| `((?:error: |interrupted)[^`]*)` \|", table, re.M)


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


def test_example_output_has_the_real_format(run_script, fake_runner, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    fake_runner.run = FakeRun(answer("Recursion", " is a function calling itself."))
    real_lines = run_script().stdout.splitlines()
    # The real output's frame, with every number free to vary.
    opening = re.escape(real_lines[0])
    closing = re.sub(r"\\\.", r"\.", re.sub(r"\d+", r"\\d+", re.escape(real_lines[-1])))

    example = only_block("output").splitlines()

    assert re.fullmatch(opening, example[0]), (
        f"README example opens with {example[0]!r}, not {real_lines[0]!r}"
    )
    assert re.fullmatch(closing, example[-1]), (
        f"README example closes with {example[-1]!r}, not like {real_lines[-1]!r}"
    )
    assert len(example) > 2, "README example shows no answer"


def test_events_excerpt_has_the_real_format(run_script, fake_runner, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    fake_runner.run = FakeRun(answer("Recursion", " is a function calling itself."))
    real_lines = run_script("--events").stderr.splitlines()
    real_shapes = {line.split(" ", 1)[0] + " " for line in real_lines}

    excerpt = only_block("events").splitlines()

    assert excerpt[0] == real_lines[0]
    assert excerpt[-1] == real_lines[-1]
    for line in excerpt:
        assert any(line.startswith(shape) for shape in real_shapes), f"README --events line {line!r}"


def regenerate_help() -> None:
    text = README.read_text()
    old = only_block("help")
    README.write_text(
        text.replace(f"<!-- help -->\n```text\n{old}```", f"<!-- help -->\n```text\n{real_help()}```", 1)
    )


if __name__ == "__main__":
    regenerate_help()
    print(f"regenerated the --help block in {README}")
