"""kombu's file-system transport, with messages that appear in the queue folder only when whole.

kombu writes a message by creating its file in the queue folder and then writing it; a worker
looking at the folder in between moves the empty file away, fails to parse it, and dies
("Unrecoverable error: JSONDecodeError"), losing the message. Here the message is written to a
hidden file in the same folder (names the reader skips) and renamed into place, which is atomic.
"""

from __future__ import annotations

import os
import uuid
from time import monotonic

from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        # The same name kombu gives a message (its reader sorts and matches on it).
        name = f"{int(round(monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = os.path.join(self.data_folder_out, f".{name}.part")  # "{x}.{queue}.msg" it is not
        try:
            with open(partial, "wb") as f:
                f.write(str_to_bytes(dumps(payload)))
            os.replace(partial, final)
        except OSError as exc:
            raise filesystem.ChannelError(f"Cannot add file {final!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel
