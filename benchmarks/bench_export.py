"""The exported files of a quality-preset model, and how fast the web page generates.

    python benchmarks/bench_export.py [--iterations N] [--length 1000] [--repeats 5]

Trains the quality preset's model (two GRU layers of 160, float32, the built-in corpus's 65
characters) for a few updates (sizes and speed do not depend on how well it is trained),
exports it as safetensors, ONNX and a web page, prints the three sizes, then opens the page in
headless Chromium (selenium, Debian's chromium and chromedriver) and prints the time the page
measured for generating LENGTH characters, greedy and at temperature 1 (median of the repeats).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from tui_rnn.cli import main
from tui_rnn.cli.model_files import cmd_export_model


def export(run_dir: Path, output: Path) -> int:
    args = argparse.Namespace(run_dir=str(run_dir), output=str(output), format=None)
    args.checkpoint = "best"
    assert cmd_export_model(args) == 0
    return output.stat().st_size


def page_times(page: Path, length: int, repeats: int) -> dict[str, float]:
    from selenium import webdriver
    from selenium.webdriver.common.by import By

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    driver = webdriver.Chrome(
        options=options, service=webdriver.ChromeService("/usr/bin/chromedriver")
    )
    try:
        driver.get(page.as_uri())
        times = {}
        for temperature in ("0", "1"):
            runs = []
            for _ in range(repeats):
                for name, value in (("temperature", temperature), ("length", str(length))):
                    element = driver.find_element(By.ID, name)
                    element.clear()
                    element.send_keys(value)
                driver.find_element(By.ID, "generate").click()
                status = driver.find_element(By.ID, "status")
                runs.append(float(status.get_attribute("data-milliseconds")))
            times[temperature] = statistics.median(runs)
        return times
    finally:
        driver.quit()


def main_bench() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--length", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        train = ["train", "--preset", "quality", "--iterations", str(args.iterations)]
        assert main([*train, "--run-dir", str(run_dir)]) == 0
        formats = ("safetensors", "onnx", "html")
        sizes = {fmt: export(run_dir, Path(tmp) / f"model.{fmt}") for fmt in formats}
        for fmt, size in sizes.items():
            print(f"{fmt:12} {size:>10,} bytes ({size / 1024:,.0f} KiB)")
        times = page_times(Path(tmp) / "model.html", args.length, args.repeats)
        for temperature, ms in times.items():
            print(
                f"web page, {args.length:,} characters at temperature {temperature}: {ms:,.0f} ms"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main_bench())
