"""The TechEmpower tests written as a Flask app on a psycopg 3 connection pool.

Served by ``covetpy --interface wsgi`` and by gunicorn's ``gthread`` worker, both with
as many threads as the pool has connections.
"""

from __future__ import annotations

from flask import Flask, Response, jsonify, render_template, request
from psycopg_pool import ConnectionPool
from tfb_rules import (
    HELLO,
    POOL_SIZE,
    TEMPLATES,
    database_url,
    query_count,
    random_id,
    random_ids,
    sorted_fortunes,
)

SELECT_WORLD = "SELECT id, randomnumber FROM world WHERE id = %s"
SELECT_FORTUNES = "SELECT id, message FROM fortune"
UPDATE_WORLD = "UPDATE world SET randomnumber = %s WHERE id = %s"

app = Flask(__name__, template_folder=str(TEMPLATES))
pool = ConnectionPool(database_url(), min_size=POOL_SIZE, max_size=POOL_SIZE, open=True)


@app.get("/json")
def json_serialization() -> Response:
    return jsonify(message=HELLO)


@app.get("/db")
def single_query() -> Response:
    with pool.connection() as conn:
        row = conn.execute(SELECT_WORLD, (random_id(),), prepare=True).fetchone()
    assert row is not None
    return jsonify(id=row[0], randomNumber=row[1])


@app.get("/queries")
def multiple_queries() -> Response:
    ids = [random_id() for _ in range(query_count(request.args.get("queries")))]
    with pool.connection() as conn:
        rows = [conn.execute(SELECT_WORLD, (i,), prepare=True).fetchone() for i in ids]
    return jsonify([{"id": r[0], "randomNumber": r[1]} for r in rows if r is not None])


@app.get("/fortunes")
def fortunes() -> str:
    with pool.connection() as conn:
        rows = conn.execute(SELECT_FORTUNES).fetchall()
    return render_template("fortune.html", fortunes=sorted_fortunes(list(rows)))


@app.get("/updates")
def updates() -> Response:
    ids = sorted(random_ids(query_count(request.args.get("queries"))))
    with pool.connection() as conn:
        worlds = [
            {"id": i, "randomNumber": random_id()}
            for i in ids
            if conn.execute(SELECT_WORLD, (i,), prepare=True).fetchone() is not None
        ]
        with conn.cursor() as cur:
            cur.executemany(UPDATE_WORLD, [(w["randomNumber"], w["id"]) for w in worlds])
    return jsonify(worlds)


@app.get("/plaintext")
def plaintext() -> Response:
    return Response(HELLO, mimetype="text/plain")
