"""OpenAPI: the document (``utils.get_openapi``), its models (``models``) and the documentation
pages (``docs``)."""
