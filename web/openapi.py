"""The OpenAPI 3.1 description of /api, generated from the routes and their typed models.

How to describe an endpoint (every route under /api must be, or the tests fail):

    @bp.get("/things/<thing_id>")
    @describe("One thing with its parts.", ok=ThingDetail, errors=(404,))
    def thing(thing_id): ...

- `ok` is the model of the 200 answer (web/api_models.py: add a field there when you add it to
  the body). `errors` are the statuses the route itself may answer besides 405 and 500, which
  every route may; each error body is the `Error` model. A status with a body of its own
  (/api/health's 503) goes in `responses={503: (Health, Error)}`.
- Query parameters: `parameters=` a function of the app config returning OpenAPI parameter
  objects (see web/params.py). Path parameters come from the route (`<int:...>` is an integer).
- A non-JSON answer (a file download): `ok=None, media_type="application/zip"`; several
  (files, or JSON for one option): `media_type=("application/zip", "application/json")`.
- A POST with a JSON body: `request=TheBodyModel` (documentation only: the view validates the
  body itself, so that every error is its own sentence); the method comes from the route.

The document is built from app.url_map, so a route cannot be missing from it; and when the app
is TESTING (or VALIDATE_API_RESPONSES is set) every /api answer is checked against its model
after the view returns, so a response cannot drift from its description. Why this and not
spectree or flask-smorest: CHANGELOG.md, "OpenAPI generated from typed models".
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field

from flask import Flask
from flask import Response
from flask import request
from pydantic import BaseModel
from pydantic import ValidationError
from pydantic.json_schema import models_json_schema

from web.api_models import Error

JSON = "application/json"
REF = "#/components/schemas/{model}"
ERROR_TEXTS = {
    400: "A parameter is missing or invalid; the message names it.",
    404: "No such document, passage, myth or figure.",
    405: "That method is not allowed here; the Allow header names the ones that are.",
    413: "The request body is larger than the endpoint accepts.",
    415: "The body must be sent as application/json.",
    429: "Too many searches from this address; Retry-After gives the seconds to wait.",
    500: "A fault of ours (logged); the message says only that.",
    503: "The store cannot be used right now.",
}
ALWAYS = (405, 500)  # any route may answer these
_ARGUMENT = re.compile(r"<(?:(\w+):)?(\w+)>")


class ResponseDrift(AssertionError):
    """An /api answer that its description does not allow (raised in tests only)."""


@dataclass(frozen=True)
class Operation:
    """What `describe` records on a view: the description of its GET (or POST)."""

    summary: str
    responses: dict[int, tuple[type[BaseModel], ...]]
    parameters: Callable[[dict], list[dict]] | None = None
    media_type: str | tuple[str, ...] = JSON
    descriptions: dict[int, str] = field(default_factory=dict)
    request: type[BaseModel] | None = None

    @property
    def media_types(self) -> tuple[str, ...]:
        return (self.media_type,) if isinstance(self.media_type, str) else self.media_type


def describe(
    summary: str,
    *,
    ok: type[BaseModel] | None,
    errors: tuple[int, ...] = (),
    responses: dict[int, tuple[type[BaseModel], ...]] | None = None,
    parameters: Callable[[dict], list[dict]] | None = None,
    media_type: str | tuple[str, ...] = JSON,
    request: type[BaseModel] | None = None,
):
    """Attach the OpenAPI description of a route to its view (see the module docstring)."""
    answers: dict[int, tuple[type[BaseModel], ...]] = {200: (ok,) if ok else ()}
    answers.update({code: (Error,) for code in (*errors, *ALWAYS)})
    answers.update(responses or {})
    operation = Operation(summary, answers, parameters, media_type, request=request)

    def attach(view):
        view.api_operation = operation
        return view

    return attach


def operation_of(app: Flask, endpoint: str) -> Operation | None:
    view = app.view_functions.get(endpoint)
    return getattr(view, "api_operation", None)


def api_rules(app: Flask) -> list:
    """The routes under /api/, in the order they were added."""
    return [rule for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/")]


def openapi_path(rule_text: str) -> str:
    """Flask's `/api/passages/<int:passage_id>` as OpenAPI's `/api/passages/{passage_id}`."""
    return _ARGUMENT.sub(lambda m: "{" + m.group(2) + "}", rule_text)


def _path_parameters(rule_text: str) -> list[dict]:
    parameters = []
    for converter, name in _ARGUMENT.findall(rule_text):
        schema = {"type": "integer"} if converter == "int" else {"type": "string"}
        parameters.append({"name": name, "in": "path", "required": True, "schema": schema})
    return parameters


def _content(models: tuple[type[BaseModel], ...], media_types: tuple[str, ...]) -> dict:
    content = {}
    for media_type in media_types:
        if media_type.endswith("+json"):  # JSON of a format of its own (CSL-JSON)
            content[media_type] = {"schema": {"type": ["array", "object"]}}
            continue
        if media_type != JSON:
            # A file: OpenAPI 3.1 describes binary content by leaving the schema out (a
            # "string"/"binary" schema would be checked against CSL-JSON's parsed body).
            content[media_type] = {}
            continue
        refs = [{"$ref": REF.format(model=m.__name__)} for m in models]
        content[JSON] = {"schema": refs[0] if len(refs) == 1 else {"oneOf": refs}}
    return content


def _operation_object(rule_text: str, operation: Operation, config: dict) -> dict:
    responses = {}
    for code, models in sorted(operation.responses.items()):
        text = "OK." if code == 200 else ERROR_TEXTS.get(code, "An error.")
        media_types = operation.media_types if code == 200 else (JSON,)
        responses[str(code)] = {"description": text, "content": _content(models, media_types)}
    parameters = _path_parameters(rule_text)
    if operation.parameters:
        parameters += operation.parameters(config)
    described = {"summary": operation.summary, "responses": responses}
    if parameters:
        described["parameters"] = parameters
    if operation.request is not None:
        schema = {"$ref": REF.format(model=operation.request.__name__)}
        described["requestBody"] = {"required": True, "content": {JSON: {"schema": schema}}}
    return described


def _component_schemas(models: set[type[BaseModel]]) -> dict:
    ordered = sorted(models, key=lambda m: m.__name__)
    _, schemas = models_json_schema([(m, "serialization") for m in ordered], ref_template=REF)
    return schemas.get("$defs", {})


def openapi_document(app: Flask) -> dict:
    """The description of every route under /api, with the app's configured limits."""
    paths: dict[str, dict] = {}
    models: set[type[BaseModel]] = set()
    for rule in api_rules(app):
        operation = operation_of(app, rule.endpoint)
        if operation is None:
            raise ResponseDrift(f"{rule.rule} has no @describe (web/openapi.py says how).")
        for answers in operation.responses.values():
            models.update(answers)
        if operation.request is not None:
            models.add(operation.request)
        described = _operation_object(rule.rule, operation, app.config)
        method = "post" if "POST" in (rule.methods or ()) else "get"
        paths.setdefault(openapi_path(rule.rule), {})[method] = described
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Shared services evidence API",
            "version": "1.0.0",
            "description": "Cited passages on shared back office services in the Scottish "
            'public sector. Errors are always {"error": "...", "status": N}.',
        },
        "paths": paths,
        "components": {"schemas": _component_schemas(models)},
    }


