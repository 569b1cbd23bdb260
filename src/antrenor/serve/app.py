"""The HTTP app: routes, auth, error handlers. `create_app(cfg)` loads the model; tests pass a backend.

    >>> from fastapi.testclient import TestClient
    >>> with TestClient(create_app({"model": "runs/legal/model"})) as client:
    ...     client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "Salut"}]}).json()

Routes: POST /v1/chat/completions, /v1/completions (generation models), /v1/classify
(classifiers); GET /v1/models, /metrics (behind the API key when one is set; without one, behind
the Host/Origin checks of service.browser_problem), /health (open: liveness probes carry no key).
POST bodies must be sent as application/json (415 otherwise). Requests to the three inference
routes are logged, whatever their outcome; /health, /metrics and /v1/models are not (a scraper
would flood the log).
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response

from antrenor.config import as_config
from antrenor.models.version import model_version
from antrenor.records.request_log import RequestLog
from antrenor.serve.config import ServeConfig
from antrenor.serve.endpoints import Endpoints
from antrenor.serve.metrics import ServeMetrics
from antrenor.serve.normalization import input_normalizer, recorded_max_length
from antrenor.serve.service import ApiError, Service


def create_app(cfg: ServeConfig | dict[str, Any], backend: Any = None, version: str | None = None) -> FastAPI:
    """The server for one model. `backend`: an already loaded backend (default: load cfg.model)."""
    cfg = as_config(ServeConfig, cfg)
    if backend is None:
        from antrenor.serve.backends import load_backend

        backend = load_backend(cfg.model, cfg.backend, task=cfg.task, bf16=cfg.bf16,
                               trust_remote_code=cfg.trust_remote_code, allow_pickle=cfg.allow_pickle)
    if version is None:
        version = model_version(cfg.model) if Path(cfg.model).exists() else ""
    log = RequestLog(cfg.log_path)
    metrics = ServeMetrics()
    service = Service(cfg, backend, log, metrics, version)
    metrics.queue_depth.set_function(lambda: service.batcher.depth)
    endpoints = Endpoints(service, input_normalizer(cfg.model), recorded_max_length(cfg.model))
    started = time.time()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        service.batcher.start()
        try:
            yield
        finally:
            service.batcher.stop()
            log.close()

    app = FastAPI(title="antrenor serve", version=version or "unknown", lifespan=lifespan,
                  docs_url=None, redoc_url=None, openapi_url=None)  # the OpenAPI schema is OpenAI's, not ours
    app.state.service = service

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> Response:
        return await service.handle(request, "/v1/chat/completions", endpoints.chat)

    @app.post("/v1/completions")
    async def completions(request: Request) -> Response:
        return await service.handle(request, "/v1/completions", endpoints.completions)

    @app.post("/v1/classify")
    async def classify(request: Request) -> Response:
        return await service.handle(request, "/v1/classify", endpoints.classify)

    @app.get("/v1/models")
    async def models(request: Request) -> Response:
        service.check_access(request)
        entry = {"id": service.name, "object": "model", "created": int(started), "owned_by": "antrenor",
                 "task": backend.kind, "version": version}
        if backend.kind == "classification":
            entry["labels"] = list(backend.labels)
        return JSONResponse({"object": "list", "data": [entry]})

    @app.get("/health")
    async def health() -> Response:
        return JSONResponse({"status": "ok", "model": service.name, "version": version, "task": backend.kind,
                             "queue": service.batcher.depth})

    @app.get("/metrics")
    async def prometheus_metrics(request: Request) -> Response:
        service.check_access(request)
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, error: ApiError) -> Response:
        return error.response()

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        message = {404: f"no route {request.url.path}; see /v1/models, /v1/chat/completions, /v1/completions, "
                        "/v1/classify, /health, /metrics",
                   405: f"{request.method} is not allowed on {request.url.path}"}.get(error.status_code, str(error.detail))
        return ApiError(error.status_code, message, "not_found" if error.status_code == 404 else None).response()

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, error: RequestValidationError) -> Response:
        return ApiError(400, f"invalid request: {error.errors()}", "invalid_value").response()

    return app
