"""The file-system broker's transport: a worker reading the queue never sees half a message."""

from __future__ import annotations

import threading
from queue import Empty

from kombu import Connection

from config.filesystem_broker import Transport


def test_it_never_hands_a_reader_a_message_still_being_written(tmp_path):
    # A reader polling the folder without pause while messages are written: kombu's own
    # transport let it take a message file before its content was written (an empty read).
    options = {"data_folder_in": str(tmp_path), "data_folder_out": str(tmp_path), "store_processed": False}
    total, got, errors = 3000, [], []
    done = threading.Event()

    def read() -> None:
        with Connection("filesystem://", transport=Transport, transport_options=options) as conn:
            channel = conn.default_channel
            while len(got) < total and not done.is_set():
                try:
                    got.append(channel._get("q"))
                except Empty:
                    continue
                except ValueError as exc:  # an empty or partial file: not JSON
                    errors.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    with Connection("filesystem://", transport=Transport, transport_options=options) as conn:
        channel = conn.default_channel
        for n in range(total):
            channel._put("q", {"n": n, "body": "x" * 2000})
    reader.join(60)
    done.set()
    assert errors == []
    assert sorted(m["n"] for m in got) == list(range(total))
