"""GET /api/v1/repos/{owner}/{repo}/pulls/{number}/report: the PR report as JSON.

Served from what the last refresh computed, so it always agrees with the comment on GitHub.
"""

from __future__ import annotations

from litestar import Request, Response, get

from bot.db import pulls
from bot.db.engine import session_scope
from bot.web import services


@get("/api/v1/repos/{owner:str}/{repo:str}/pulls/{number:int}/report")
async def pull_report(request: Request, owner: str, repo: str, number: int) -> Response:
    async with session_scope(services(request).engine) as db:
        row = await pulls.find(db, f"{owner}/{repo}", number)
    if row is None or row.report_json is None:
        return Response({"message": "no report for this pull request yet"}, status_code=404)
    return Response(content=row.report_json.encode(), media_type="application/json", status_code=200)