# -- the check that keeps answers and description together (tests) -----------------------------


def check_response(app: Flask, response: Response) -> Response:
    """Raise ResponseDrift when an /api answer does not match its route's description."""
    if request.method in ("HEAD", "OPTIONS") or not request.path.startswith("/api/"):
        return response
    status = response.status_code
    rule = request.url_rule
    operation = operation_of(app, rule.endpoint) if rule is not None else None
    if rule is None and 300 <= status < 400:
        return response  # routing's own redirect (a doubled slash): no route answered
    if operation is None:
        if rule is not None and status < 400:
            raise ResponseDrift(f"{rule.rule} answered {status} but has no @describe.")
        allowed: tuple[type[BaseModel], ...] = (Error,)  # no route matched: a 404 or 405
    elif status not in operation.responses:
        raise ResponseDrift(f"{rule.rule} answered {status}, which its description omits.")
    else:
        allowed = operation.responses[status]
    if status == 200 and operation is not None and response.mimetype != JSON:
        if response.mimetype not in operation.media_types:
            raise ResponseDrift(f"{rule.rule} answered {response.mimetype}.")
        return response
    if response.mimetype != JSON:
        raise ResponseDrift(f"{request.path} answered {status} as {response.mimetype}, not JSON.")
    _validate(response.get_data(), allowed, f"{request.method} {request.full_path} -> {status}")
    return response


def _validate(body: bytes, allowed: tuple[type[BaseModel], ...], label: str) -> None:
    problems = []
    for model in allowed:
        try:
            model.model_validate_json(body)
            return
        except ValidationError as exc:
            problems.append(f"as {model.__name__}: {exc}")
    raise ResponseDrift(f"{label} does not match its description " + "; ".join(problems))


def init_app(app: Flask) -> None:
    """Check every /api answer against the description when testing (or when configured)."""
    validate = app.config.get("VALIDATE_API_RESPONSES")
    if validate or (validate is None and app.testing):
        app.after_request(lambda response: check_response(app, response))
