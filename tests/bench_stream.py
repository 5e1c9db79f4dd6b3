"""How fast does each word reach the terminal? A benchmark, side by side in one run.

    uv run python tests/bench_stream.py [--rounds 5] [--deltas 200] [--json tests/bench_results.json]

First, start-up alone: `python -c "import agents"` with the bytecode that `uv sync` compiled
(`compile-bytecode = true`), and without it, as in an environment that was installed without
compiling, under PYTHONDONTWRITEBYTECODE=1 (Python then compiles the SDK again at every start; the
run shows it by pointing PYTHONPYCACHEPREFIX at a folder that holds the standard library's bytecode
alone). Then the cost of building the response models, as set_up_sdk() in the script does it: the
time of that loop in a fresh process, and how many models it visits and builds.

It starts the loopback server from openai_server.py, with deltas paced 10 ms apart,
and runs three programs against it in a pseudo-terminal, so stdout is line-buffered
exactly as it is for a user:

  ours      3runasyncstreaming.py
  baseline  tests/bench/original_tutorial.py, the tutorial before this project's changes
  floor     tests/bench/raw_openai_client.py, the openai client alone

on two streams: a generated answer whose events all validate against the installed
openai types, and an answer whose final `response.completed` does not validate (the
real gpt-4.1 recording from ../shared/openai-wire when it is there; otherwise a
generated answer without `cache_write_tokens`, which fails the same way).

For each program it measures, from the server's write of each delta to the moment its
last byte is read from the terminal: the time from process start to the first delta,
the per-delta latency (p50, p99, max), the last delta's latency, and the time from the
last delta to the process exit. The programs run interleaved, round after round, and
the table shows the median of the rounds. Tracing is off for the baseline, which would
otherwise send traces to OpenAI with the made-up key (ours turns it off itself for any
server other than OpenAI's; the floor has none). The summary at the end puts the
start-up figures and each program's first word from process start side by side.
pytest does not collect this file.
"""

import argparse
import json
import os
import platform
import pty
import select
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import tty
from datetime import date
from importlib.metadata import version
from pathlib import Path

from openai_server import OpenAIServer, Scenario, read_sse

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
RECORDING = ROOT.parent / "shared" / "openai-wire" / "resp_gpt-4.1_text_long.sse"
PROGRAMS = {
    "ours": ROOT / "3runasyncstreaming.py",
    "baseline": TESTS / "bench" / "original_tutorial.py",
    "floor": TESTS / "bench" / "raw_openai_client.py",
}
BANNER = b"=== Starting Stream ===\n"
DELTA_INTERVAL = 0.010
IMPORT_AGENTS = [sys.executable, "-c", "import agents"]
# The loop of set_up_sdk() in 3runasyncstreaming.py, after the script's own imports, timed.
MODEL_BUILD = """
import time
import agents, openai
from openai.types.responses import ResponseTextDeltaEvent
started, visited, built = time.perf_counter(), 0, 0
for response_type in vars(openai.types.responses).values():
    if isinstance(response_type, type) and issubclass(response_type, openai.BaseModel):
        visited += 1
        built += bool(response_type.model_rebuild())  # None: it was built already
print(time.perf_counter() - started, visited, built)
"""


def seconds_to_run(command: list[str], env: dict) -> float:
    started = time.monotonic()
    subprocess.run(command, env=env, check=True, stdin=subprocess.DEVNULL)
    return time.monotonic() - started


