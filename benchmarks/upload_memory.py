"""Benchmark: the enrollment process's memory while hostile bulk uploads are refused (issue 11, "Done when").

    .venv/bin/python -m benchmarks.upload_memory              # starts its own enrollment process
    .venv/bin/python -m benchmarks.upload_memory --megabytes 50
    .venv/bin/python -m benchmarks.upload_memory --url http://127.0.0.1:8001 --pid "$(cat .local/run/enrollment.pid)"

Needs PostgreSQL and Kafka (`make infra`). By default it starts the enrollment service as a real uvicorn
process of its own, on a free port, on a fresh database (`talentplan_uploads`), and stops it afterwards; with
`--url` and `--pid` it uses a running one (its VmHWM then includes what it did before). Run it under
`flock /tmp/plan-services.lock` like the other benchmarks.

It sends, over a raw socket (so the body can be refused while it is still being sent):
(1) a 1,000,000-row CSV cohort with Content-Length, (2) the same chunked, without Content-Length,
(3) bodies of `--megabytes` MB (200 by default): JSON to POST /enrollments, one JSON line and one CSV line to
POST /cohorts, (4) the same without a key and (5) with a wrong key (a role-like key and an institution-like
key), and prints for each: the status and error code, the seconds until the answer, how much of the body was
sent before it came, and the process's VmRSS/VmHWM (from /proc/<pid>/status) after it. VmHWM (the peak) cannot
be reset, so the RSS before the first request is printed too. Target: VmHWM under 300 MiB, every answer a
4xx with the error envelope, answered long before the whole body was sent.
"""

import json
import os
import select
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import httpx
import typer

from infra import postgres, secrets, services

DATABASE = "talentplan_uploads"
MIB = 1024 * 1024
CSV_HEADER = b"id_number,name,phone,target_group,tier,mode,starts_on,niche\n"
CSV_ROW = b"130102199808080014,Liu Jiaqi,13800138000,rural_household,basic,offline,2020-08-08,cashmere and fur\n"
JSON_ROW = (
    json.dumps(
        {
            "id_number": "130102199808080014",
            "name": "Liu Jiaqi",
            "phone": "13800138000",
            "target_group": "rural_household",
            "tier": "basic",
            "mode": "offline",
            "starts_on": "2020-08-08",
        }
    ).encode()
    + b"\n"
)


@dataclass
class Answer:
    status: int
    body: dict[str, Any]
    seconds: float
    sent: int  # body bytes sent before the answer came (or all of them)
    total: int  # body bytes the client meant to send

    @property
    def code(self) -> str | None:
        error = self.body.get("error")
        return error.get("code") if isinstance(error, dict) else None

    @property
    def early(self) -> bool:
        return self.sent < self.total


def memory(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM (peak) of the process, in MiB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0]) / 1024
    return values


