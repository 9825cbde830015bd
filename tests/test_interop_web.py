"""The exported web page generates what `tui-rnn generate` prints: its sampler under Node, and the
page itself in headless Chromium (typed into, clicked, read back), with nothing fetched. Skipped
without node, or chromium, chromedriver and selenium (failed under TUI_RNN_REQUIRE_INTEROP=1)."""

from __future__ import annotations

import json
import re
import subprocess

import numpy as np
import pytest
from interop_support import CHROMIUM, NODE, need_module, need_program, run_command

from tui_rnn.cli import main

NODE_RUNNER = """
const fs = require("fs");
const [samplerFile, modelFile] = process.argv.slice(2);
const sampler = require(samplerFile);
const model = sampler.loadModel(JSON.parse(fs.readFileSync(modelFile, "utf8")));
const jobs = JSON.parse(fs.readFileSync(0, "utf8"));
const results = jobs.map((job) => {
  if (job.uniforms !== undefined) {
    const rng = new sampler.PCG64(BigInt(job.seed));
    return Array.from({ length: job.uniforms }, () => rng.random());
  }
  return sampler.generateText(model, job.prompt, job.length, job.temperature, job.topP,
    BigInt(job.seed));
});
process.stdout.write(JSON.stringify(results));
"""


def page_parts(page: str) -> tuple[str, str]:
    """(the sampler's source, the model's JSON) as the page holds them."""
    model = re.search(r'<script type="application/json" id="model">(.*?)</script>', page, re.S)[1]
    scripts = re.findall(r"<script>\n(.*?)</script>", page, re.S)
    sampler = next(s for s in scripts if "TuiRnnSampler" in s and "function loadModel" in s)
    return sampler, model


def export_page(run, path, capsys):
    code, _, err = run_command("export-model", [run, path], capsys)
    assert code == 0, err
    return path


def cli_generate(run, capsys, prompt="", length=300, temperature=0.0, top_p=1.0, seed=0) -> str:
    """What `tui-rnn generate` prints (the best model: the one exported), less the last newline."""
    argv = ["generate", str(run), "--best", "--prompt", prompt, "--length", str(length)]
    argv += ["--temperature", str(temperature), "--top-p", str(top_p), "--seed", str(seed)]
    capsys.readouterr()
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.endswith("\n")
    return out[:-1]


JOBS = [
    {"prompt": "The man ", "length": 300, "temperature": 0, "topP": 1, "seed": 0},
    {"prompt": "", "length": 300, "temperature": 0, "topP": 1, "seed": 0},
    {"prompt": "A", "length": 300, "temperature": 0.8, "topP": 1, "seed": 7},
    {"prompt": "He said", "length": 300, "temperature": 1.2, "topP": 0.7, "seed": 2**70 + 5},
]


