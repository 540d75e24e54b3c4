"""The agent's artifact cache: .tflite files by sha256, assembled from chunks, verified, loaded once, pruned
least recently used first when over its size cap."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from worker.executor import Runner, load_model
from worker.wire import ArtifactChunk

from ._seats import is_sha256

log = logging.getLogger("mchair.agent")

MAX_ARTIFACT_BYTES = 2 * 1024 * 1024 * 1024  # bigger than any model a Pi can hold: a lie


class ArtifactError(Exception):
    """An artifact that could not be assembled, verified or loaded."""


@dataclass
class _Assembly:
    """An artifact being received: where its bytes go and which ranges arrived."""

    total: int
    part: Path
    done: asyncio.Future[Path]
    ranges: dict[int, int] = field(default_factory=dict)  # offset -> length
    # Chunks come in order: hashing as they arrive spares reading a big file again on the event loop.
    digest: hashlib._Hash = field(default_factory=hashlib.sha256)
    hashed: int = 0

    def received(self) -> int:
        return sum(self.ranges.values())


class ArtifactCache:
    """``directory/<sha256>.tflite``; chunks are written to ``.part`` files and renamed once verified.

    ``expect``/``add_chunk`` run on the event loop; ``runner`` loads on the caller's thread (the
    agent's compute thread), once per sha256 for the life of the process, so an agent that keeps a
    stage across epochs does not load its weights again. Over ``cap_bytes`` (0: no cap) the least recently
    used artifacts are deleted, never one in ``in_use`` (what the current seats and the coming Assign need).
    An artifact that arrives and is already in ``link_dir`` (or one level below: a local master's partitions)
    is kept as a hard link to that file, not as a second copy on the same disk.
    """

    def __init__(self, directory: str | os.PathLike[str], backend: str = "auto", threads: int | None = None,
                 cap_bytes: int = 0, link_dir: str | os.PathLike[str] | None = None) -> None:
        self.directory = Path(directory).expanduser()
        self.link_dir = Path(link_dir).expanduser() if link_dir else None
        self.backend, self.threads = backend, threads
        self.cap_bytes = cap_bytes
        self.in_use: frozenset[str] = frozenset()
        self._assemblies: dict[str, _Assembly] = {}
        self._runners: dict[str, Runner] = {}
        self._verified: set[str] = set()

    def path(self, sha256: str) -> Path:
        """Where the artifact is (or will be) kept."""
        if not is_sha256(sha256):
            raise ArtifactError(f"{sha256[:80]!r} is not a sha256")
        return self.directory / f"{sha256}.tflite"

    def has(self, sha256: str) -> bool:
        """True when the artifact is in the cache."""
        return is_sha256(sha256) and self.path(sha256).is_file()

    def expect(self, sha256: str) -> asyncio.Future[Path]:
        """A future set to the artifact's path once its chunks have all arrived and it verified."""
        if self.has(sha256):
            done: asyncio.Future[Path] = asyncio.get_running_loop().create_future()
            done.set_result(self.path(sha256))
            return done
        current = self._assemblies.get(sha256)
        if current is not None and not current.done.done():
            return current.done
        self.directory.mkdir(parents=True, exist_ok=True)
        # Agents on one machine may share a cache directory: each writes its own part file.
        part = self.path(sha256).with_suffix(f".{os.getpid()}.part")
        part.unlink(missing_ok=True)
        assembly = _Assembly(-1, part, asyncio.get_running_loop().create_future())
        self._assemblies[sha256] = assembly
        return assembly.done

    async def async_fetch(self, missing: Sequence[str], request: Callable[[str], None], timeout_s: float) -> None:
        """``request(sha256)`` each missing artifact and wait until all arrived and verified (ArtifactError if
        some did not in ``timeout_s``, or did not verify)."""
        futures = [self.expect(sha) for sha in missing]
        for sha in missing:
            request(sha)
        if not futures:
            return
        # asyncio.wait (unlike gather) leaves the futures alone when the waiting task is cancelled.
        _, late = await asyncio.wait(futures, timeout=timeout_s)
        if late:
            raise ArtifactError(f"{len(late)} of {len(missing)} artifacts did not arrive in {timeout_s:g} s")
        for f in futures:
            f.result()  # a sha256 mismatch raises here

    def expecting(self, sha256: str) -> bool:
        """True while chunks of ``sha256`` are awaited."""
        current = self._assemblies.get(sha256)
        return current is not None and not current.done.done()

    def add_chunk(self, chunk: ArtifactChunk) -> str:
        """Store one chunk; '' when taken, else why it was refused (nothing asked for it, it does not fit)."""
        assembly = self._assemblies.get(chunk.sha256)
        if assembly is None or assembly.done.done():
            return f"no artifact {chunk.sha256[:16]} is awaited"
        size = memoryview(chunk.data).nbytes
        if not 0 < chunk.total <= MAX_ARTIFACT_BYTES or (assembly.total not in (-1, chunk.total)):
            return f"total {chunk.total} does not fit (expected {assembly.total})"
        if chunk.offset < 0 or chunk.offset + size > chunk.total or (size == 0 and chunk.total):
            return f"bytes [{chunk.offset}, {chunk.offset + size}) outside [0, {chunk.total})"
        assembly.total = chunk.total
        with assembly.part.open("r+b" if assembly.part.exists() else "wb") as f:
            f.seek(chunk.offset)
            f.write(chunk.data)
        if chunk.offset == assembly.hashed and chunk.offset not in assembly.ranges:
            assembly.digest.update(chunk.data)
            assembly.hashed += size
        assembly.ranges[chunk.offset] = size
        if assembly.received() >= assembly.total and _covers(assembly.ranges, assembly.total):
            self._finish(chunk.sha256, assembly)
        return ""

    def abandon(self) -> None:
        """Forget every assembly in progress (a newer Assign supersedes the one that asked)."""
        for assembly in self._assemblies.values():
            if not assembly.done.done():
                assembly.done.cancel()
            assembly.part.unlink(missing_ok=True)
        self._assemblies.clear()

    def runner(self, sha256: str) -> Runner:
        """The loaded model of an artifact (loaded and checked on first use, then reused)."""
        runner = self._runners.get(sha256)
        if runner is not None:
            return runner
        path = self.path(sha256)
        if sha256 not in self._verified:
            # A file changed on disk since it was written must not run under the name of the original.
            if not path.is_file() or _sha256_of(path) != sha256:
                raise ArtifactError(f"artifact {sha256[:16]} is missing or corrupt in {self.directory}")
            self._verified.add(sha256)
        try:
            runner = load_model(path, self.backend, self.threads or None)
        except Exception as exc:  # any loader failure is this artifact's problem
            raise ArtifactError(f"artifact {sha256[:16]} does not load: {type(exc).__name__}: {exc}") from exc
        self._runners[sha256] = runner
        return runner

    def use(self, artifacts: Collection[str]) -> list[str]:
        """Make ``artifacts`` the ones in use: marked as just used, never pruned; then prune to the cap.

        Returns the sha256 of every artifact pruned."""
        self.in_use = frozenset(artifacts)
        for sha in filter(is_sha256, self.in_use):
            try:
                os.utime(self.path(sha))   # the file's mtime is its last use: the order of pruning
            except OSError:   # not there yet (it is being fetched), or a read-only cache: nothing to order
                pass
        return self.prune()

    def prune(self) -> list[str]:
        """Delete the least recently used artifacts not in use until the cache fits its cap; their sha256."""
        if not self.cap_bytes or not self.directory.is_dir():
            return []
        files = []
        for path in self.directory.glob("*.tflite"):
            try:
                stat = path.stat()
            except FileNotFoundError:   # another agent sharing the directory pruned it
                continue
            files.append((stat.st_mtime, stat.st_size, path))
        total = sum(size for _, size, _ in files)
        pruned = []
        for _, size, path in sorted(files):
            if total <= self.cap_bytes:
                break
            sha = path.stem
            if sha in self.in_use or sha in self._assemblies:
                continue
            try:
                path.unlink(missing_ok=True)
            except OSError as exc:   # a cache it may not write: it keeps working, over its cap
                log.warning("artifact cache %s: cannot prune %s: %s", self.directory, path.name, exc)
                continue
            self._runners.pop(sha, None)
            self._verified.discard(sha)
            total -= size
            pruned.append(sha)
        if pruned:
            log.info("artifact cache %s: pruned %d least recently used artifacts, %.0f MB left (cap %.0f MB)",
                     self.directory, len(pruned), total / 2**20, self.cap_bytes / 2**20)
        return pruned

    @property
    def loaded(self) -> int:
        """How many artifacts are loaded (kept across epochs)."""
        return len(self._runners)

    def _finish(self, sha256: str, assembly: _Assembly) -> None:
        del self._assemblies[sha256]
        in_order = assembly.hashed == assembly.total and sum(assembly.ranges.values()) == assembly.total
        got = assembly.digest.hexdigest() if in_order else _sha256_of(assembly.part)
        if got != sha256:
            assembly.part.unlink(missing_ok=True)
            assembly.done.set_exception(ArtifactError(f"artifact {sha256[:16]} arrived with sha256 {got[:16]}"))
            return
        self._link_or_keep(sha256, assembly.part)
        self._verified.add(sha256)
        log.info("artifact %s received (%d bytes)", sha256[:16], assembly.total)
        assembly.done.set_result(self.path(sha256))
        self.prune()


    def _link_or_keep(self, sha256: str, part: Path) -> None:
        """Move the verified ``part`` into place, or hard-link the same bytes from ``link_dir`` instead."""
        name = f"{sha256}.tflite"
        if self.link_dir is not None:
            for same in (self.link_dir / name, *self.link_dir.glob(f"*/{name}")):
                try:
                    if same.stat().st_size != part.stat().st_size:
                        continue
                    os.link(same, part.with_suffix(".link"))
                except OSError:   # gone, another file system, no hard links there: keep the copy
                    continue
                os.replace(part.with_suffix(".link"), self.path(sha256))
                part.unlink(missing_ok=True)
                return
        os.replace(part, self.path(sha256))


def _covers(ranges: dict[int, int], total: int) -> bool:
    """True when the ranges cover [0, total) without a hole."""
    end = 0
    for offset in sorted(ranges):
        if offset > end:
            return False
        end = max(end, offset + ranges[offset])
    return end >= total


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


__all__ = ["MAX_ARTIFACT_BYTES", "ArtifactCache", "ArtifactError"]
