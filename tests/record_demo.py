"""Record the demo in a terminal and turn it into tests/demo.svg, the animation the README shows.

Remake it whenever the script's output changes:

    uv run tests/record_demo.py [demo.cast]

It records a real run of `uv run tests/demo.py` on a 100x24 pseudo-terminal with asciinema 2.4.0
(pure Python, run by `uvx`), then converts the recording with svg-term-cli 2.1.1 (run by `npx`).
Neither becomes a dependency of the project: uv and npm fetch them into their caches, from PyPI and
the npm registry, the first time. The typing of the command is simulated; the rest is the real run.
The .cast file, kept only if its path is given, plays with `asciinema play`.
Check the result in a browser: the words must arrive one by one, and the closing line must show.
"""

import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parent
OUTPUT = TESTS / "demo.svg"
COMMAND = "uv run tests/demo.py"
COLUMNS, ROWS = 100, 24
ASCIINEMA = ["uvx", "--from", "asciinema==2.4.0", "asciinema"]
SVG_TERM = ["npx", "--yes", "svg-term-cli@2.1.1"]


def play() -> None:
    """What the recording shows: the command typed at a prompt, its real run, a pause to read."""
    print("$ ", end="", flush=True)
    time.sleep(0.8)
    for char in COMMAND:
        print(char, end="", flush=True)
        time.sleep(0.06)
    time.sleep(0.4)
    print(flush=True)
    subprocess.run(COMMAND.split(), cwd=TESTS.parent, check=True)
    print("$ ", end="", flush=True)
    time.sleep(4)  # the last frame, before the animation starts again
    print("\x1b[0m", end="", flush=True)  # an event that shows nothing, to end the recording with it


def main() -> None:
    if sys.argv[1:] == ["--play"]:
        return play()
    for tool in "uvx", "npx":
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is needed to make the recording")
    with tempfile.TemporaryDirectory() as folder:
        cast = Path(sys.argv[1] if sys.argv[1:] else Path(folder) / "demo.cast").resolve()
        inner = shlex.join([sys.executable, str(Path(__file__).resolve()), "--play"])
        size = ["--cols", str(COLUMNS), "--rows", str(ROWS)]
        subprocess.run(
            [*ASCIINEMA, "rec", "--quiet", "--overwrite", *size, "-c", inner, str(cast)], check=True
        )
        size = ["--width", str(COLUMNS), "--height", str(ROWS)]
        subprocess.run([*SVG_TERM, "--in", str(cast), "--out", str(OUTPUT), "--window", *size], check=True)
    print(f"wrote {OUTPUT.relative_to(TESTS.parent)} ({OUTPUT.stat().st_size / 1000:.0f} kB)")


if __name__ == "__main__":
    main()