@pytest.mark.parametrize("key", [("rnn", 1), ("lstm", 2), ("gru", 2), ("gru", 1)])
def test_the_pages_sampler_under_node_generates_what_the_cli_prints(
    interop_runs, tmp_path, capsys, key
):
    node = need_program(("node", "nodejs"), NODE)
    run = interop_runs[key]
    sampler, model = page_parts(export_page(run, tmp_path / "p.html", capsys).read_text("utf-8"))
    (tmp_path / "sampler.js").write_text(sampler, encoding="utf-8")
    (tmp_path / "model.json").write_text(model, encoding="utf-8")
    (tmp_path / "runner.js").write_text(NODE_RUNNER, encoding="utf-8")
    jobs = [{**job, "seed": str(job["seed"])} for job in JOBS]
    done = subprocess.run(
        [node, tmp_path / "runner.js", tmp_path / "sampler.js", tmp_path / "model.json"],
        input=json.dumps(jobs), capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    results = json.loads(done.stdout)
    for job, text in zip(JOBS, results, strict=True):
        expected = cli_generate(run, capsys, job["prompt"], job["length"], job["temperature"],
                                job["topP"], job["seed"])  # fmt: skip
        assert len(text) == len(job["prompt"]) + 300
        assert text == expected, job


def test_the_pages_random_numbers_are_numpys(tmp_path, interop_runs, capsys):
    node = need_program(("node", "nodejs"), NODE)
    sampler, model = page_parts(
        export_page(interop_runs["rnn", 1], tmp_path / "p.html", capsys).read_text("utf-8")
    )
    (tmp_path / "sampler.js").write_text(sampler, encoding="utf-8")
    (tmp_path / "model.json").write_text(model, encoding="utf-8")
    (tmp_path / "runner.js").write_text(NODE_RUNNER, encoding="utf-8")
    seeds = [0, 1, 42, 2**32 - 1, 2**32, 2**64 + 3, 2**130 + 17]  # 1 to 5 words of entropy
    jobs = [{"seed": str(seed), "uniforms": 20} for seed in seeds]
    done = subprocess.run(
        [node, tmp_path / "runner.js", tmp_path / "sampler.js", tmp_path / "model.json"],
        input=json.dumps(jobs), capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    for seed, uniforms in zip(seeds, json.loads(done.stdout), strict=True):
        rng = np.random.Generator(np.random.PCG64(seed))
        assert uniforms == [rng.random() for _ in range(20)], seed


# -- the page in a real browser -------------------------------------------------------------------
@pytest.fixture(scope="module")
def browser():
    webdriver = need_module("selenium.webdriver", CHROMIUM)
    chromium = need_program(("chromium", "chromium-browser", "google-chrome"), CHROMIUM)
    driver_path = need_program(("chromedriver",), CHROMIUM)
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-extensions", "--no-first-run"):  # fmt: skip
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(driver_path))
    driver.set_page_load_timeout(20)
    yield driver
    driver.quit()


def requests_made(driver) -> list[str]:
    """The URL of every request the browser sent since the last call (its DevTools log)."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def fill(driver, values: dict[str, str]) -> None:
    from selenium.webdriver.common.by import By

    for name, value in values.items():
        element = driver.find_element(By.ID, name)
        element.clear()
        element.send_keys(value)


def test_the_page_in_chromium_generates_what_the_cli_prints_and_fetches_nothing(
    interop_runs, tmp_path, capsys, browser
):
    from selenium.webdriver.common.by import By

    run = interop_runs["gru", 2]
    page = export_page(run, tmp_path / "page.html", capsys)
    requests_made(browser)  # forget what came before
    browser.get(page.as_uri())
    cases = [
        (
            {"prompt": "The man ", "temperature": "0", "length": "300", "seed": "0"},
            ("The man ", 300, 0.0, 1.0, 0),
        ),  # fmt: skip
        (
            {"prompt": "Be", "temperature": "0.9", "length": "250", "seed": "11"},
            ("Be", 250, 0.9, 1.0, 11),
        ),  # fmt: skip
    ]
    for values, (prompt, length, temperature, top_p, seed) in cases:
        fill(browser, values)
        browser.find_element(By.ID, "generate").click()
        text = browser.find_element(By.ID, "output").get_property("value")
        assert text == cli_generate(run, capsys, prompt, length, temperature, top_p, seed)
        assert browser.find_element(By.ID, "status").text.startswith(f"{length} characters in ")
    # A prompt the model cannot read is said, as text; the output stays empty.
    fill(browser, {"prompt": "<b>\u00e9</b>"})
    browser.find_element(By.ID, "generate").click()
    assert browser.find_element(By.ID, "output").get_property("value") == ""
    status = browser.find_element(By.ID, "status")
    assert "not in the model's vocabulary" in status.text and "\u00e9" in status.text
    assert status.get_property("innerHTML").count("<") == 0  # set as text, never markup
    resources = browser.execute_script("return performance.getEntriesByType('resource').length")
    assert resources == 0
    urls = requests_made(browser)
    assert page.as_uri() in urls  # the log sees requests: the page's own is the only one
    assert [url for url in urls if url != page.as_uri()] == []
