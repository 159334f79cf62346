"""Git facts about local directories: which GitHub repository a working directory belongs to.

Agent logs record a working directory and sometimes a remote URL in one of several spellings;
attribution needs one canonical `owner/name`. Reading `.git/config` directly (instead of running
`git`) keeps this fast enough to call for every distinct cwd in a large corpus.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

_REMOTE = re.compile(
    r"""^(?:
        (?:[a-z+]+://)?(?:[^@/]+@)?[^:/]+(?::\d+)?[:/]   # scheme, user, host (ssh `host:` or url)
    )?
    (?P<owner>[^/]+)/(?P<name>[^/]+?)(?:\.git)?/?$""",
    re.VERBOSE | re.IGNORECASE,
)


def normalize_remote(url: str | None) -> str | None:
    """`git@github.com:Owner/Repo.git`, `https://github.com/owner/repo` … → `owner/repo`.

    Lower-cased, because GitHub treats owner and repository names case-insensitively and two
    spellings of one repository must not split its cost.
    """
    if not url:
        return None
    match = _REMOTE.match(url.strip())
    if not match:
        return None
    return f"{match['owner']}/{match['name']}".lower()


class _Checkout(NamedTuple):
    """A work tree and where git keeps its state. A linked worktree (`git worktree add`) has a
    git dir of its own, holding its HEAD, and shares the main repository's, holding the config."""

    root: Path
    git_dir: Path
    common_dir: Path


@lru_cache(maxsize=4096)
def repo_of_directory(cwd: str) -> str | None:
    """The `owner/name` of the `origin` remote of the git work tree containing `cwd`, if any."""
    checkout = _find_checkout(Path(cwd))
    if checkout is None:
        return None
    return normalize_remote(_origin_url(checkout.common_dir))


def current_branch(cwd: Path) -> str | None:
    """The checked-out branch of the work tree at `cwd` (None when detached or not a repo)."""
    checkout = _find_checkout(cwd)
    if checkout is None:
        return None
    try:
        head = (checkout.git_dir / "HEAD").read_text().strip()
    except OSError:
        return None
    prefix = "ref: refs/heads/"
    return head[len(prefix) :] if head.startswith(prefix) else None


def toplevel(cwd: Path) -> Path | None:
    """The root of the work tree containing `cwd`."""
    checkout = _find_checkout(cwd)
    return checkout.root if checkout is not None else None


def _find_checkout(start: Path) -> _Checkout | None:
    """The work tree holding `start`, found by its `.git` entry without running git: a folder,
    or a file naming the git dir (a linked worktree, a submodule)."""
    try:
        path = start.resolve()
    except OSError:
        return None
    for directory in (path, *path.parents):
        dot_git = directory / ".git"
        if dot_git.is_dir():
            return _Checkout(directory, dot_git, dot_git)
        if dot_git.is_file():
            try:
                text = dot_git.read_text().strip()
            except OSError:
                return None
            if not text.startswith("gitdir:"):
                continue
            target = Path(text[len("gitdir:") :].strip())
            target = target if target.is_absolute() else directory / target
            return _Checkout(directory, target, _common_dir(target))
    return None


def _common_dir(git_dir: Path) -> Path:
    """A linked worktree keeps its config in the main repository's git dir."""
    common = git_dir / "commondir"
    if common.is_file():
        try:
            return (git_dir / common.read_text().strip()).resolve()
        except OSError:
            return git_dir
    return git_dir


def _origin_url(git_dir: Path) -> str | None:
    import configparser  # 5 ms, and the warm offline report only needs `toplevel`

    parser = configparser.RawConfigParser(strict=False)
    try:
        parser.read(git_dir / "config")
    except (configparser.Error, UnicodeDecodeError):
        return None
    for section in ('remote "origin"', *[s for s in parser.sections() if s.startswith("remote ")]):
        if parser.has_option(section, "url"):
            return parser.get(section, "url")
    return None