def repeated(block: bytes, total: int, head: bytes = b"") -> Iterator[bytes]:
    """`head`, then `block` over and over, `total` bytes in all, in chunks of about 256 KiB."""
    chunk = block * max(1, (256 * 1024) // len(block))
    yield head
    left = total - len(head)
    while left > 0:
        piece = chunk[:left]
        left -= len(piece)
        yield piece


def csv_rows(rows: int) -> tuple[Iterator[bytes], int]:
    total = len(CSV_HEADER) + rows * len(CSV_ROW)
    return repeated(CSV_ROW, total, CSV_HEADER), total


def post(
    url: str, path: str, headers: dict[str, str], body: Iterator[bytes], total: int, declare_length: bool
) -> Answer:
    """POST over a raw socket; stop sending as soon as an answer arrives (the server refused early)."""
    parts = urlsplit(url)
    started = time.perf_counter()
    sock = socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=300)
    head = [f"POST {path} HTTP/1.1", f"Host: {parts.netloc}"]  # keep-alive: the server discards what is left
    head += [f"{k}: {v}" for k, v in headers.items()]
    head.append(f"Content-Length: {total}" if declare_length else "Transfer-Encoding: chunked")
    sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
    sent, answered = 0, False
    try:
        for piece in body:
            if not piece:
                continue
            framed = piece if declare_length else b"%x\r\n%s\r\n" % (len(piece), piece)
            view = memoryview(framed)
            while view:
                readable, writable, _ = select.select([sock], [sock], [], 60)
                if readable:
                    answered = True
                    break
                if writable:
                    view = view[sock.send(view[: 64 * 1024]) :]
            if answered:
                break
            sent += len(piece)
        if not answered and not declare_length:
            sock.sendall(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server answered and closed: read what it said
    status, payload = _read_answer(sock)
    seconds = time.perf_counter() - started
    sock.close()
    return Answer(status, payload, seconds, sent, total)


def _read_answer(sock: socket.socket) -> tuple[int, dict[str, Any]]:
    data = b""
    sock.settimeout(300)
    while b"\r\n\r\n" not in data:
        more = sock.recv(65536)
        if not more:
            return 0, {"error": {"code": "connection_closed", "message": data[:200].decode("latin-1")}}
        data += more
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = next((int(v) for k, _, v in (ln.partition(": ") for ln in lines[1:]) if k.lower() == "content-length"), 0)
    while len(rest) < length:
        more = sock.recv(65536)
        if not more:
            break
        rest += more
    try:
        parsed = json.loads(rest[:length] or b"{}")
    except ValueError:
        parsed = {"raw": rest[:200].decode("latin-1")}
    return status, parsed if isinstance(parsed, dict) else {"raw": parsed}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_enrollment(database: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    """The enrollment service as a real uvicorn process on `port`, on `database` (made fresh first)."""
    postgres.fresh_database(database)
    env = {
        **os.environ,
        **services.environment("enrollment"),
        "DATABASE_URL": postgres.service_url("enrollment", database),
        "CONSUMER_INSTANCE_ID": f"enrollment-uploads-{uuid.uuid4().hex[:6]}",
    }
    command = [sys.executable, "-m", "uvicorn", "--factory", "enrollment.main:build_app"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--no-access-log"]
    with log.open("ab") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=3).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    process.kill()
    raise SystemExit(f"enrollment did not become ready on port {port}; see {log}")


def institution_key(url: str) -> str:
    bureau = {"X-API-Key": secrets.load()["BUREAU_API_KEY"]}
    with httpx.Client(base_url=url, timeout=30) as http:
        made = http.post("/institutions", headers=bureau, json={"name": f"Upload Bench {uuid.uuid4().hex[:6]}"})
        made.raise_for_status()
        issued = http.post(f"/institutions/{made.json()['id']}/keys", headers=bureau)
        issued.raise_for_status()
        return str(issued.json()["api_key"])


def cases(key: str, megabytes: int, rows: int) -> list[tuple[str, str, dict[str, str], Iterator[bytes], int, bool]]:
    """(name, path, headers, body, total, declare length) for every hostile upload."""
    size = megabytes * 1_000_000
    csv_type, jsonl, json_type = (
        {"Content-Type": "text/csv"},
        {"Content-Type": "application/x-ndjson"},
        {"Content-Type": "application/json"},
    )
    auth = {"X-API-Key": key}
    wrong_role = {"X-API-Key": "not-a-key-of-any-role"}
    wrong_inst = {"X-API-Key": f"inst_{uuid.uuid4().hex}_{'x' * 40}"}
    listed: list[tuple[str, str, dict[str, str], Iterator[bytes], int, bool]] = []
    for declared in (True, False):
        how = "length" if declared else "chunked"
        listed.append((f"{rows:,}-row CSV, {how}", "/cohorts", {**auth, **csv_type}, *csv_rows(rows), declared))
    for declared in (True, False):
        how = "length" if declared else "chunked"
        listed += [
            (
                f"{megabytes} MB JSON /enrollments, {how}",
                "/enrollments",
                {**auth, **json_type},
                repeated(b" ", size, b'{"name": "'),
                size,
                declared,
            ),
            (
                f"{megabytes} MB one JSON line, {how}",
                "/cohorts",
                {**auth, **jsonl},
                *_one_line(b'{"n": "', size),
                declared,
            ),
            (
                f"{megabytes} MB one CSV line, {how}",
                "/cohorts",
                {**auth, **csv_type},
                *_one_line(CSV_HEADER, size),
                declared,
            ),
            (
                f"{megabytes} MB JSON lines, {how}",
                "/cohorts",
                {**auth, **jsonl},
                repeated(JSON_ROW, size),
                size,
                declared,
            ),
        ]
    for label, headers in (("no key", {}), ("wrong role key", wrong_role), ("wrong institution key", wrong_inst)):
        listed += [
            (
                f"{megabytes} MB JSON, {label}, chunked",
                "/enrollments",
                {**headers, **json_type},
                repeated(b" ", size, b"{"),
                size,
                False,
            ),
            (
                f"{megabytes} MB CSV, {label}, length",
                "/cohorts",
                {**headers, **csv_type},
                *csv_rows(size // len(CSV_ROW)),
                True,
            ),
        ]
    return listed


def _one_line(head: bytes, size: int) -> tuple[Iterator[bytes], int]:
    return repeated(b"x", size, head), size


def run(url: str, pid: int, key: str, megabytes: int, rows: int) -> list[tuple[str, Answer, dict[str, float]]]:
    results = []
    for name, path, headers, body, total, declared in cases(key, megabytes, rows):
        answer = post(url, path, headers, body, total, declared)
        results.append((name, answer, memory(pid)))
    return results


def table(before: dict[str, float], results: list[tuple[str, Answer, dict[str, float]]]) -> str:
    lines = [
        f"enrollment RSS before: {before['VmRSS']:.0f} MiB (peak so far {before['VmHWM']:.0f} MiB)",
        f"{'upload':<46} {'status':>6} {'code':<16} {'seconds':>8} {'sent MB':>9} {'of MB':>7} {'RSS':>6} {'peak':>6}",
    ]
    for name, answer, after in results:
        lines.append(
            f"{name:<46} {answer.status:>6} {answer.code or '-':<16} {answer.seconds:>8.2f} "
            f"{answer.sent / 1e6:>9.1f} {answer.total / 1e6:>7.1f} {after['VmRSS']:>6.0f} {after['VmHWM']:>6.0f}"
        )
    peak = max(after["VmHWM"] for _, _, after in results)
    refused = all(400 <= a.status < 500 and a.code for _, a, _ in results)
    early = all(a.early for _, a, _ in results)
    lines.append(
        f"peak RSS {peak:.0f} MiB ({'under' if peak < 300 else 'OVER'} 300 MiB); "
        f"every answer a 4xx with the envelope: {refused}; every answer before the whole body was sent: {early}"
    )
    return "\n".join(lines)


def main(
    megabytes: Annotated[int, typer.Option(help="size of the large bodies, in MB")] = 200,
    rows: Annotated[int, typer.Option(help="rows of the large CSV cohort")] = 1_000_000,
    url: Annotated[str | None, typer.Option(help="use this running enrollment service (with --pid)")] = None,
    pid: Annotated[int | None, typer.Option(help="the process id of the service at --url")] = None,
) -> None:
    """Send hostile uploads to the enrollment service and print statuses, timings and the process's memory."""
    process = None
    if url is None:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        process = start_enrollment(DATABASE, port, Path(f"/tmp/upload-memory-{port}.log"))
        pid = process.pid
    elif pid is None:
        raise typer.BadParameter("--pid is needed with --url (its memory is read from /proc/<pid>/status)")
    assert pid is not None
    try:
        key = institution_key(url)
        before = memory(pid)
        print(table(before, run(url, pid, key, megabytes, rows)))
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=30)


if __name__ == "__main__":
    typer.run(main)
