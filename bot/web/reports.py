"""GET /api/v1/repos/{owner}/{repo}/pulls/{number}/report: the PR report as JSON, for people who may see the repository.

Served from what the last refresh computed, so it always agrees with the comment on GitHub. The
same access rule as the dashboard: sign in, or send your GitHub token as a Bearer token; a
repository your token cannot see answers 404, like one that does not exist.
"""

from __future__ import annotations

from litestar import Request, Response, get
from litestar.params import FromPath

from bot.db import pulls
from bot.db.engine import session_scope
from bot.web import services
from bot.web.access import can_see, viewer


@get("/api/v1/repos/{owner:str}/{repo:str}/pulls/{number:int}/report")
async def pull_report(request: Request, owner: FromPath[str], repo: FromPath[str], number: FromPath[int]) -> Response:
    who = await viewer(request)
    if who is None:
        return Response({"message": "sign in, or send your GitHub token as Authorization: Bearer …"}, status_code=401)
    if not await can_see(request, who, f"{owner}/{repo}"):
        return Response({"message": "no report for this pull request yet"}, status_code=404)
    async with session_scope(services(request).engine) as db:
        row = await pulls.find(db, f"{owner}/{repo}", number)
    if row is None or row.report_json is None:
        return Response({"message": "no report for this pull request yet"}, status_code=404)
    return Response(content=row.report_json.encode(), media_type="application/json", status_code=200)
