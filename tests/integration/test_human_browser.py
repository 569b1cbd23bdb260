"""`antrenor human` end to end in a real headless browser (Playwright driving Debian's Chromium).

Two raters open their links, rate every page (one with the keyboard shortcuts, one with the mouse), one
reloads halfway and finds their ratings kept; the report then holds exactly what they entered.
"""

from __future__ import annotations

import json
import shutil
import socket
import threading
import time

import pytest

from antrenor.human.commands import create, report
from antrenor.human.plan import rater_pages
from antrenor.human.task import load_task, read_json
from tests.conftest import write_jsonl

pytestmark = pytest.mark.integration
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
playwright_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (in the dev extras)")
if CHROMIUM is None:
    pytest.skip("no chromium on PATH: apt-get install chromium (make test installs it when it can)",
                allow_module_level=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served(tmp_path):
    import uvicorn

    from antrenor.human.server import create_app

    rows = [{"model": model, "prompt": f"Propune un titlu pentru articolul {n}. <b>nu e bold</b>",
             "reference": f"Titlul {n}", "prediction": f"{'Titlu bun' if model == 'tuned' else 'titlu slab'} {n}"}
            for model in ("base", "tuned") for n in range(4)]
    task = create([write_jsonl(tmp_path / "predictions.jsonl", rows)], tmp_path / "task", criteria=["correctness", "fluency"],
                  raters=["ana", "mihai"], side_by_side=True, seed=1)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(task.folder), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    yield task, f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def tuned_letter(task, rater, page_text):
    """Which screen letter holds the tuned model's answer (its text says 'Titlu bun')."""
    return "A" if page_text.index("Titlu bun") < page_text.index("titlu slab") else "B"


def test_two_raters_rate_blind_reload_and_the_report_matches(served):
    task, url = served
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        # ana: mouse only, the tuned answer gets 5s and wins; she reloads after two pages
        ana = browser.new_context().new_page()
        ana.goto(f"{url}/r/{task.raters['ana']}")
        for n in range(4):
            text = ana.locator("main").inner_text()
            assert "tuned" not in text and "base" not in text  # blind
            assert ana.locator("b").count() == 0  # markup in a prompt is shown as text, not rendered
            good = tuned_letter(task, "ana", text)
            bad = "B" if good == "A" else "A"
            for criterion in ("correctness", "fluency"):
                ana.locator(f'input[name="{good}.{criterion}"][value="5"]').check()
                ana.locator(f'input[name="{bad}.{criterion}"][value="2"]').check()
            ana.locator(f'input[name="choice"][value="{good}"]').check()
            ana.locator("#save").click()
            ana.wait_for_load_state()
            if n == 1:
                ana.reload()
                assert "2 / 4" in ana.locator(".count").first.inner_text()  # progress kept across the reload
                ana.goto(f"{url}/rate?page=0")
                assert ana.locator("input:checked").count() == 5  # page 1 as she left it (4 scores, 1 choice)
                ana.goto(f"{url}/rate")
        assert "4 / 4" in ana.locator("main").inner_text()
        # mihai: keyboard only: 1-5 fill the scales in order (A's criteria, then B's), E picks a tie, Enter saves
        mihai = browser.new_context().new_page()
        mihai.goto(f"{url}/r/{task.raters['mihai']}")
        for _ in range(4):
            for key in "4433":
                mihai.keyboard.press(key)
            mihai.keyboard.press("e")
            with mihai.expect_navigation():
                mihai.keyboard.press("Enter")
        assert "4 / 4" in mihai.locator("main").inner_text()
        browser.close()

    paths = report(task.folder, samples=200)
    summary = json.loads(paths["json"].read_text())
    # ana gave tuned 5 and base 2; mihai gave A (4, 4) and B (3, 3) whatever model sat there
    data, names = load_task(task.folder), read_json(task.folder, "systems.json")
    mihai_tuned = [4 if names[page.systems[0]] == "tuned" else 3 for page in rater_pages(data, "mihai")]
    expected_tuned = (5 * 4 + sum(mihai_tuned)) / 8
    assert summary["scores"]["tuned"]["correctness"]["mean"] == pytest.approx(expected_tuned)
    pair = summary["win_rates"][0]
    assert (pair["system_a"], pair["system_b"]) == ("base", "tuned")
    assert (pair["wins"], pair["losses"], pair["ties"]) == (0, 4, 4)  # ana picked tuned 4 times, mihai tied 4 times
    exported = [json.loads(line) for line in paths["preferences_jsonl"].read_text().splitlines()]
    assert exported == []  # one vote each way on every prompt: no majority, nothing exported
    assert "tuned" in paths["html"].read_text()
