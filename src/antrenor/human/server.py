"""`antrenor human serve`: the rating web app (FastAPI, server-rendered HTML, a little JS for shortcuts).

A rater enters with their token (the link `create` printed, or the form on /), which sets an HttpOnly
cookie. Each page shows one item: the prompt, the reference if the task shows it, and one answer (or two,
side by side, labelled A and B in that rater's own order), with 1-5 Likert scales whose anchors are in
Romanian or English. A submitted page is saved to SQLite at once; the next unrated page follows, so a
rater can stop at any time and resume where they left off. Pages never carry model names, system ids or
other raters' ratings: forms name answers by their screen letter, and the server maps letters back
through the rater's own plan.

Every page past the entry form needs a rater's 128-bit token (an HttpOnly, SameSite=strict cookie, which a
browser sends only to the host that set it), so a page reaching the app through DNS rebinding sees only
that form. Form posts from another origin (an Origin header that does not match Host) are refused (403).
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from antrenor.human.plan import LETTERS, Page, rater_pages
from antrenor.human.store import RatingStore
from antrenor.human.task import load_task, read_json

TEMPLATES = Path(__file__).parent / "templates"
COOKIE = "antrenor_rater"
TEXT = {
    "ro": {"answer": "Răspunsul", "prompt": "Cerere", "reference": "Răspuns de referință", "save": "Salvează și continuă",
           "back": "Înapoi", "which": "Care răspuns este mai bun?", "tie": "La egalitate", "comment": "Comentariu (opțional)",
           "missing": "Lipsește nota pentru", "missing_choice": "Alegeți răspunsul mai bun (sau egalitate).",
           "progress": "pagini evaluate", "done": "Mulțumim! Ați evaluat toate paginile.", "review": "Revedeți o pagină",
           "enter": "Introduceți codul de acces primit", "go": "Intră", "bad_token": "Cod de acces necunoscut.",
           "shortcuts": "Taste: 1-5 notează criteriul curent, A/B/E alege răspunsul, Enter salvează, ← înapoi.",
           "page": "Pagina", "of": "din"},
    "en": {"answer": "Answer", "prompt": "Request", "reference": "Reference answer", "save": "Save and continue",
           "back": "Back", "which": "Which answer is better?", "tie": "Tie", "comment": "Comment (optional)",
           "missing": "Missing score for", "missing_choice": "Choose the better answer (or tie).",
           "progress": "pages rated", "done": "Thank you! You have rated every page.", "review": "Review a page",
           "enter": "Enter the access code you were given", "go": "Enter", "bad_token": "Unknown access code.",
           "shortcuts": "Keys: 1-5 score the current criterion, A/B/E pick an answer, Enter saves, ← back.",
           "page": "Page", "of": "of"},
}


def create_app(task_folder: str | Path) -> FastAPI:
    folder = Path(task_folder)
    task = load_task(folder)
    tokens = read_json(folder, "raters.json")
    store = RatingStore(folder / "ratings.sqlite")
    items = {item["id"]: item for item in task["items"]}
    plans = {rater: rater_pages(task, rater) for rater in tokens}
    templates = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
    app = FastAPI(title="antrenor human", docs_url=None, redoc_url=None, openapi_url=None)

    @app.middleware("http")
    async def refuse_cross_origin_posts(request: Request, call_next: Any) -> Any:
        origin = request.headers.get("origin")
        if request.method == "POST" and origin is not None and not same_origin(origin, request.headers.get("host", "")):
            return Response(f"403: a form sent from another site ({origin}) is refused; open the rating app's own page",
                            status_code=403, media_type="text/plain")
        return await call_next(request)

    def rater_of(request: Request) -> str | None:
        token = request.cookies.get(COOKIE, "")
        return next((name for name, known in tokens.items() if token and secrets.compare_digest(token, known)), None)

    def language(request: Request) -> str:
        chosen = request.query_params.get("lang") or request.cookies.get("lang") or "ro"
        return chosen if chosen in TEXT else "ro"

    def render(name: str, request: Request, status: int = 200, **values: Any) -> HTMLResponse:
        lang = language(request)
        html = templates.get_template(name).render(t=TEXT[lang], lang=lang, title=task["title"], **values)
        response = HTMLResponse(html, status_code=status)
        response.set_cookie("lang", lang, samesite="strict")
        response.headers["Content-Security-Policy"] = "default-src 'self'; script-src 'self'; style-src 'self'"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    def enter(token: str) -> RedirectResponse | None:
        if not any(secrets.compare_digest(token, known) for known in tokens.values()):
            return None
        response = RedirectResponse("/rate", status_code=303)
        response.set_cookie(COOKIE, token, httponly=True, samesite="strict")
        return response

    @app.get("/", response_class=HTMLResponse)
    def welcome(request: Request) -> Any:
        if rater_of(request):
            return RedirectResponse("/rate", status_code=303)
        return render("enter.html", request)

    @app.post("/enter")
    async def enter_form(request: Request) -> Any:
        form = await request.form()
        return enter(str(form.get("token", "")).strip()) or render("enter.html", request, status=401, error=True)

    @app.get("/r/{token}")
    def enter_link(token: str, request: Request) -> Any:
        return enter(token) or render("enter.html", request, status=401, error=True)

    @app.get("/static/{name}")
    def static(name: str) -> Any:
        allowed = {"rate.js": "text/javascript", "style.css": "text/css"}
        if name not in allowed:
            return Response(status_code=404)
        return FileResponse(TEMPLATES / name, media_type=allowed[name])

    @app.get("/rate", response_class=HTMLResponse)
    def rate(request: Request, page: int | None = None) -> Any:
        rater = rater_of(request)
        if rater is None:
            return render("enter.html", request, status=401)
        pages = plans[rater]
        done = done_pages(store, rater, pages)
        if page is None:
            page = next((n for n, p in enumerate(pages) if n not in done), None)
            if page is None:
                return render("done.html", request, done=len(done), total=len(pages))
        if not 0 <= page < len(pages):
            return RedirectResponse("/rate", status_code=303)
        return render("rate.html", request, **_page_values(task, items[pages[page].item], pages[page], page, len(pages),
                                                           len(done), _saved_values(store, rater, pages[page])))

    @app.post("/rate", response_class=HTMLResponse)
    async def save(request: Request) -> Any:
        rater = rater_of(request)
        if rater is None:
            return render("enter.html", request, status=401)
        form = await request.form()
        pages = plans[rater]
        try:
            number = int(str(form.get("page")))
        except ValueError:
            return RedirectResponse("/rate", status_code=303)
        if not 0 <= number < len(pages):  # pages[-1] would save the scores onto the last page
            return RedirectResponse("/rate", status_code=303)
        shown = pages[number]
        scores, choice, problems = _read_form(form, task, shown)
        comment = str(form.get("comment", ""))[:4000]
        if problems:
            entered = {"scores": {k: v for k, v in _letter_scores(form, task, shown).items()},
                       "choice": str(form.get("choice", "")), "comment": comment}
            return render("rate.html", request, status=422, problems=problems,
                          **_page_values(task, items[shown.item], shown, number, len(pages),
                                         len(done_pages(store, rater, pages)), entered))
        store.save_page(rater, shown.item, scores, choice, shown.key, comment)
        return RedirectResponse("/rate", status_code=303)

    return app


def same_origin(origin: str, host: str) -> bool:
    """Whether a browser's Origin header names the host:port the request was sent to ('null' never does)."""
    try:
        return origin != "null" and urlsplit(origin).netloc.lower() == host.lower() != ""
    except ValueError:
        return False


