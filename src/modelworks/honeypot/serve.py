"""``modelworks honeypot serve``: a deployed classifier behind ``POST /predict`` on 127.0.0.1.

``POST /predict`` with ``{"inputs": N x C x H x W floats in [0, 1]}`` answers ``{"probs": N x K}``
(after the optional output defence); ``GET /info`` gives the input shape and class count. The
answers are exactly what :class:`~modelworks.honeypot.defences.ModelBlackBox` would return locally.
"""

# no ``from __future__ import annotations`` here: FastAPI reads the request model's annotation at runtime
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from modelworks.errors import UserError, require

__all__ = ["create_predict_app", "serve_model"]

MAX_BATCH = 1024
MAX_BODY_BYTES = 64 * 1024 * 1024  # 1,024 images of 3 x 32 x 32 as JSON numbers fit


class PredictRequest(BaseModel):
    inputs: list[Any]


def create_predict_app(model, input_shape: tuple[int, int, int], defence=None):
    fastapi = require("fastapi", "web", "modelworks honeypot serve")
    import torch

    from modelworks.honeypot.defences import ModelBlackBox

    box = ModelBlackBox(model, defence)
    with torch.no_grad():
        num_classes = int(model(torch.zeros(1, *input_shape)).shape[1])

    from modelworks.web.body_limit import BodyLimit

    app = fastapi.FastAPI(title="modelworks honeypot serve", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(BodyLimit, limit=MAX_BODY_BYTES, too_large=lambda: fastapi.responses.JSONResponse(
        {"detail": f"request body over {MAX_BODY_BYTES // (1024 * 1024)} MB"}, status_code=413))

    @app.get("/info")
    def info() -> dict:
        return {"input_shape": list(input_shape), "num_classes": num_classes, "queries": box.queries}

    @app.post("/predict")
    def predict(req: PredictRequest) -> dict:
        try:
            x = torch.tensor(req.inputs, dtype=torch.float32)
        except (ValueError, TypeError):
            raise fastapi.HTTPException(status_code=422, detail="inputs must be a nested list of numbers") from None
        if not bool(torch.isfinite(x).all()):
            raise fastapi.HTTPException(status_code=422, detail="inputs must be finite numbers (no NaN or infinity)")
        if x.ndim == 3:
            x = x[None]
        if tuple(x.shape[1:]) != tuple(input_shape):
            raise fastapi.HTTPException(
                status_code=422, detail=f"inputs must have shape N x {' x '.join(map(str, input_shape))}, got {list(x.shape)}"
            )
        if len(x) > MAX_BATCH:
            raise fastapi.HTTPException(status_code=413, detail=f"at most {MAX_BATCH} inputs per request")
        return {"probs": box.query(x.clamp(0, 1)).tolist()}

    return app


def serve_model(model_dir: str, host: str = "127.0.0.1", port: int = 8100, defence=None) -> None:
    import uvicorn

    from modelworks.honeypot.victims import load_model, read_model_meta

    model = load_model(model_dir)
    meta_file = Path(model_dir) / "model.json" if Path(model_dir).is_dir() else Path(model_dir).with_suffix(".json")
    if not meta_file.is_file():
        raise UserError(f"{meta_file} not found: it records the model's input shape (written by 'honeypot run')")
    shape = read_model_meta(meta_file)["input_shape"]
    uvicorn.run(create_predict_app(model, shape, defence), host=host, port=port, log_level="warning")
