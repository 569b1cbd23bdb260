"""`antrenor serve`: check the config, load the model, run uvicorn until stopped (Ctrl-C, SIGTERM).

    >>> from antrenor.serve.run import serve
    >>> serve({"model": "runs/legal/model", "port": 8000})  # blocks; prints the URL once loaded
"""

from __future__ import annotations

import importlib.util
import os
import socket
from pathlib import Path
from typing import Any

from antrenor.config import as_config
from antrenor.console import Reporter
from antrenor.errors import AntrenorError, ConfigError
from antrenor.serve.config import ServeConfig, is_loopback

REQUIRED_MODULES = {"fastapi": "fastapi", "uvicorn": "uvicorn", "prometheus_client": "prometheus-client"}


def serve(config: ServeConfig | dict[str, Any] | str | Path, reporter: Reporter | None = None) -> None:
    """Serve until the process is stopped. Every problem is reported before the model loads."""
    cfg = as_config(ServeConfig, config)
    reporter = reporter or Reporter()
    problems = check_serve_config(cfg)
    if problems:
        raise ConfigError("cannot serve:", problems=problems)
    for doubt in cfg.doubts():
        reporter.warn(doubt)
    import uvicorn

    from antrenor.serve.app import create_app

    reporter.info(f"loading {cfg.model} ({cfg.backend}) ...")
    app = create_app(cfg)
    service = app.state.service
    shown_host = f"[{cfg.host}]" if ":" in cfg.host else cfg.host
    url = f"http://{shown_host}:{cfg.port}"
    reporter.info(f"serving [bold]{service.name}[/] ({service.backend.kind}, version {service.version or 'unknown'}) "
                  f"at {url} - OpenAI base URL {url}/v1; request log {cfg.log_path}")
    reporter.emit_json({"url": url, "base_url": f"{url}/v1", "model": service.name, "task": service.backend.kind,
                        "version": service.version, "log_db": str(cfg.log_path)})
    server = uvicorn.Server(uvicorn.Config(app, host=cfg.host, port=cfg.port, log_level="warning", access_log=False,
                                           timeout_graceful_shutdown=5))
    try:
        server.run()
    except SystemExit as exit_:  # uvicorn exits when it cannot bind or start; it has logged why
        raise AntrenorError(f"the server could not start on {cfg.host}:{cfg.port} (see the message above)") from exit_


def check_serve_config(cfg: ServeConfig) -> list[str]:
    """Problems found without loading the model: missing extras, a model folder that is not one, a busy port."""
    problems = [f"{module} is not installed: pip install 'antrenor[serve]' (or pip install {package})"
                for module, package in REQUIRED_MODULES.items() if importlib.util.find_spec(module) is None]
    folder = Path(cfg.model)
    if folder.suffix == ".onnx":
        if cfg.backend != "onnx" or not folder.is_file():
            problems.append(f"model: {cfg.model}: a .onnx file is served by --backend onnx, and must exist")
    elif not folder.is_dir():
        problems.append(f"model: {cfg.model} is not a folder; give an `antrenor train` or `antrenor export` output")
    elif not any((folder / name).is_file() for name in ("config.json", "adapter_config.json")):
        problems.append(f"model: {cfg.model} holds no config.json or adapter_config.json: not a model folder")
    if not is_loopback(cfg.host) and not cfg.api_key and not cfg.allow_unauthenticated:
        problems.append(f"host: {cfg.host} is reachable from other machines, and no API key is set: anyone who reaches "
                        "the port could use the model and write into the request log that monitor and retraining read; "
                        "set --api-key KEY (or ANTRENOR_API_KEY), or pass --allow-unauthenticated on a network you trust")
    log_folder = cfg.log_path.resolve().parent
    existing = next((p for p in (log_folder, *log_folder.parents) if p.exists()), None)
    if existing is None or not os.access(existing, os.W_OK):
        problems.append(f"log_db: cannot write {cfg.log_path} (folder not writable); pass --log-db FILE elsewhere")
    port_problem = _port_problem(cfg.host, cfg.port)
    if port_problem:
        problems.append(port_problem)
    return problems


def _port_problem(host: str, port: int) -> str | None:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        return f"host: cannot resolve {host!r}: {exc.strerror}"
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        try:
            probe.bind(address)
        except OSError as exc:
            return f"port: cannot listen on {host}:{port}: {exc.strerror} (another server there? choose --port)"
    return None
