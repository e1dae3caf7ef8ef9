-- mod_jitsi_operator_events: posts the conference events of a Jitsi MUC component to
-- jitsi-operator's receiver, signed so the receiver can trust them.
--
-- Loaded on the main MUC component (docker-jitsi-meet: XMPP_MUC_MODULES). Options, set in the
-- global section (the operator renders them into conf.d):
--   jitsi_operator_events_url           receiver URL, e.g. http://jitsi-operator.ns.svc:9443/v1/prosody/events
--   jitsi_operator_events_secret        HMAC-SHA256 key; the body's hex digest goes in X-Jitsi-Signature
--   jitsi_operator_events_hidden_domain the recorder's domain (its joins are marked recorder = true)
--   jitsi_operator_events_retries       attempts after the first on a connection error or 5xx (default 5)
--   jitsi_operator_events_timeout       seconds one attempt may take (default 10)
--
-- Every event is one JSON object:
--   { "id": unique per event (the same on every retry), "event": "room-created" | "room-destroyed" |
--     "occupant-joined" | "occupant-left" | "role-changed" | "recording-status",
--     "timestamp": Unix milliseconds,
--     "room": { "jid", "name", "meeting_id" },
--     "occupant": { "jid", "nick", "id", "name", "email", "moderator", "recorder" },  -- occupant events
--     "recording": { "status", "mode", "session_id", "failure_reason" },  -- recording-status
--     "occupants": number of occupants after the event, Jicofo not counted }
--
-- The receiver's answer to room-created may say when the room's meeting ends; the module then
-- closes the room at that time.

local http = require "net.http";
local json = require "util.json";
local hashes = require "util.hashes";
local hex = require "util.hex";
local jid = require "util.jid";
local uuid = require "util.uuid";
local time = require "util.time";
local timer = require "util.timer";
local async = require "util.async";
local st = require "util.stanza";

local url = module:get_option_string("jitsi_operator_events_url");
local secret = module:get_option_string("jitsi_operator_events_secret");
local hidden_domain = module:get_option_string("jitsi_operator_events_hidden_domain", "hidden.meet.jitsi");
local max_retries = module:get_option_number("jitsi_operator_events_retries", 5);
local timeout = module:get_option_number("jitsi_operator_events_timeout", 10);
-- Where joins are checked: the events URL with validate-access for events.
local validate_url = module:get_option_string("jitsi_operator_validate_url",
	url and (url:gsub("/v1/prosody/events", "/v1/prosody/validate-access", 1)));

if not url or url == "" then
	module:log("error", "jitsi_operator_events_url is not set; no events will be sent");
	return;
end
if not secret or secret == "" then
	module:log("error", "jitsi_operator_events_secret is not set; no events will be sent");
	return;
end

local function now_ms()
	return math.floor(time.now() * 1000);
end

local function sign(body)
	return hex.encode(hashes.hmac_sha256(secret, body));
end

-- post sends one event and retries on a connection error (code 0) or a 5xx answer, waiting
-- 1, 2, 4, ... seconds (at most 30) between attempts. The body, and so the id, never changes.
-- on_answer, when given, gets the decoded body of a 2xx answer.
local function post(body, attempt, on_answer)
	local done = false;
	local request = http.request(url, {
		method = "POST";
		body = body;
		headers = {
			["Content-Type"] = "application/json";
			["X-Jitsi-Signature"] = sign(body);
		};
	}, function(response, code)
		done = true;
		if code >= 200 and code < 300 then
			if on_answer then
				local answer = json.decode(response or "");
				if type(answer) == "table" then on_answer(answer); end
			end
		elseif code == 0 or (code >= 500 and code < 600) then
			if attempt < max_retries then
				local delay = math.floor(math.min(2 ^ attempt, 30));
				module:log("warn", "receiver answered %s; retry %d of %d in %ds", tostring(code), attempt + 1, max_retries, delay);
				timer.add_task(delay, function() post(body, attempt + 1, on_answer); end);
			else
				module:log("error", "receiver answered %s; event dropped after %d attempts", tostring(code), attempt + 1);
			end
		elseif code >= 400 then
			module:log("error", "receiver refused the event with %d; not retried", code);
		end
	end);
	timer.add_task(timeout, function()
		if not done and request then
			module:log("warn", "receiver did not answer within %ds", timeout);
			http.destroy_request(request);
		end
	end);
end

local function is_healthcheck(room)
	return jid.node(room.jid):find("^__jicofo%-health%-check") ~= nil;
end

local function is_focus(occupant)
	return jid.node(occupant.bare_jid) == "focus";
end

local function room_info(room)
	return {
		jid = room.jid;
		name = jid.node(room.jid);
		meeting_id = room._data and room._data.meetingId or nil; -- set by Jitsi's mod_muc_meeting_id
	};
end

local function occupant_count(room)
	local n = 0;
	for _, occupant in room:each_occupant() do
		if not is_focus(occupant) then
			n = n + 1;
		end
	end
	return n;
end

local function occupant_info(occupant, session)
	local user = session and session.jitsi_meet_context_user or {};
	local _, domain = jid.split(occupant.bare_jid);
	return {
		jid = occupant.bare_jid;
		nick = select(3, jid.split(occupant.nick));
		id = user.id;
		name = user.name;
		email = user.email;
		moderator = occupant.role == "moderator";
		recorder = domain == hidden_domain;
	};
end

