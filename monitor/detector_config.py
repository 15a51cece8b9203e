"""The detector's parameters: one frozen config, read once from the settings (docs/monitor.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from finsentry.settings import Settings


@dataclass(frozen=True, slots=True)
class DetectorConfig:
    bucket_s: int = 60
    window_min_s: int = 60
    window_max_s: int = 3 * 86_400
    min_items: int = 10
    min_negative: int = 5
    min_delta: float = 0.10
    baseline_s: int = 7 * 86_400
    block_s: int = 3600
    block_min_items: int = 5
    min_blocks: int = 6
    noise_floor: float = 0.02
    z_on: float = 4.5
    z_off: float = 2.0
    z_critical: float = 7.0
    resolve_s: int = 600
    cooldown_s: int = 1800
    # Warm-up: until the whole stream has min_blocks blocks, its baseline is its young history
    # pooled with this shipped prior (0 = no test until then).
    warmup_prior_share: float = 0.25
    warmup_prior_noise: float = 0.10
    # Volume test (monitor.volume): negatives counted against the key's own rate.
    volume_key_types: tuple[str, ...] = ("ticker", "entity")
    volume_windows_s: tuple[int, ...] = (3600, 6 * 3600, 24 * 3600)
    volume_z_on: float = 3.5
    volume_min_negative: int = 4
    volume_min_share: float = 0.3
    volume_min_ratio: float = 5.0
    volume_prior_per_day: float = 0.5
    volume_prior_days: float = 3.0
    # Topic and whole-stream keys: dense, with a daily cycle; their own threshold and a day of warm-up.
    volume_dense_key_types: tuple[str, ...] = ("topic", "all")
    volume_dense_z_on: float = 5.0
    volume_dense_warmup_s: int = 86_400
    volume_dense_min_ratio: float = 2.0  # a market-wide surge doubles a busy key's negatives, not 5x
    volume_profile: bool = True  # weigh hours by the stream's time-of-week profile
    volume_profile_pseudo_days: float = 2.0

    @classmethod
    def from_settings(cls, s: Settings) -> DetectorConfig:
        return cls(
            bucket_s=s.bucket_seconds,
            window_min_s=s.detector_window_min_s,
            window_max_s=s.detector_window_max_s,
            min_items=s.detector_min_items,
            min_negative=s.detector_min_negative,
            min_delta=s.detector_min_delta,
            baseline_s=s.detector_baseline_s,
            block_s=s.detector_block_s,
            block_min_items=s.detector_block_min_items,
            min_blocks=s.detector_min_blocks,
            noise_floor=s.detector_noise_floor,
            z_on=s.detector_z_on,
            z_off=s.detector_z_off,
            z_critical=s.detector_z_critical,
            resolve_s=s.detector_resolve_s,
            cooldown_s=s.detector_cooldown_s,
            warmup_prior_share=s.detector_warmup_prior_share,
            warmup_prior_noise=s.detector_warmup_prior_noise,
            volume_key_types=tuple(s.detector_volume_key_types),
            volume_z_on=s.detector_volume_z_on,
            volume_min_negative=s.detector_volume_min_negative,
            volume_min_share=s.detector_volume_min_share,
            volume_min_ratio=s.detector_volume_min_ratio,
            volume_prior_per_day=s.detector_volume_prior_per_day,
            volume_prior_days=s.detector_volume_prior_days,
            volume_dense_z_on=s.detector_volume_dense_z_on,
            volume_dense_warmup_s=s.detector_volume_dense_warmup_s,
            volume_dense_min_ratio=s.detector_volume_dense_min_ratio,
            volume_profile=s.detector_volume_profile,
        )

    @property
    def horizon_s(self) -> int:
        """How much history the detector needs behind the newest closed bucket."""
        return self.window_max_s + self.baseline_s + self.block_s
