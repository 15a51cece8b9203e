"""Alert episodes per key (pure): onset, escalation, hysteresis on the way down, cooldown.

    quiet --(z >= z_on, excess >= min_delta, k >= min_negative, not cooling)--> firing
    firing --(z >= z_critical, once)--> firing (critical)
    firing --(z < z_off held for resolve_s)--> resolved, quiet for cooldown_s
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

from finsentry.timeutil import as_utc
from monitor.buckets import KeyId

if TYPE_CHECKING:
    from monitor.detector import Evaluation
    from monitor.detector_config import DetectorConfig

Severity = Literal["warning", "critical"]


def alert_id_for(key: KeyId, onset: datetime) -> str:
    return f"{key[0]}:{key[1]}:{as_utc(onset).strftime('%Y-%m-%dT%H:%M:%SZ')}"


@dataclass(slots=True)
class Episode:
    alert_id: str
    onset: datetime
    severity: Severity
    below_since: datetime | None = None


@dataclass(slots=True)
class KeyState:
    episode: Episode | None = None
    quiet_until: datetime | None = None
    last: Evaluation | None = None


    def step(
        self, key: KeyId, bucket: datetime, end: datetime, z: float, can_fire: bool, cfg: DetectorConfig,
    ) -> tuple[Episode | None, Literal["firing", "resolved"] | None]:
        """Move the key's episode on by one tested bucket; returns (the episode an event is about, its status).

        ``can_fire``: the bucket passes one of the detector's onset tests (share or volume); the
        episode machine adds the cooldown, escalation by ``z`` and the hysteresis on the way down.
        """
        ep = self.episode
        if ep is None:
            cooling = self.quiet_until is not None and bucket < self.quiet_until
            if can_fire and not cooling:
                severity: Severity = "critical" if z >= cfg.z_critical else "warning"
                self.episode = Episode(alert_id_for(key, bucket), bucket, severity)
                return self.episode, "firing"
            return None, None
        if z < cfg.z_off:
            ep.below_since = ep.below_since or bucket
            if (end - ep.below_since).total_seconds() >= cfg.resolve_s:
                self.episode = None
                self.quiet_until = end + timedelta(seconds=cfg.cooldown_s)
                return ep, "resolved"
            return None, None
        ep.below_since = None
        if z >= cfg.z_critical and ep.severity == "warning":
            ep.severity = "critical"
            return ep, "firing"
        return None, None
