"""Dependency injection: the graph each path operation declares (``models``), built once when the
route is declared and solved per request (``utils``)."""
