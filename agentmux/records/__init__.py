"""The ledger's records as frozen dataclasses: each file's schema, read and written here only.

| record          | file                              | written by             |
|-----------------|-----------------------------------|------------------------|
| `RunRecord`     | run.json (with `PaneRecord`s)     | `up`, `add`, `down`    |
| `SpecRecord`    | panes/<pane>/spec.json            | `up`, `add`            |
| `StatusRecord`  | panes/<pane>/status.json          | the runner             |
| `EventRecord`   | one line of events.jsonl          | watcher, review, merge |
| `ResultRecord`  | panes/<pane>/result.json          | the snapshot           |
| `EnvRecord`     | a pane's env file (not in the run) | `up`, `add`, `restart` |
| `WatcherRecord` | watcher.json                      | the watcher            |
| `TranscriptRecord` | panes/<pane>/transcript.json   | watcher, `down`, `logs` |

Versions: every file carries an integer `version`, the schema's major version. A change that
adds keys keeps it; readers ignore what they do not know and keep it in `extra`, so a record
read and written back loses nothing a newer agentmux added. A file with a higher version is
refused (`NewerRecord`) rather than misread. A key of the wrong type is `DamagedRecord`.

The runner cannot import this module (dataclasses alone cost it ~18 ms a start): it reads
spec.json and writes status.json with plain dicts of exactly the shape `SpecRecord.to_json`
and `StatusRecord.to_json` give, and tests/test_records.py holds the two sides together.
"""

from agentmux.records.base import JSON, VERSION, DamagedRecord, NewerRecord, Record
from agentmux.records.outcome import (
    PHASES,
    EventRecord,
    FileChange,
    ResultRecord,
    StatusRecord,
)
from agentmux.records.run import (
    AddedPane,
    EnvRecord,
    PaneRecord,
    RunRecord,
    SandboxSpec,
    SpecRecord,
    WatcherRecord,
)
from agentmux.records.transcript import TranscriptRecord

__all__ = [
    "JSON", "PHASES", "VERSION", "AddedPane", "DamagedRecord", "EnvRecord", "EventRecord",
    "FileChange", "NewerRecord", "PaneRecord", "Record", "ResultRecord", "RunRecord",
    "SandboxSpec", "SpecRecord", "StatusRecord", "TranscriptRecord", "WatcherRecord",
]
