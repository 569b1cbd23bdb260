"""`antrenor human`: task creation, the rating server (FastAPI TestClient), the store, and the report glue."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from antrenor.errors import ConfigError, DataError
from antrenor.human.commands import create, rater_links, report, task_summary
from antrenor.human.plan import rater_pages
from antrenor.human.task import load_task, read_json
from tests.conftest import write_jsonl

CRITERIA = ["correctness", "fluency"]
EVIL = "<script>alert('x')</script>"


def predictions(path, models=("base", "legal-tuned"), prompts=6):
    """Answers name their model by a code word only (unu, doi, ...), so a page showing a model name is a leak."""
    codes = dict(zip(models, ["unu", "doi", "trei"]))
    rows = [{"model": model, "prompt": f"Întrebarea {n} {EVIL if n == 0 else ''}", "reference": f"ref {n}",
             "prediction": f"răspunsul {codes[model]} la {n}" + (f" {EVIL}" if n == 1 else "")}
            for model in models for n in range(prompts)]
    return write_jsonl(path, rows)


@pytest.fixture
def task(tmp_path):
    created = create([predictions(tmp_path / "predictions.jsonl")], tmp_path / "task", criteria=CRITERIA,
                     raters=["ana", "mihai"], side_by_side=True, show_reference=True, seed=3)
    return created


@pytest.fixture
def client(task):
    from fastapi.testclient import TestClient

    from antrenor.human.server import create_app

    return TestClient(create_app(task.folder))


def enter(client, task, rater):
    """Follow the rater's link: the server's cookie identifies them from then on (one client = one browser)."""
    response = client.get(f"/r/{task.raters[rater]}", follow_redirects=False)
    assert response.status_code == 303 and "httponly" in response.headers["set-cookie"].lower()
    return client


def browser(task):
    from fastapi.testclient import TestClient

    from antrenor.human.server import create_app

    return TestClient(create_app(task.folder))


def page_number(html):
    return int(re.search(r'name="page" value="(\d+)"', html).group(1))


def rate_page(client, html, scores=(4, 3, 2, 5), choice="A", comment=""):
    form = {"page": str(page_number(html)), "choice": choice, "comment": comment}
    keys = re.findall(r'name="([AB]\.[a-z]+)" value="1"', html)
    form.update({key: str(score) for key, score in zip(keys, scores)})
    return client.post("/rate", data=form, follow_redirects=False)


def test_create_hides_models_behind_opaque_ids(task):
    data = load_task(task.folder)
    assert len(data["items"]) == 6 and data["mode"] == "side_by_side"
    systems = read_json(task.folder, "systems.json")
    assert sorted(systems.values()) == ["base", "legal-tuned"] and sorted(systems) == ["s1", "s2"]
    text = (task.folder / "task.json").read_text()
    assert "legal-tuned" not in text and '"base"' not in text  # what the server reads names no model
    assert set(task.raters) == {"ana", "mihai"} and all(len(t) >= 20 for t in task.raters.values())
    assert set(rater_links(task)) == {"ana", "mihai"}


def test_each_rater_gets_a_stable_order_of_their_own(task):
    data = load_task(task.folder)
    ana, mihai = rater_pages(data, "ana"), rater_pages(data, "mihai")
    assert rater_pages(data, "ana") == ana  # same order on every visit
    assert [p.item for p in ana] != [p.item for p in mihai] or [p.systems for p in ana] != [p.systems for p in mihai]
    sides = {p.systems for p in ana} | {p.systems for p in mihai}
    assert len(sides) == 2  # both screen orders occur: A is not always the same model


def test_pages_need_a_token_and_never_show_model_names_or_raw_script(client, task):
    assert client.get("/rate").status_code == 401
    assert client.get("/r/not-a-token").status_code == 401
    assert client.post("/enter", data={"token": "nope"}).status_code == 401
    enter(client, task, "ana")
    seen = []
    for _ in range(6):
        html = client.get("/rate").text
        seen.append(html)
        assert rate_page(client, html).status_code == 303
    pages = "".join(seen)
    assert "legal-tuned" not in pages and "base" not in pages and "s1" not in pages and "s2" not in pages
    assert "<script>alert" not in pages and "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in pages
    assert "ref 0" in pages or "ref 1" in pages  # the reference is shown when the task says so
    done = client.get("/rate").text
    assert "6 / 6" in done


def test_ratings_are_saved_at_once_and_a_reload_shows_only_my_own(client, task):
    enter(client, task, "ana")
    html = client.get("/rate").text
    first = page_number(html)
    rate_page(client, html, scores=(5, 4, 1, 2), choice="B", comment="clar")
    ratings = json.loads(json.dumps(__import__("antrenor.human.store", fromlist=["RatingStore"])
                                    .RatingStore(task.folder / "ratings.sqlite").all_ratings()))
    assert len(ratings) == 4 and {r["rater"] for r in ratings} == {"ana"}
    again = client.get(f"/rate?page={first}").text  # going back: the form holds what I entered
    for key, value in zip(re.findall(r'name="([AB]\.[a-z]+)" value="1"', again), (5, 4, 1, 2)):
        assert re.search(rf'name="{re.escape(key)}" value="{value}" checked', again)
    assert re.search(r'name="choice" value="B" checked', again) and "clar" in again
    other = enter(browser(task), task, "mihai")
    for page in range(6):  # another rater sees none of ana's scores, on any page
        theirs = other.get(f"/rate?page={page}").text
        assert "checked" not in theirs and "clar" not in theirs


def test_rerating_a_page_replaces_the_scores(client, task):
    enter(client, task, "ana")
    html = client.get("/rate").text
    rate_page(client, html, scores=(1, 1, 1, 1), choice="A")
    html = client.get(f"/rate?page={page_number(html)}").text
    rate_page(client, html, scores=(5, 5, 5, 5), choice="tie")
    from antrenor.human.store import RatingStore

    store = RatingStore(task.folder / "ratings.sqlite")
    assert [r["score"] for r in store.all_ratings()] == [5, 5, 5, 5]
    assert [p["choice"] for p in store.all_preferences()] == ["tie"]


def test_an_incomplete_page_is_refused_and_keeps_what_was_entered(client, task):
    enter(client, task, "ana")
    html = client.get("/rate").text
    keys = re.findall(r'name="([AB]\.[a-z]+)" value="1"', html)
    response = client.post("/rate", data={"page": str(page_number(html)), keys[0]: "4"})
    assert response.status_code == 422
    assert "Lipsește nota" in response.text and "Alegeți" in response.text
    assert re.search(rf'name="{re.escape(keys[0])}" value="4" checked', response.text)
    from antrenor.human.store import RatingStore

    assert RatingStore(task.folder / "ratings.sqlite").all_ratings() == []


@pytest.mark.parametrize("number", ["-1", "6", "x"])
def test_a_page_number_outside_the_raters_pages_saves_nothing(client, task, number):
    enter(client, task, "ana")
    html = client.get("/rate").text
    keys = re.findall(r'name="([AB]\.[a-z]+)" value="1"', html)
    response = client.post("/rate", data={"page": number, "choice": "A", **{key: "5" for key in keys}},
                           follow_redirects=False)
    from antrenor.human.store import RatingStore

    assert response.status_code == 303  # back to the next unrated page; page -1 once saved onto the last page
    assert RatingStore(task.folder / "ratings.sqlite").all_ratings() == []


def test_form_posts_from_another_origin_are_refused(client, task):
    token = task.raters["ana"]
    refused = client.post("/enter", data={"token": token}, headers={"Origin": "http://evil.example"},
                          follow_redirects=False)
    sandboxed = client.post("/enter", data={"token": token}, headers={"Origin": "null"}, follow_redirects=False)
    assert (refused.status_code, sandboxed.status_code) == (403, 403)
    assert "another site" in refused.text and "set-cookie" not in refused.headers
    own = client.post("/enter", data={"token": token}, headers={"Origin": "http://testserver"}, follow_redirects=False)
    assert own.status_code == 303 and "set-cookie" in own.headers  # the app's own form still works


def test_english_anchors_on_request(client, task):
    enter(client, task, "ana")
    html = client.get("/rate?lang=en").text
    assert "Completely correct" in html and "Which answer is better?" in html
    assert "Complet corect" in client.get("/rate?lang=ro").text


def test_report_maps_the_ratings_back_to_the_models(client, task):
    data = load_task(task.folder)
    systems = read_json(task.folder, "systems.json")
    tuned = next(s for s, name in systems.items() if name == "legal-tuned")
    for rater in ("ana", "mihai"):
        client = enter(browser(task), task, rater)
        for _ in range(len(data["items"])):
            html = client.get("/rate").text
            page = rater_pages(data, rater)[page_number(html)]
            letter_of_tuned = "AB"[page.systems.index(tuned)]
            scores = (5, 5, 2, 2) if letter_of_tuned == "A" else (2, 2, 5, 5)  # the tuned model always scores 5
            rate_page(client, html, scores=scores, choice=letter_of_tuned,
                      comment="foarte clar" if rater == "mihai" and page == rater_pages(data, rater)[0] else "")
    assert task_summary(task.folder) == {"ana": {"done": 6, "pages": 6}, "mihai": {"done": 6, "pages": 6}}
    paths = report(task.folder, samples=200)
    summary = json.loads(paths["json"].read_text())
    assert summary["scores"]["legal-tuned"]["correctness"]["mean"] == 5.0
    assert summary["scores"]["base"]["correctness"]["mean"] == 2.0
    win = summary["win_rates"][0]
    assert (win["system_a"], win["system_b"], win["items_lost"], win["win_rate"]) == ("base", "legal-tuned", 6, 0.0)
    import csv

    comments = list(csv.DictReader(paths["comments_csv"].open(encoding="utf-8")))
    assert [(c["rater"], c["comment"]) for c in comments] == [("mihai", "foarte clar")]
    exported = [json.loads(line) for line in paths["preferences_jsonl"].read_text().splitlines()]
    assert len(exported) == 6 and all(r["chosen"].startswith("răspunsul doi") for r in exported)


def test_bad_predictions_are_named_by_file_and_line(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text('{"model": "a", "prompt": "q", "prediction": "x"}\n{"model": "b", "prompt": "q"\n')
    with pytest.raises(DataError, match=r"p.jsonl:2: invalid JSON"):
        create([path], tmp_path / "t")
    path.write_text('{"model": "a", "prompt": "q"}\n')
    with pytest.raises(DataError, match=r"p.jsonl:1: no prediction field"):
        create([path], tmp_path / "t")
    with pytest.raises(ConfigError, match="side-by-side compares two models"):
        create([predictions(tmp_path / "three.jsonl", models=("a", "b", "c"))], tmp_path / "t", side_by_side=True)
    created = create([predictions(tmp_path / "two.jsonl")], tmp_path / "t2", raters=1)
    with pytest.raises(ConfigError, match="already holds a rating task"):
        create([predictions(tmp_path / "two.jsonl")], created.folder)


def test_cli_create_then_report_before_any_rating(tmp_path, capsys):
    from antrenor.cli import main

    source = predictions(tmp_path / "predictions.jsonl")
    assert main(["human", "create", "--predictions", str(source), "--output", str(tmp_path / "t"), "--raters", "2",
                 "--criteria", "correctness,register", "--max-items", "4", "--json"]) == 0
    created = json.loads(capsys.readouterr().out)
    assert created["items"] == 4 and sorted(created["links"]) == ["rater1", "rater2"]
    assert all(link.startswith("http://127.0.0.1:8010/r/") for link in created["links"].values())
    assert main(["human", "report", str(tmp_path / "t"), "--json"]) == 0
    paths = json.loads(capsys.readouterr().out)
    summary = json.loads(open(paths["json"]).read())
    assert summary["counts"]["ratings"] == 0 and "no ratings yet" in open(paths["html"]).read().lower()
    assert main(["human", "create", "--predictions", str(tmp_path / "missing.jsonl"), "--output", str(tmp_path / "u")]) == 2


def test_cli_serve_runs_the_app_on_its_port(task, tmp_path):
    import subprocess
    import sys
    import time

    import httpx

    from tests.unit.serve_process import REPO, free_port

    port = free_port()
    with (tmp_path / "serve.out").open("wb") as sink:
        process = subprocess.Popen([sys.executable, "-m", "antrenor", "human", "serve", str(task.folder), "--port",
                                    str(port)], cwd=REPO, stdout=sink, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 60
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/r/{task.raters['ana']}", follow_redirects=True)
                break
            except httpx.ConnectError:
                assert process.poll() is None and time.time() < deadline, (tmp_path / "serve.out").read_text()
                time.sleep(0.2)
        assert response.status_code == 200 and "Răspunsul A" in response.text
        printed = (tmp_path / "serve.out").read_text()
        assert f"/r/{task.raters['mihai']}" in printed  # the links to hand out
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_the_report_folder_is_marked_and_never_written_over_what_antrenor_did_not_write(task, tmp_path, capsys):
    """docs/output-folders.md for `human report`: marked; a re-run replaces its own files; another task's report,
    another stage's results or files of the user's are refused unless --overwrite, which keeps them."""
    from antrenor.cli import main
    from antrenor.reporting.output_folder import MARKER, read_marker

    default = task.folder / "report"
    report(task.folder, samples=100)
    marker = read_marker(default)
    assert marker["stage"] == "human report" and marker["inputs"] == [str((task.folder / "task.json").resolve())]
    assert {"report.html", "report.json", "human_preferences.jsonl", "comments.csv"} <= set(marker["files"])
    assert "finished" in marker
    report(task.folder, samples=100)  # a re-run of the same task: allowed

    other = create([predictions(tmp_path / "other.jsonl")], tmp_path / "other", criteria=CRITERIA, raters=1)
    with pytest.raises(ConfigError, match=rf"output {default} holds the human report results of other inputs "
                                          rf"\({task.folder.resolve()}/task.json; this run reads "):
        report(other.folder, default, samples=100)
    prepared = tmp_path / "prepared"
    prepared.mkdir()
    (prepared / MARKER).write_text(json.dumps({"stage": "prepare", "inputs": [], "files": []}))
    with pytest.raises(ConfigError, match="holds the results of `antrenor prepare`"):
        report(task.folder, prepared, samples=100)
    with pytest.raises(ConfigError, match=f"output {task.folder} holds the input {task.folder}/task.json"):
        report(task.folder, task.folder, samples=100, overwrite=True)  # overlap: refused even with overwrite

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "report.html").write_text("my notes")
    assert main(["human", "report", str(task.folder), "--output", str(mine), "--quiet"]) == 2
    assert f"output {mine} is not empty and antrenor did not write it (report.html)" in capsys.readouterr().err
    assert (mine / "report.html").read_text() == "my notes" and not (mine / MARKER).exists()
    (mine / "notes.txt").write_text("keep me")
    assert main(["human", "report", str(task.folder), "--output", str(mine), "--overwrite", "--quiet"]) == 0
    assert (mine / "notes.txt").read_text() == "keep me" and "notes.txt" not in read_marker(mine)["files"]

    older = tmp_path / "older"  # what an antrenor older than the marker left: its own files only, rerun
    shutil.copytree(default, older, ignore=shutil.ignore_patterns(MARKER))
    report(task.folder, older, samples=100)
    assert read_marker(older)["stage"] == "human report"
