"""Follow which version the target serves, and notice when a new one shows up."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class VersionSpan:
    """When one version was served (seconds since the probe started) and how often."""

    first_seen: float
    last_seen: float
    count: int = 1


@dataclass(frozen=True)
class Transition:
    """The moment ``to`` started being served while ``from_`` was the version being served."""

    at: float
    from_: str
    to: str


class VersionTracker:
    """Announces "Version updated from A to B" once per real change, not on every flip.

    A change is announced when a response shows a version that was never seen before, or one
    that had not been seen for ``gone_after`` seconds (a rollback brings the old version back).
    While old and new pods both serve during a rolling update, responses alternate between the
    two versions; those flips are counted but not announced.
    """

    def __init__(self, gone_after: float = 2.0) -> None:
        self.gone_after = gone_after
        self.spans: dict[str, VersionSpan] = {}
        self.transitions: list[Transition] = []
        self.flips = 0
        self.last: str | None = None

    def observe(self, at: float, version: str) -> str | None:
        """Record a response served by ``version`` at ``at``; return a line worth printing."""
        span = self.spans.get(version)
        message: str | None = None
        if self.last is None:
            message = f"Serving version {version}"
        elif version != self.last:
            self.flips += 1
            if span is None or at - span.last_seen > self.gone_after:
                self.transitions.append(Transition(at=at, from_=self.last, to=version))
                message = f"Version updated from {self.last} to {version}"
        if span is None:
            self.spans[version] = VersionSpan(first_seen=at, last_seen=at)
        else:
            span.first_seen = min(span.first_seen, at)
            span.last_seen = max(span.last_seen, at)
            span.count += 1
        self.last = version
        return message

    def current(self, now: float, window: float = 1.5) -> list[str]:
        """Versions seen during the last ``window`` seconds, oldest first."""
        recent = [(s.first_seen, v) for v, s in self.spans.items() if now - s.last_seen <= window]
        return [v for _, v in sorted(recent)]
