"""The one exception the service core raises to refuse a frame, and its error frame."""

from __future__ import annotations

from shared.protocol import Error, ErrorCode


class Refused(Exception):
    """A frame the service refuses; becomes an ``Error`` frame to that client only.

    Raised before any state changes, or inside the frame's own savepoint (which is
    rolled back), so a refused frame changes no stored state.
    """

    def __init__(
        self,
        code: ErrorCode,
        detail: str,
        *,
        current_epoch: int | None = None,
        reason: str | None = None,
        rule: str | None = None,
        mids: tuple[int, ...] | None = None,
        close: bool = False,
    ) -> None:
        super().__init__(f"{code.value}: {detail}")
        self.code = code
        self.detail = detail
        self.current_epoch = current_epoch
        self.reason = reason
        self.rule = rule
        self.mids = mids
        self.close = close  # the connection closes after the error frame

    def to_frame(self, re: int | None) -> Error:
        """The ``Error`` frame answering request ``re``."""
        return Error(
            re=re,
            code=self.code,
            detail=self.detail,
            current_epoch=self.current_epoch,
            reason=self.reason,
            rule=self.rule,
            mids=self.mids,
        )
