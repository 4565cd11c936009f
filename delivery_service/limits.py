"""Per-connection limits of the delivery service (rates are enforced by
:class:`shared.token_bucket.TokenBucket`, re-exported here)."""

from __future__ import annotations

from dataclasses import dataclass

from shared.token_bucket import TokenBucket

__all__ = ["Limits", "TokenBucket"]


@dataclass(frozen=True, slots=True)
class Limits:
    """Every limit of docs/protocol.md §8, with its default."""

    max_frame_bytes: int = 8 * 1024 * 1024
    max_mls_bytes: int = 4 * 1024 * 1024
    max_key_packages_per_frame: int = 100
    max_acks_per_frame: int = 10_000
    frames_per_second: float = 200.0
    frame_burst: int = 400
    handshake_timeout: float = 10.0
    idle_timeout: float = 300.0
    send_queue_frames: int = 1000
    max_auth_failures: int = 3
