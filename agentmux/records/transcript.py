"""transcript.json: what a pane's transcript.txt was rendered from (agentmux/transcript.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

from agentmux.records.base import JSON, VERSION, Fields, Record


@dataclass(frozen=True)
class TranscriptRecord(Record):
    """The pane's size the raw log is rendered at, how much of the log the recorded
    transcript holds, and where the log stood when `down` asked the agent to stop."""

    KIND = "transcript.json"

    width: int
    height: int
    source_bytes: int = 0             # capture.raw_size of the log when it was rendered
    stop_at: int | None = None        # the same, when `down` began stopping the agent
    extra: dict[str, object] = field(default_factory=dict, hash=False, repr=False)

    @classmethod
    def _read(cls, f: Fields) -> TranscriptRecord:
        return cls(width=f.integer("width"), height=f.integer("height"),
                   source_bytes=f.integer("source_bytes", 0), stop_at=f.opt_integer("stop_at"),
                   extra=f.extra())

    def to_json(self) -> JSON:
        return {"version": VERSION, "width": self.width, "height": self.height,
                "source_bytes": self.source_bytes, "stop_at": self.stop_at, **self.extra}
