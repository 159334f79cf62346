"""Security through the real routes: signatures, replays, secret rotation, oversized bodies,
tokens for another owner, and no secret in any log line of a full run."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging

import pytest
import sqlalchemy as sa
from fakes.github import FakeGitHub, private_key_pem
from test_loop import OPENED_AT, SECRET, Loop, _pull_request, _session, _trailer_session, loop_on

from bot.db.engine import session_scope
from bot.github.events import sign
from bot.wire import to_json


async def _stored(loop: Loop, table: str) -> int:
    async with session_scope(loop.svc.engine) as db:
        return (await db.execute(sa.text(f"select count(*) from {table}"))).scalar_one()


async def _post(loop: Loop, body: bytes, **headers: str):  # noqa: ANN202
    return await loop.client.post("/webhooks/github", content=body, headers={
        "X-GitHub-Event": "pull_request", "X-GitHub-Delivery": "sec-1", "Content-Type": "application/json", **headers})


async def test_missing_wrong_and_legacy_sha1_signatures_are_refused(database_url: str, fake_github: FakeGitHub) -> None:
    body = json.dumps(_pull_request("opened")).encode()
    sha1 = "sha1=" + hmac.new(SECRET.encode(), body, hashlib.sha1).hexdigest()
    async with loop_on(database_url, fake_github) as loop:
        assert (await _post(loop, body)).status_code == 401
        assert (await _post(loop, body, **{"X-Hub-Signature-256": sign(body, "not-the-secret")})).status_code == 401
        assert (await _post(loop, body, **{"X-Hub-Signature": sha1})).status_code == 401  # SHA-1 only
        assert (await _post(loop, body + b" ", **{"X-Hub-Signature-256": sign(body, SECRET)})).status_code == 401
        assert await _stored(loop, "deliveries") == 0
        assert (await _post(loop, body, **{"X-Hub-Signature-256": sign(body, SECRET)})).status_code == 202


async def test_a_replayed_approval_has_no_second_effect(database_url: str, fake_github: FakeGitHub) -> None:
    from test_loop import FIXTURES

    comment = json.loads((FIXTURES / "github/webhooks/issue_comment.created.json").read_text())
    comment["issue"]["number"] = 2
    comment["comment"]["body"] = "/agentspend approve release"
    async with loop_on(database_url, fake_github) as loop:
        await loop.upload(_trailer_session(20000))
        await loop.send("pull_request", _pull_request("opened"), "d-1")
        for _ in range(3):
            await loop.send("issue_comment", comment, "approve-once")
        await loop.settle()
        assert await _stored(loop, "approvals") == 1
        assert await _stored(loop, "deliveries") == 2


async def test_the_old_secret_is_accepted_during_rotation_only(database_url: str, fake_github: FakeGitHub) -> None:
    body = json.dumps(_pull_request("opened")).encode()
    old = sign(body, "old-secret")
    async with loop_on(database_url, fake_github, webhook_secrets=(SECRET, "old-secret")) as loop:
        assert (await _post(loop, body, **{"X-Hub-Signature-256": old, "X-GitHub-Delivery": "during"})).status_code == 202
    fake_github.reset()
    async with loop_on(database_url, fake_github) as loop:  # rotation over: only the new secret
        assert (await _post(loop, body, **{"X-Hub-Signature-256": old, "X-GitHub-Delivery": "after"})).status_code == 401
        assert (await _post(loop, body, **{"X-Hub-Signature-256": sign(body, SECRET),
                                           "X-GitHub-Delivery": "after"})).status_code == 202


async def test_oversized_bodies_are_refused_before_anything_is_stored(database_url: str, fake_github: FakeGitHub) -> None:
    from bot.web.ingest import MAX_BODY as UPLOAD_MAX
    from bot.web.webhooks import MAX_BODY as WEBHOOK_MAX

    async with loop_on(database_url, fake_github) as loop:
        huge = b"{" + b" " * WEBHOOK_MAX + b"}"
        response = await _post(loop, huge, **{"X-Hub-Signature-256": sign(huge, SECRET)})
        assert response.status_code == 413
        huge = b"[" + b" " * UPLOAD_MAX + b"]"
        response = await loop.client.post("/api/v1/sessions", content=huge, headers={"Authorization": f"Bearer {loop.token}"})
        assert response.status_code == 413
        assert await _stored(loop, "deliveries") == 0 and await _stored(loop, "sessions") == 0


async def test_malformed_bodies_are_400(database_url: str, fake_github: FakeGitHub) -> None:
    async with loop_on(database_url, fake_github) as loop:
        bad = b'{"action": "opened", '
        assert (await _post(loop, bad, **{"X-Hub-Signature-256": sign(bad, SECRET)})).status_code == 400
        response = await loop.client.post("/api/v1/sessions", content=b'[{"key": 1}', headers={"Authorization": f"Bearer {loop.token}"})
        assert response.status_code == 400 and "not a session batch" in response.json()["message"]
        assert await _stored(loop, "deliveries") == 0 and await _stored(loop, "sessions") == 0


async def test_negative_counts_are_refused_before_anything_is_stored(database_url: str, fake_github: FakeGitHub) -> None:
    """Priced, a negative count would subtract spend from a pull request."""
    async with loop_on(database_url, fake_github) as loop:
        for field, value in (("output", -5000), ("web_searches", -3)):
            session = _session("claude-code:negative", repo="acme/widgets", branch="main", output=10, at=OPENED_AT)
            target = session.spans[1].tokens if field == "output" else session.spans[1]
            setattr(target, field, value)
            response = await loop.client.post("/api/v1/sessions", content=to_json([session]),
                                              headers={"Authorization": f"Bearer {loop.token}"})
            assert response.status_code == 400
            assert "claude-code:negative:call1" in response.json()["message"]
        assert await _stored(loop, "sessions") == 0 and await _stored(loop, "spans") == 0


async def test_a_token_for_another_owners_repository_writes_nothing(database_url: str, fake_github: FakeGitHub) -> None:
    async with loop_on(database_url, fake_github) as loop:
        foreign = _session("codex:foreign", repo="someone-else/private", branch="main", output=10, at=OPENED_AT)
        assert await loop.upload(foreign) == 403
        assert await _stored(loop, "sessions") == 0 and await _stored(loop, "spans") == 0


async def test_no_secret_or_token_appears_in_the_logs_of_a_full_run(database_url: str, fake_github: FakeGitHub,
                                                                   capfd: pytest.CaptureFixture[str]) -> None:
    """Everything the process writes, at DEBUG (Litestar installs its own handlers on stderr)."""
    async with loop_on(database_url, fake_github) as loop:
        logging.getLogger().setLevel(logging.DEBUG)
        try:
            await loop.send("pull_request", _pull_request("opened"), "d-1", secret="wrong")  # a refused one is logged too
            await loop.send("pull_request", _pull_request("opened"), "d-1")
            await loop.upload(_trailer_session(20000))
            await loop.client.post("/api/v1/sessions", content=b"[]", headers={"Authorization": "Bearer not-a-token"})
            await loop.settle()
        finally:
            logging.getLogger().setLevel(logging.INFO)
        assert len(loop.comments()) == 1  # a real run: GitHub was called with installation tokens
        issued = list(fake_github.tokens)
    out, err = capfd.readouterr()
    logged = out + err
    assert "refresh codertocat/hello-world#2: published" in logged  # the logs still say what happened
    assert "DEBUG" in logged, "debug lines were not captured: the test would prove less than it says"
    key_body = private_key_pem().splitlines()[1]
    secrets = {"webhook secret": SECRET, "ingest token": loop.token, "private key": key_body,
               "refused bearer": "not-a-token", **{f"installation token {i}": t for i, t in enumerate(issued)}}
    assert issued
    assert [name for name, value in secrets.items() if value in logged] == []


def _high_water_mb() -> float:
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM in /proc/self/status")


def _resident_mb() -> float:
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


async def test_a_gzip_bomb_is_413_without_the_memory_to_inflate_it(database_url: str, fake_github: FakeGitHub) -> None:
    """1 GiB of zeros in a 1 MB gzip body: refused once 64 MiB are inflated. Had it been inflated,
    the process's high-water mark would have passed its resident size by a gigabyte."""
    import zlib

    deflate = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # gzip framing, built a MiB at a time
    zeros = b"\0" * (1024 * 1024)
    bomb = b"".join(deflate.compress(zeros) for _ in range(1024)) + deflate.flush()
    assert len(bomb) < 2 * 1024 * 1024
    async with loop_on(database_url, fake_github) as loop:
        before = _resident_mb()
        response = await loop.client.post("/v1/logs", content=bomb, headers={
            "Content-Type": "application/x-protobuf", "Content-Encoding": "gzip", "Authorization": f"Bearer {loop.token}"})
        assert response.status_code == 413
        assert _high_water_mb() < before + 300
        assert await _stored(loop, "spans") == 0


async def test_no_page_loads_anything_from_another_host(database_url: str, fake_github: FakeGitHub) -> None:
    """Litestar's schema viewers pull scripts from CDNs; only the JSON description is served."""
    async with loop_on(database_url, fake_github) as loop:
        described = await loop.client.get("/schema/openapi.json")
        assert described.status_code == 200 and "/webhooks/github" in described.json()["paths"]
        for viewer in ("/schema/swagger", "/schema/redoc", "/schema/elements", "/schema/rapidoc"):
            assert (await loop.client.get(viewer)).status_code == 404
