"""Real XMPP clients for the Prosody module test: Alice joins a room, the recorder joins from
the hidden domain, the recorder leaves, Alice leaves (and the room goes away).

With a third argument, stay=<seconds>, only Alice joins, and stays that long (unless the room is
closed under her).

With "recording", Alice joins, then Jicofo's account joins and announces a recording in its
presence (on, then off), as Jicofo does.

With "serve" instead of a room, it signs in Alice, Bob and the recorder and takes commands on
stdin, one JSON object a line: {"id": n, "who": "alice" | "bob" | "recorder", "room": <jid>,
"nick": <nick>} joins that room (one join at a time per account: Prosody 0.12 handles a
session's stanzas one after the other, and a stanza that arrives while a join waits for the
receiver may wait for more data from that session), and each gets one line
'RESULT {"id": n, "joined": true}' or 'RESULT {"id": n, "joined": false, "condition", "text"}'
on stdout once the room answered. It prints 'RESULT {"ready": true}' once signed in, and leaves
when stdin ends.

usage: clients.py <c2s port> <room jid> [stay=<seconds> | recording]
       clients.py <c2s port> serve
"""
import asyncio
import json
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


ACCOUNTS = {
    "alice": ("alice@meet.jitsi", "alice-pw"),
    "bob": ("bob@meet.jitsi", "bob-pw"),
    "recorder": ("recorder@hidden.meet.jitsi", "recorder-pw"),
}


def result(**fields):
    # slixmpp prints to stdout on its own at times: results carry a prefix.
    print("RESULT " + json.dumps(fields), flush=True)


async def join(client, lock, command):
    """Joins the room and reports the room's answer: our own presence in it, or an error presence
    from it. (slixmpp's join_muc_wait misses errors without the MUC <x/>, which Prosody's are.)"""
    room, nick = command["room"], command["nick"]
    async with lock:
        answer = asyncio.get_event_loop().create_future()

        def on_presence(pres):
            if pres["from"].bare == room and not answer.done():
                if pres["type"] == "error":
                    answer.set_result(pres)
                elif pres["from"].resource == nick and 110 in pres["muc"]["status_codes"]:
                    answer.set_result(pres)

        client.add_event_handler("presence", on_presence)
        try:
            p = client.make_presence(pto=room + "/" + nick)
            p.enable("muc_join")
            p["muc_join"]["history"]["maxstanzas"] = "0"
            p.send()
            pres = await asyncio.wait_for(answer, 20)
        except asyncio.TimeoutError:
            result(id=command["id"], joined=False, condition="timeout", text="no answer from the room")
            return
        finally:
            client.del_event_handler("presence", on_presence)
    if pres["type"] == "error":
        result(id=command["id"], joined=False, condition=pres["error"]["condition"], text=pres["error"]["text"])
    else:
        result(id=command["id"], joined=True)


async def serve(port):
    clients = dict(zip(ACCOUNTS, await connect(port, *ACCOUNTS.values())))
    locks = {who: asyncio.Lock() for who in clients}
    result(ready=True)
    loop = asyncio.get_event_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    tasks = []
    while line := await reader.readline():
        command = json.loads(line)
        who = command["who"]
        tasks.append(asyncio.ensure_future(join(clients[who], locks[who], command)))
    await asyncio.gather(*tasks)
    await disconnect(*clients.values())


if __name__ == "__main__":
    port, room = int(sys.argv[1]), sys.argv[2]
    if room == "serve":
        asyncio.get_event_loop().run_until_complete(serve(port))
    elif len(sys.argv) > 3 and sys.argv[3] == "recording":
        asyncio.get_event_loop().run_until_complete(recording(port, room))
    elif len(sys.argv) > 3 and sys.argv[3].startswith("stay="):
        asyncio.get_event_loop().run_until_complete(stay(port, room, float(sys.argv[3][5:])))
    else:
        asyncio.get_event_loop().run_until_complete(main(port, room))
