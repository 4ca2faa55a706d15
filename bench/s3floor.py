"""The S3 floor for bench/run.py: the least a client has to do to move the same
bytes through the same server (boto3 alone: no hashing, no cache, no manifest).

    s3floor.py fresh-bucket ENDPOINT BUCKET
    s3floor.py put-file ENDPOINT BUCKET KEY FILE        boto3 upload_file (multipart)
    s3floor.py get-file ENDPOINT BUCKET KEY DEST        one streamed GET
    s3floor.py put-dir  ENDPOINT BUCKET PREFIX DIR      one PUT per file, 16 threads
    s3floor.py get-dir  ENDPOINT BUCKET PREFIX NAMES_FROM DEST
                                                        one GET per file, 16 threads

Run as its own process so that bench/run.py times it and reads its peak memory
exactly as it does for gitmodel and the peers.
"""

from __future__ import annotations

import os
import sys
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]
from botocore.config import Config  # type: ignore[import-untyped]

THREADS = 16


def client(endpoint: str) -> Any:
    # One pooled connection per thread, or urllib3 warns and serialises.
    return boto3.client("s3", endpoint_url=endpoint, config=Config(max_pool_connections=THREADS))


def fresh_bucket(endpoint: str, bucket: str) -> None:
    # moto's own API forgets every bucket and object: each chain starts from an
    # empty server, and the server's memory stays bounded across runs.
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=120) as answer:
        answer.read()
    client(endpoint).create_bucket(Bucket=bucket)


def files_under(root: Path) -> list[str]:
    names: list[str] = []
    for folder, _, files in os.walk(root):
        rel = os.path.relpath(folder, root)
        names.extend(f if rel == "." else f"{rel}/{f}" for f in files)
    return sorted(names)


def in_pool(work: Callable[[str], None], names: list[str]) -> None:
    with ThreadPoolExecutor(THREADS) as pool:
        for _ in pool.map(work, names):  # re-raises the first failure
            pass


def get_file(endpoint: str, bucket: str, key: str, dest: Path) -> None:
    # One GET streamed to disk, not download_file: that one splits the object
    # into 8 MiB ranged GETs, and moto answers each range by reading the whole
    # object (1 GiB took 86 s that way, against ~7 s for one stream).
    body = client(endpoint).get_object(Bucket=bucket, Key=key)["Body"]
    with open(dest, "wb") as f:
        for chunk in body.iter_chunks(8 << 20):
            f.write(chunk)


def put_dir(endpoint: str, bucket: str, prefix: str, src: Path) -> None:
    s3 = client(endpoint)

    def put(name: str) -> None:
        s3.put_object(Bucket=bucket, Key=f"{prefix}/{name}", Body=(src / name).read_bytes())

    in_pool(put, files_under(src))


def get_dir(endpoint: str, bucket: str, prefix: str, names_from: Path, dest: Path) -> None:
    # A real tool knows the keys from its manifest, so listing the bucket is not
    # part of the floor: the names come from the source folder instead.
    s3 = client(endpoint)
    names = files_under(names_from)
    for folder in {os.path.dirname(n) for n in names}:
        (dest / folder).mkdir(parents=True, exist_ok=True)

    def get(name: str) -> None:
        body = s3.get_object(Bucket=bucket, Key=f"{prefix}/{name}")["Body"].read()
        (dest / name).write_bytes(body)

    in_pool(get, names)


def main(argv: list[str]) -> int:
    command, endpoint, bucket, *rest = argv
    if command == "fresh-bucket":
        fresh_bucket(endpoint, bucket)
    elif command == "put-file":
        client(endpoint).upload_file(rest[1], bucket, rest[0])
    elif command == "get-file":
        get_file(endpoint, bucket, rest[0], Path(rest[1]))
    elif command == "put-dir":
        put_dir(endpoint, bucket, rest[0], Path(rest[1]))
    elif command == "get-dir":
        get_dir(endpoint, bucket, rest[0], Path(rest[1]), Path(rest[2]))
    else:
        print(f"unknown command {command!r}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
