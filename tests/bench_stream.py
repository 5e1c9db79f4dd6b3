"""How fast does each word reach the terminal? Three programs, side by side, in one run.

    uv run python tests/bench_stream.py [--rounds 5]

Each program runs on a pseudo-terminal, so that its stdout is line-buffered as it is for a user,
against the loopback server (openai_server.py), with the deltas 10 ms apart:

  ours                     3runasyncstreaming.py
  the seed's loop          tests/bench/original_tutorial.py, the tutorial before this project
  the openai client alone  tests/bench/raw_openai_client.py, no Agents SDK

on a generated answer of 200 deltas and, when ../shared/openai-wire/ is beside the checkout, on the
recorded gpt-4.1 answer (resp_gpt-4.1_text_long.sse, replayed byte for byte), whose final event does
not validate against openai's types. It measures the first word from process start, and each delta
from the server's write to its arrival on the terminal: the p99, and the last delta. The programs
take turns, round after round; the table shows the medians, and each program over ours. It prints
the machine and a markdown table for the README. pytest does not collect this file.
"""

import argparse
import os
import platform
import pty
import select
import statistics
import subprocess
import sys
import tempfile
import time
import tty
from datetime import date
from importlib.metadata import version
from pathlib import Path

from openai_server import OpenAIServer, Scenario, read_events, replay

TESTS = Path(__file__).resolve().parent
RECORDINGS = TESTS.parents[1] / "shared"  # beside the checkout, when it is there
PROGRAMS = {
    "ours": TESTS.parent / "3runasyncstreaming.py",
    "the seed's loop": TESTS / "bench" / "original_tutorial.py",
    "the openai client alone": TESTS / "bench" / "raw_openai_client.py",
}
RECORDING = RECORDINGS / "openai-wire" / "resp_gpt-4.1_text_long.sse"
BANNER = b"=== Starting Stream ===\n"  # all three print it before the answer
INTERVAL = 0.010  # seconds between two deltas
MEASURES = {  # what, its unit, and how many decimals
    "first": ("first word, from process start", "s", 2),
    "p99": ("p99 per delta, from the server's write", "ms", 1),
    "last": ("last delta, from the server's write", "ms", 1),
}


def streams() -> dict[str, tuple[Scenario, list[str]]]:
    """Each stream's scenario, and its deltas."""
    words = [f" word{number}" for number in range(200)]
    found = {"generated, 200 deltas": (Scenario(deltas=words, delta_interval=INTERVAL), words)}
    if RECORDING.exists():
        events = read_events(RECORDING.read_bytes())
        deltas = [event["delta"] for event in events if event["type"] == "response.output_text.delta"]
        found[f"recorded gpt-4.1, {len(deltas)} deltas"] = (
            replay(RECORDING, delta_interval=INTERVAL),
            deltas,
        )
    return found


def run_in_terminal(program: Path, env: dict) -> tuple[float, list[tuple[float, int]], bytes]:
    """Run `program` on a raw pseudo-terminal (no \\n -> \\r\\n).

    Returns its start time, (time, bytes read so far) after each read, and all it wrote.
    """
    controller, terminal = pty.openpty()
    tty.setraw(terminal)
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, str(program)],
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,  # so that an error shows in the failure below
        env=env,
        cwd=tempfile.gettempdir(),
    )
    os.close(terminal)
    output, reads = b"", []
    while select.select([controller], [], [], 30)[0]:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # EIO: the program has closed the terminal
            break
        output += chunk
        reads.append((time.monotonic(), len(output)))
    else:
        process.kill()
        raise TimeoutError(f"{program.name} wrote nothing for 30 s; it printed {output[-300:]!r}")
    os.close(controller)
    process.wait()
    return started, reads, output


def measure(program: Path, server: OpenAIServer, scenario: Scenario, deltas: list[str]) -> dict:
    env = {name: value for name, value in os.environ.items() if not name.startswith("OPENAI_")}
    env |= {"OPENAI_API_KEY": "sk-bench-not-a-real-key", "OPENAI_BASE_URL": server.base_url}
    env |= {"OPENAI_AGENTS_DISABLE_TRACING": "1", "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"}
    server.scenario = scenario
    started, reads, output = run_in_terminal(program, env)
    written = server.delta_times[-1]

    start, expected = output.find(BANNER) + len(BANNER), "".join(deltas).encode()
    if BANNER not in output or output[start : start + len(expected)] != expected:
        raise AssertionError(f"{program.name} did not print the answer; it printed {output[-300:]!r}")
    shown, end, read = [], start, 0  # when each delta's last byte was read from the terminal
    for delta in deltas:
        end += len(delta.encode())
        while reads[read][1] < end:
            read += 1
        shown.append(reads[read][0])
    latencies = [(on_screen - sent) * 1000 for on_screen, sent in zip(shown, written, strict=True)]
    p99 = statistics.quantiles(latencies, n=100, method="inclusive")[98]
    return {"first": shown[0] - started, "p99": p99, "last": latencies[-1]}


def table(results: dict) -> list[str]:
    """A markdown table: a row per stream and measure, a column per program, each over ours."""
    names = list(PROGRAMS)
    lines = [f"| stream | measure, median | {' | '.join(names)} |", "| --- | --- |" + " ---: |" * len(names)]
    for stream, programs in results.items():
        for key, (label, unit, decimals) in MEASURES.items():
            ours = statistics.median(run[key] for run in programs["ours"])
            cells = []
            for name in names:
                value = statistics.median(run[key] for run in programs[name])
                ratio = "" if name == "ours" else f" ({value / ours:.2f}x)"
                cells.append(f"{value:.{decimals}f} {unit}{ratio}")
            lines.append(f"| {stream if key == 'first' else ''} | {label} | {' | '.join(cells)} |")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="runs of each program on each stream (5)")
    rounds = parser.parse_args(argv).rounds
    to_run = streams()
    results = {stream: {name: [] for name in PROGRAMS} for stream in to_run}
    with OpenAIServer() as server:
        for _ in range(rounds):  # the programs take turns, so that a slow moment hits them alike
            for stream, (scenario, deltas) in to_run.items():
                for name, program in PROGRAMS.items():
                    results[stream][name].append(measure(program, server, scenario, deltas))

    print(
        f"{date.today()}, {platform.platform()}, {os.cpu_count()} CPUs, load {os.getloadavg()[1]:.2f} "
        f"(5 min), Python {platform.python_version()}, openai-agents {version('openai-agents')}, "
        f"openai {version('openai')}; median of {rounds} round(s), deltas {INTERVAL * 1000:.0f} ms apart\n"
    )
    print("\n".join(table(results)))


if __name__ == "__main__":
    main()