local function send(kind, room, extra, on_answer)
	local event = {
		id = uuid.generate();
		event = kind;
		timestamp = now_ms();
		room = room_info(room);
	};
	for k, v in pairs(extra or {}) do
		event[k] = v;
	end
	post(json.encode(event), 0, on_answer);
end

local muc = module:depends("muc");

-- close_at_end closes room once the receiver says how long its meeting may last: the answer to
-- room-created carries {"room": {"maxDurationSeconds": n}} for rooms that have a Meeting with an
-- end. A meeting that already ended gets 0, and its room is closed at once.
local function close_at_end(room)
	return function(answer)
		local config = answer.room;
		if type(config) ~= "table" or type(config.maxDurationSeconds) ~= "number" then return; end
		local seconds = math.max(0, math.floor(config.maxDurationSeconds));
		module:log("info", "room %s closes in %ds, at its meeting's end", room.jid, seconds);
		timer.add_task(seconds, function()
			if muc.get_room_from_jid(room.jid) == room then
				room:destroy(nil, "The meeting has ended.");
			end
		end);
	end
end

-- Before a join, ask the receiver whether this person may enter (a meeting that ended admits
-- nobody, a private one only its invitees). The join waits for the answer; if the receiver cannot
-- be asked, the join goes ahead (meetings keep working while the operator is away) and the
-- module says so in its log.
module:hook("muc-occupant-pre-join", function(event)
	local room, occupant, origin = event.room, event.occupant, event.origin;
	if is_healthcheck(room) or is_focus(occupant) or not validate_url then return; end
	if not async.ready() then
		module:log("warn", "cannot wait for the receiver here; %s joins %s unchecked", occupant.bare_jid, room.jid);
		return;
	end
	local info = occupant_info(occupant, origin);
	local body = json.encode({ timestamp = now_ms(); room = room_info(room); occupant = info });
	local response, err = async.wait_for(http.request(validate_url, {
		method = "POST";
		body = body;
		headers = { ["Content-Type"] = "application/json"; ["X-Jitsi-Signature"] = sign(body) };
	}));
	if not response or response.code ~= 200 then
		module:log("warn", "could not check %s's access to %s (%s); letting them in", occupant.bare_jid, room.jid,
			tostring(response and response.code or err));
		return;
	end
	local answer = json.decode(response.body or "");
	if type(answer) == "table" and answer.allowed == false then
		module:log("info", "%s may not join %s: %s", occupant.bare_jid, room.jid, tostring(answer.reason));
		origin.send(st.error_reply(event.stanza, "auth", "forbidden", answer.reason));
		return true;
	end
end, 10);

module:hook("muc-room-created", function(event)
	if is_healthcheck(event.room) then return; end
	send("room-created", event.room, nil, close_at_end(event.room));
end, -2);

module:hook("muc-room-destroyed", function(event)
	if is_healthcheck(event.room) then return; end
	send("room-destroyed", event.room, { occupants = 0 });
end, -2);

module:hook("muc-occupant-joined", function(event)
	local room, occupant = event.room, event.occupant;
	if is_healthcheck(room) or is_focus(occupant) then return; end
	send("occupant-joined", room, {
		occupant = occupant_info(occupant, event.origin);
		occupants = occupant_count(room);
	});
end, -2);

module:hook("muc-occupant-left", function(event)
	local room, occupant = event.room, event.occupant;
	if is_healthcheck(room) or not occupant or is_focus(occupant) then return; end
	local count = occupant_count(room);
	if room:get_occupant_by_nick(occupant.nick) then
		count = count - 1; -- still listed while the hook runs
	end
	send("occupant-left", room, {
		occupant = occupant_info(occupant, event.origin);
		occupants = count;
	});
end, -2);

-- Jicofo announces a recording or live stream in its own presence in the room, as
-- <jibri-recording-status xmlns='http://jitsi.org/protocol/jibri' status='on|off|pending'
-- recording_mode='file|stream' session_id='...' failure_reason='...'/>. Each change is posted as
-- a recording-status event.
local JIBRI_NS = "http://jitsi.org/protocol/jibri";
local last_recording_status = setmetatable({}, { __mode = "k" }); -- room -> last status posted

module:hook("muc-broadcast-presence", function(event)
	local room, occupant, stanza = event.room, event.occupant, event.stanza;
	if not occupant or not is_focus(occupant) or is_healthcheck(room) then return; end
	local status = stanza:get_child("jibri-recording-status", JIBRI_NS);
	if not status then return; end
	local recording = {
		status = status.attr.status;
		mode = status.attr.recording_mode;
		session_id = status.attr.session_id;
		failure_reason = status.attr.failure_reason;
	};
	local key = table.concat({ recording.status or "", recording.mode or "", recording.session_id or "", recording.failure_reason or "" }, "|");
	if last_recording_status[room] == key then return; end
	last_recording_status[room] = key;
	send("recording-status", room, { recording = recording });
end, -2);

-- A participant's affiliation decides whether they moderate (owner and admin do): tell the
-- receiver when it changes.
module:hook("muc-set-affiliation", function(event)
	local room = event.room;
	if is_healthcheck(room) or not event.jid or jid.node(event.jid) == "focus" then return; end
	if event.affiliation == event.previous_affiliation then return; end
	local _, domain = jid.split(event.jid);
	send("role-changed", room, {
		occupant = {
			jid = jid.bare(event.jid);
			moderator = event.affiliation == "owner" or event.affiliation == "admin";
			recorder = domain == hidden_domain;
		};
		occupants = occupant_count(room);
	});
end, -2);

module:log("info", "posting conference events to %s", url);
