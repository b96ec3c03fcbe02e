"""Names the OpenAPI document generator shares with apps that extend it (FastAPI's
``fastapi.openapi.constants``)."""

#: The HTTP methods whose operations document a request body (when the route has one).
METHODS_WITH_BODY = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"}
#: Where component schemas live; a ``$ref`` to a model is this plus the model's name.
REF_PREFIX = "#/components/schemas/"
#: ``REF_PREFIX`` as the ``ref_template`` pydantic's JSON schema generator takes.
REF_TEMPLATE = "#/components/schemas/{model}"
