"""FastAPI apps for tests/test_fastapi_fidelity.py: one module per tutorial area,
each served by covetpy and also driven in-process through TestClient."""
