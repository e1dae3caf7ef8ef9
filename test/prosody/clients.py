"""Real XMPP clients for the Prosody module test: Alice joins a room, the recorder joins from
the hidden domain, the recorder leaves, Alice leaves (and the room goes away).

With a third argument, stay=<seconds>, only Alice joins, and stays that long (unless the room is
closed under her).

usage: clients.py <c2s port> <room jid> [stay=<seconds>]
"""
import asyncio
import sys

import slixmpp


class Client(slixmpp.ClientXMPP):
    def __init__(self, jid, password):
        super().__init__(jid, password)
        self.register_plugin("xep_0045")
        self.started = asyncio.Event()
        self.add_event_handler("session_start", self.on_start)
        self.add_event_handler("failed_auth", lambda _: sys.exit("auth failed for " + jid))

    async def on_start(self, _):
        self.send_presence()
        self.started.set()


async def stay(port, room, seconds):
    alice = Client("alice@meet.jitsi", "alice-pw")
    alice.connect(address=("127.0.0.1", port), force_starttls=False, disable_starttls=True)
    await asyncio.wait_for(alice.started.wait(), 15)
    alice.plugin["xep_0045"].join_muc(room, "Alice")
    await asyncio.sleep(seconds)
    alice.disconnect()
    await asyncio.sleep(0.5)


async def main(port, room):
    alice = Client("alice@meet.jitsi", "alice-pw")
    recorder = Client("recorder@hidden.meet.jitsi", "recorder-pw")
    for c in (alice, recorder):
        c.connect(address=("127.0.0.1", port), force_starttls=False, disable_starttls=True)
    await asyncio.wait_for(alice.started.wait(), 15)
    await asyncio.wait_for(recorder.started.wait(), 15)

    alice.plugin["xep_0045"].join_muc(room, "Alice")
    await asyncio.sleep(1)
    recorder.plugin["xep_0045"].join_muc(room, "Recorder")
    await asyncio.sleep(1)
    recorder.plugin["xep_0045"].leave_muc(room, "Recorder")
    await asyncio.sleep(1)
    alice.plugin["xep_0045"].leave_muc(room, "Alice")
    await asyncio.sleep(1)
    for c in (alice, recorder):
        c.disconnect()
    await asyncio.sleep(0.5)


if __name__ == "__main__":
    port, room = int(sys.argv[1]), sys.argv[2]
    if len(sys.argv) > 3 and sys.argv[3].startswith("stay="):
        asyncio.get_event_loop().run_until_complete(stay(port, room, float(sys.argv[3][5:])))
    else:
        asyncio.get_event_loop().run_until_complete(main(port, room))