def done_pages(store: RatingStore, rater: str, pages: list[Page]) -> set[int]:
    """The pages this rater has rated for every system shown on them."""
    rated = store.rated_pages(rater)
    return {n for n, page in enumerate(pages) if all((page.item, system) in rated for system in page.systems)}


def _saved_values(store: RatingStore, rater: str, page: Page) -> dict[str, Any]:
    """The rater's own earlier answers on this page, keyed by screen letter (never by system id)."""
    saved = store.rater_scores(rater, page.item)
    scores = {f"{LETTERS[n]}.{criterion}": score for n, system in enumerate(page.systems)
              for (rated_system, criterion), score in saved.items() if rated_system == system}
    choice = ""
    stored = store.rater_choice(rater, page.item) if len(page.systems) == 2 else None
    if stored:
        winner = {"first": stored["first"], "second": stored["second"]}.get(stored["choice"])
        choice = "tie" if winner is None else LETTERS[page.systems.index(winner)]
    return {"scores": scores, "choice": choice, "comment": store.rater_comment(rater, page.key)}


def _page_values(task: dict[str, Any], item: dict[str, Any], page: Page, number: int, total: int, done: int,
                 entered: dict[str, Any]) -> dict[str, Any]:
    answers = [{"letter": LETTERS[n], "text": item["answers"][system]} for n, system in enumerate(page.systems)]
    return {"item": item, "answers": answers, "criteria": task["criteria"], "names": task["criterion_names"],
            "anchors": task["anchors"], "show_reference": task["show_reference"] and item.get("reference"),
            "side_by_side": len(page.systems) == 2, "page": number, "total": total, "done": done,
            "percent": round(100 * done / max(1, total)), "entered": entered}


def _letter_scores(form: Any, task: dict[str, Any], page: Page) -> dict[str, int]:
    scores = {}
    for n in range(len(page.systems)):
        for criterion in task["criteria"]:
            value = str(form.get(f"{LETTERS[n]}.{criterion}", ""))
            if value in {"1", "2", "3", "4", "5"}:
                scores[f"{LETTERS[n]}.{criterion}"] = int(value)
    return scores


def _read_form(form: Any, task: dict[str, Any], page: Page) -> tuple[dict[tuple[str, str], int], tuple[str, str, str] | None, list[str]]:
    """Scores by (system, criterion), the A/B choice in canonical order, and what is missing."""
    letter_scores = _letter_scores(form, task, page)
    problems, scores = [], {}
    for n, system in enumerate(page.systems):
        for criterion in task["criteria"]:
            key = f"{LETTERS[n]}.{criterion}"
            if key in letter_scores:
                scores[(system, criterion)] = letter_scores[key]
            else:
                problems.append(key)
    choice = None
    if len(page.systems) == 2:
        picked = str(form.get("choice", ""))
        first, second = sorted(page.systems)
        if picked == "tie":
            choice = (first, second, "tie")
        elif picked in ("A", "B"):
            winner = page.systems[LETTERS.index(picked)]
            choice = (first, second, "first" if winner == first else "second")
        else:
            problems.append("choice")
    return scores, choice, problems
