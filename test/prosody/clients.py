"""Real XMPP clients for the Prosody module test: Alice joins a room, the recorder joins from
the hidden domain, the recorder leaves, Alice leaves (and the room goes away).

With a third argument, stay=<seconds>, only Alice joins, and stays that long (unless the room is
closed under her).

With "recording", Alice joins, then Jicofo's account joins and announces a recording in its
presence (on, then off), as Jicofo does.

usage: clients.py <c2s port> <room jid> [stay=<seconds> | recording]
"""
import asyncio
import sys
import xml.etree.ElementTree as ET

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


async def connect(port, *accounts):
    """Signs in every (jid, password) and returns the clients once all sessions have started."""
    clients = [Client(jid, password) for jid, password in accounts]
    for c in clients:
        c.connect(address=("127.0.0.1", port), force_starttls=False, disable_starttls=True)
    for c in clients:
        await asyncio.wait_for(c.started.wait(), 15)
    return clients


async def disconnect(*clients):
    for c in clients:
        c.disconnect()
    await asyncio.sleep(0.5)


async def stay(port, room, seconds):
    (alice,) = await connect(port, ("alice@meet.jitsi", "alice-pw"))
    alice.plugin["xep_0045"].join_muc(room, "Alice")
    await asyncio.sleep(seconds)
    await disconnect(alice)


def recording_status(status):
    return ET.fromstring(
        '<jibri-recording-status xmlns="http://jitsi.org/protocol/jibri" status="%s" '
        'recording_mode="file" session_id="0b6f3c1e-2a9d-4f7b-8e3c-5d4a1b2c3d4e"/>' % status)


async def recording(port, room):
    alice, focus = await connect(port, ("alice@meet.jitsi", "alice-pw"), ("focus@auth.meet.jitsi", "focus-pw"))
    alice.plugin["xep_0045"].join_muc(room, "Alice")
    await asyncio.sleep(1)
    focus.plugin["xep_0045"].join_muc(room, "focus")
    await asyncio.sleep(1)
    for status in ("on", "off"):
        p = focus.make_presence(pto=room + "/focus")
        p.append(recording_status(status))
        p.send()
        await asyncio.sleep(1)
    for c in (focus, alice):
        c.plugin["xep_0045"].leave_muc(room, "focus" if c is focus else "Alice")
    await asyncio.sleep(1)
    await disconnect(alice, focus)


async def main(port, room):
    alice, recorder = await connect(port, ("alice@meet.jitsi", "alice-pw"), ("recorder@hidden.meet.jitsi", "recorder-pw"))

    alice.plugin["xep_0045"].join_muc(room, "Alice")
    await asyncio.sleep(1)
    recorder.plugin["xep_0045"].join_muc(room, "Recorder")
    await asyncio.sleep(1)
    recorder.plugin["xep_0045"].leave_muc(room, "Recorder")
    await asyncio.sleep(1)
    alice.plugin["xep_0045"].leave_muc(room, "Alice")
    await asyncio.sleep(1)
    await disconnect(alice, recorder)


if __name__ == "__main__":
    port, room = int(sys.argv[1]), sys.argv[2]
    if len(sys.argv) > 3 and sys.argv[3] == "recording":
        asyncio.get_event_loop().run_until_complete(recording(port, room))
    elif len(sys.argv) > 3 and sys.argv[3].startswith("stay="):
        asyncio.get_event_loop().run_until_complete(stay(port, room, float(sys.argv[3][5:])))
    else:
        asyncio.get_event_loop().run_until_complete(main(port, room))
