"""Fail loudly when PostgreSQL or Redis are unreachable (used before the CI services run)."""

import sys
from urllib.parse import urlparse

import psycopg
import redis


def main(pg_url: str, *redis_urls: str) -> int:
    problems = []
    pg = urlparse(pg_url)
    try:
        psycopg.connect(host=pg.hostname, port=pg.port or 5432, user=pg.username or "postgres",
                        dbname="postgres", connect_timeout=5).close()
    except psycopg.OperationalError as exc:
        problems.append(f"PostgreSQL at {pg.hostname}:{pg.port or 5432} is unreachable: {exc}".strip())
    for redis_url in redis_urls:
        try:
            redis.Redis.from_url(redis_url, socket_connect_timeout=5).ping()
        except redis.RedisError as exc:
            problems.append(f"Redis at {redis_url} is unreachable: {exc}")
    for problem in problems:
        print(f"ERROR: {problem}", file=sys.stderr)
    if problems:
        print("CI runs the suite against PostgreSQL and Redis; start them and run again.", file=sys.stderr)
        return 1
    print("PostgreSQL and Redis reachable.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(*sys.argv[1:]))