def measure_start_up(rounds: int) -> dict:
    """`import agents` compiled and not, and the model build: the median of `rounds` runs each."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    site_packages = Path(sysconfig.get_paths()["purelib"])
    compiled, uncompiled, build = [], [], []  # each round's
    with tempfile.TemporaryDirectory() as prefix:
        # Bytecode for everything `import agents` loads, written under `prefix`; then the SDK's and its
        # dependencies' removed, leaving the standard library's, as a venv installed without compiling.
        cache_env = {name: value for name, value in env.items() if name != "PYTHONDONTWRITEBYTECODE"}
        subprocess.run(IMPORT_AGENTS, env={**cache_env, "PYTHONPYCACHEPREFIX": prefix}, check=True)
        shutil.rmtree(Path(prefix) / site_packages.relative_to(site_packages.anchor))
        for _ in range(rounds):
            compiled.append(seconds_to_run(IMPORT_AGENTS, env))
            uncompiled.append(seconds_to_run(IMPORT_AGENTS, {**env, "PYTHONPYCACHEPREFIX": prefix}))
            printed = subprocess.run(
                [sys.executable, "-c", MODEL_BUILD], env=env, check=True, capture_output=True, text=True
            ).stdout.split()
            build.append((float(printed[0]), int(printed[1]), int(printed[2])))
    build_seconds = [seconds for seconds, _, _ in build]
    return {
        "import_compiled_s": statistics.median(compiled),
        "import_uncompiled_s": statistics.median(uncompiled),
        "model_build_s": statistics.median(build_seconds),
        "import_compiled_fastest_s": min(compiled),
        "import_uncompiled_fastest_s": min(uncompiled),
        "model_build_fastest_s": min(build_seconds),
        "models_visited": build[0][1],
        "models_built": build[0][2],
    }


def streams(delta_count: int) -> dict[str, Scenario]:
    words = [f" word{number}" for number in range(delta_count)]
    generated = Scenario(deltas=words, delta_interval=DELTA_INTERVAL)
    if RECORDING.exists():
        recorded = read_sse(RECORDING)
        deltas = [event["delta"] for event in recorded if event["type"] == "response.output_text.delta"]
        old_schema = Scenario(deltas=deltas, delta_interval=DELTA_INTERVAL, recorded=recorded)
        return {"generated": generated, f"recorded gpt-4.1 ({len(deltas)} deltas)": old_schema}
    old_schema = Scenario(deltas=words, delta_interval=DELTA_INTERVAL, cache_write_tokens=False)
    return {"generated": generated, "generated, final event fails validation": old_schema}


def run_in_terminal(
    program: Path, env: dict, cwd: str
) -> tuple[float, list[tuple[float, int]], float, bytes]:
    """Run `program` on a pseudo-terminal in raw mode (no \\n -> \\r\\n).

    Returns the start time, (time, bytes read so far) after each read, the exit time,
    and everything the program wrote to the terminal.
    """
    controller, terminal = pty.openpty()
    tty.setraw(terminal)
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, str(program)],
        stdin=subprocess.DEVNULL,
        stdout=terminal,
        stderr=terminal,  # so that a program's error message shows in the failure above
        env=env,
        cwd=cwd,
    )
    os.close(terminal)
    exited = []
    waiter = threading.Thread(target=lambda: (process.wait(), exited.append(time.monotonic())))
    waiter.start()
    output, reads = b"", []
    while True:
        ready, _, _ = select.select([controller], [], [], 30)
        if not ready:
            raise TimeoutError(f"{program.name} wrote nothing for 30 s")
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # EIO: every copy of the terminal side is closed
            break
        if not chunk:
            break
        output += chunk
        reads.append((time.monotonic(), len(output)))
    os.close(controller)
    waiter.join()
    return started, reads, exited[0], output


def measure(program: Path, server: OpenAIServer, scenario: Scenario, cwd: str) -> dict:
    env = {name: value for name, value in os.environ.items() if not name.startswith("OPENAI_")}
    env.update(OPENAI_API_KEY="sk-bench-not-a-real-key", OPENAI_BASE_URL=server.base_url)
    env["OPENAI_AGENTS_DISABLE_TRACING"] = "1"  # the baseline's traces would go to OpenAI
    server.scenario = scenario
    started, reads, exited, output = run_in_terminal(program, env, cwd)
    written = server.logs[-1].delta_write_times

    if BANNER not in output:
        raise AssertionError(f"{program.name} did not start streaming; it printed {output[-300:]!r}")
    text_start = output.index(BANNER) + len(BANNER)
    expected = "".join(scenario.deltas).encode()
    if output[text_start : text_start + len(expected)] != expected:
        raise AssertionError(f"{program.name} did not print the answer byte for byte")
    shown, end, next_read = [], text_start, 0
    for delta in scenario.deltas:
        end += len(delta.encode())
        while reads[next_read][1] < end:
            next_read += 1
        shown.append(reads[next_read][0])
    latencies = [(on_screen - sent) * 1000 for on_screen, sent in zip(shown, written, strict=True)]
    return {
        "first_delta_s": shown[0] - started,
        "p50_ms": statistics.median(latencies),
        "p99_ms": statistics.quantiles(latencies, n=100, method="inclusive")[98],
        "max_ms": max(latencies),
        "last_ms": latencies[-1],
        "exit_after_last_s": exited - shown[-1],
    }


def median_of(rounds: list[dict]) -> dict:
    medians = {metric: statistics.median(run[metric] for run in rounds) for metric in rounds[0]}
    return {**medians, "first_delta_fastest_s": min(run["first_delta_s"] for run in rounds)}


def print_summary(start_up: dict, results: dict) -> None:
    """Start-up and the first word from process start, side by side, as ratios to ours."""
    words = results["generated"]
    rows = [
        ("`import agents`, bytecode compiled by `uv sync`", "import_compiled", start_up),
        ("`import agents`, not compiled (PYTHONDONTWRITEBYTECODE=1)", "import_uncompiled", start_up),
        (
            f"building the response models ({start_up['models_visited']} visited, "
            f"{start_up['models_built']} built)",
            "model_build",
            start_up,
        ),
        ("first word: ours", "first_delta", words["ours"]),
        ("first word: the seed's loop", "first_delta", words["baseline"]),
        ("first word: the openai client alone", "first_delta", words["floor"]),
    ]
    ours, ours_fastest = words["ours"]["first_delta_s"], words["ours"]["first_delta_fastest_s"]
    print("\nfrom process start (first words: the generated stream)")
    print("| what | median | / ours' first word | fastest | / ours' fastest |")
    print("|------|-------:|-------------------:|--------:|----------------:|")
    for label, metric, source in rows:
        median, fastest = source[f"{metric}_s"], source[f"{metric}_fastest_s"]
        ratios = f"{median / ours:.2f}x | {fastest:.2f} s | {fastest / ours_fastest:.2f}x"
        print(f"| {label} | {median:.2f} s | {ratios} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="runs of each program per stream (default: 5)")
    parser.add_argument(
        "--deltas", type=int, default=200, help="deltas in the generated stream (default: 200)"
    )
    parser.add_argument(
        "--json", type=Path, default=TESTS / "bench_results.json", help="where to write results"
    )
    args = parser.parse_args()

    start_up = measure_start_up(args.rounds)
    results = {}
    with OpenAIServer() as server, tempfile.TemporaryDirectory() as cwd:
        for stream, scenario in streams(args.deltas).items():
            rounds = {name: [] for name in PROGRAMS}
            for _ in range(args.rounds):
                for name, program in PROGRAMS.items():
                    rounds[name].append(measure(program, server, scenario, cwd))
            results[stream] = {name: median_of(runs) for name, runs in rounds.items()}

    print(
        f"{date.today()}, {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, openai-agents {version('openai-agents')}, "
        f"openai {version('openai')}; median of {args.rounds} rounds, "
        f"deltas {DELTA_INTERVAL * 1000:.0f} ms apart; load average {os.getloadavg()[1]:.2f} (5 min)"
    )
    targets = []
    for stream, programs in results.items():
        print(f"\n{stream}")
        print("| program  | first delta | p50 | p99 | max | last delta | exit after last delta |")
        print("|----------|------------:|----:|----:|----:|-----------:|----------------------:|")
        for name, m in programs.items():
            print(
                f"| {name:<8} | {m['first_delta_s']:.3f} s | {m['p50_ms']:.1f} ms | {m['p99_ms']:.1f} ms | "
                f"{m['max_ms']:.1f} ms | {m['last_ms']:.1f} ms | {m['exit_after_last_s']:.2f} s |"
            )
        ours, baseline = programs["ours"], programs["baseline"]
        last_ratio = ours["last_ms"] / baseline["last_ms"]
        first_ratio = ours["first_delta_s"] / baseline["first_delta_s"]
        print(f"ours / baseline: last delta {last_ratio:.2f}x, first delta {first_ratio:.2f}x")
        if stream != "generated":  # only here does the baseline stall at the end
            targets.append((stream, "last delta <= 0.2x baseline", last_ratio <= 0.2))
        targets += [
            (stream, "last delta <= 30 ms", ours["last_ms"] <= 30),
            (stream, "p99 <= 5 ms", ours["p99_ms"] <= 5),
            (stream, "first delta <= 1.15x baseline", first_ratio <= 1.15),
            (stream, "exit <= 0.8 s after the last delta", ours["exit_after_last_s"] <= 0.8),
        ]
    print_summary(start_up, results)
    print()
    for stream, target, met in targets:
        print(f"{'met   ' if met else 'MISSED'} {target} ({stream})")
    record = {"date": str(date.today()), "start_up": start_up, "results": results}
    args.json.write_text(json.dumps(record, indent=2) + "\n")
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
