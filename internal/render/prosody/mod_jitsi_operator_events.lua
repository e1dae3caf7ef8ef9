-- mod_jitsi_operator_events: posts the conference events of a Jitsi MUC component to
-- jitsi-operator's receiver, signed so the receiver can trust them, and asks the receiver before
-- every join whether that person may enter.
--
-- Loaded on the main MUC component (docker-jitsi-meet: XMPP_MUC_MODULES). Options, set in the
-- global section (the operator renders them into conf.d):
--   jitsi_operator_events_url           receiver URL, e.g. http://jitsi-operator.ns.svc:9443/v1/prosody/events
--   jitsi_operator_events_secret        HMAC-SHA256 key; the body's hex digest goes in X-Jitsi-Signature
--   jitsi_operator_events_hidden_domain the recorder's domain (its joins are marked recorder = true)
--   jitsi_operator_events_retries       attempts after the first on a connection error or 5xx (default 5)
--   jitsi_operator_events_timeout       seconds one attempt may take (default 10)
--   jitsi_operator_validate_url         where joins are checked (default: the events URL with
--                                       /v1/prosody/validate-access for /v1/prosody/events)
--   jitsi_operator_validate_timeout     seconds a join waits for the receiver's answer (default 3)
--   jitsi_operator_admit_public_when_unreachable
--                                       whether a join to a room known to be public (or to have no
--                                       Meeting) goes ahead while the receiver cannot be asked
--                                       (default true)
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
-- The receiver's answers to room-created and to the access check describe the room when it has a
-- Meeting: {"room": {"access": "Public" | "Private", "maxDurationSeconds": n}} (n only when the
-- meeting has an end, 0 once it has ended); without "room" the room has no Meeting. The module
-- keeps the last description of each room for as long as the room lives, and closes the room at
-- the end the answer to room-created gives.
--
-- Joins (muc-occupant-pre-join; Jicofo's focus and Jicofo's health-check rooms are not checked):
--   the receiver answers 200 with {"allowed": true}          -> admitted
--   the receiver answers 200 with {"allowed": false, reason} -> refused with that reason
--   the receiver cannot be asked: connection error, no answer within the timeout, any other status
--   (401, 503, ...), or a 200 whose body has no boolean "allowed"; or the join cannot wait here:
--     the recorder (hidden domain)                          -> admitted (the receiver admits it everywhere)
--     nothing known about the room                          -> refused
--     the room's meeting has ended (its end has passed)     -> refused
--     a Private meeting                                     -> refused
--     a Public meeting, or a room without a Meeting         -> admitted when
--                           jitsi_operator_admit_public_when_unreachable is true, refused otherwise
-- Each decision taken without the receiver is logged as a warning, naming the room, the person and
-- the reason. Without jitsi_operator_events_url or jitsi_operator_events_secret the module sends
-- nothing and decides every join so (only the recorder gets in).

local http = require "net.http";
local json = require "util.json";
local hashes = require "util.hashes";
local hex = require "util.hex";
local jid = require "util.jid";
local uuid = require "util.uuid";
local time = require "util.time";
local timer = require "util.timer";
local async = require "util.async";
local promise = require "util.promise";
local st = require "util.stanza";

local url = module:get_option_string("jitsi_operator_events_url");
local secret = module:get_option_string("jitsi_operator_events_secret");
local hidden_domain = module:get_option_string("jitsi_operator_events_hidden_domain", "hidden.meet.jitsi");
local max_retries = module:get_option_number("jitsi_operator_events_retries", 5);
local timeout = module:get_option_number("jitsi_operator_events_timeout", 10);
-- Where joins are checked: the events URL with validate-access for events.
local validate_url = module:get_option_string("jitsi_operator_validate_url",
	url and (url:gsub("/v1/prosody/events", "/v1/prosody/validate-access", 1)));
-- A join waits for the receiver at most this long: the person is waiting too.
local validate_timeout = module:get_option_number("jitsi_operator_validate_timeout", 3);
local admit_public_when_unreachable = module:get_option_boolean("jitsi_operator_admit_public_when_unreachable", true);

-- Without a receiver to post to, or a key to sign with, nothing can be asked: no events are
-- sent, and joins are decided as while the receiver is unreachable, knowing nothing.
local missing = (not url or url == "") and "jitsi_operator_events_url"
	or (not secret or secret == "") and "jitsi_operator_events_secret" or nil;
if missing then
	module:log("error", "%s is not set: no events are sent, and only the recorder may join rooms", missing);
end

local function now_ms()
	return math.floor(time.now() * 1000);
end

local function sign(body)
	return hex.encode(hashes.hmac_sha256(secret, body));
end

-- decode is the JSON object body holds, or nil.
local function decode(body)
	local ok, value = pcall(json.decode, body or "");
	if ok and type(value) == "table" and value ~= json.null then return value; end
	return nil;
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
				local answer = decode(response);
				if answer then on_answer(answer); end
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

-- known[room] is what the receiver last said about room: { meeting = false } for a room without
-- a Meeting, else { meeting = true, access = "Public" | "Private", ends_at = nil or when the
-- meeting ends, on the monotonic clock (computed from maxDurationSeconds as the answer arrived) }.
-- Each entry also notes which ask it answers (ask), so that a slow answer (a room-created retried
-- after a 5xx) does not replace what a later one said. Weak keys: it goes with the room.
local known = setmetatable({}, { __mode = "k" });
local asks = 0;
local function next_ask()
	asks = asks + 1;
	return asks;
end

-- room_config reads the room a receiver's answer describes: nil when it cannot be read.
local function room_config(answer)
	local config = answer.room;
	if config == nil or config == json.null then
		return { meeting = false };
	end
	if type(config) ~= "table" then return nil; end
	local access = config.access;
	if access == nil or access == json.null or access == "" then
		access = "Public"; -- receivers that predate access; they had no private meetings
	elseif access ~= "Public" then
		access = "Private"; -- "Private", or anything this module does not know: the stricter
	end
	local ends_at;
	local seconds = config.maxDurationSeconds;
	if type(seconds) == "number" then
		ends_at = time.monotonic() + math.max(0, seconds);
	elseif seconds ~= nil and seconds ~= json.null then
		return nil;
	end
	return { meeting = true; access = access; ends_at = ends_at };
end

-- learn keeps what answer (to ask number ask, made by source) says about room.
local function learn(room, answer, ask, source)
	local config = room_config(answer);
	if not config then
		module:log("warn", "%s: the receiver described %s in a way this module cannot read; ignored", source, room.jid);
		return;
	end
	local previous = known[room];
	if previous and previous.ask > ask then return; end
	config.ask = ask;
	known[room] = config;
	module:log("debug", "%s: the receiver describes %s as %s", source, room.jid,
		not config.meeting and "a room without a Meeting" or
		("a %s meeting%s"):format(config.access, config.ends_at and (", ending in %ds"):format(math.floor(config.ends_at - time.monotonic() + 0.5)) or ""));
end

-- close_at_end closes room once the receiver says how long its meeting may last: the answer to
-- room-created carries {"room": {"maxDurationSeconds": n}} for rooms that have a Meeting with an
-- end. A meeting that already ended gets 0, and its room is closed at once.
local function close_at_end(room, answer)
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

-- ask asks the receiver whether the person described by info may join room, waiting at most
-- validate_timeout seconds. It returns the answer when the receiver answered 200 with a boolean
-- "allowed", else nil and why it could not ask. net.http has no timeout of its own (Prosody 0.12
-- and 13): a timer gives up on the request, closing its connection, and resumes the join.
local function ask(room, info)
	local body = json.encode({ timestamp = now_ms(); room = room_info(room); occupant = info });
	local n = next_ask();
	local result, err = async.wait_for(promise.new(function(resolve)
		local settled, request, deadline = false, nil, nil;
		request = http.request(validate_url, {
			method = "POST";
			body = body;
			headers = { ["Content-Type"] = "application/json"; ["X-Jitsi-Signature"] = sign(body) };
		}, function(response, code)
			if settled then return; end
			settled = true;
			if deadline and timer.stop then timer.stop(deadline); end -- else it fires, and finds it settled
			resolve({ code = code; body = response });
		end);
		if settled then return; end
		deadline = timer.add_task(validate_timeout, function()
			if settled then return; end
			settled = true;
			if request then http.destroy_request(request); end
			resolve({ timed_out = true });
		end);
	end));
	if not result then
		return nil, "cannot send: " .. tostring(err);
	elseif result.timed_out then
		return nil, ("no answer within %gs"):format(validate_timeout);
	elseif result.code == 0 then
		return nil, "cannot connect: " .. tostring(result.body);
	elseif result.code ~= 200 then
		return nil, "it answered " .. tostring(result.code);
	end
	local answer = decode(result.body);
	if not answer or type(answer.allowed) ~= "boolean" then
		return nil, "it answered 200 without a decision";
	end
	learn(room, answer, n, "validate-access");
	return answer;
end

-- decide_alone is the rule while the receiver cannot be asked: only what it said about the room
-- before can admit, and only to a room known to be open.
local function decide_alone(room, info)
	if info.recorder then
		return true, "the recorder, whom the receiver admits to every room";
	end
	local config = known[room];
	if not config then
		return false, "nothing is known about the room";
	end
	if config.ends_at and time.monotonic() >= config.ends_at then
		return false, "its meeting has ended";
	end
	if config.meeting and config.access ~= "Public" then
		return false, "it is a private meeting";
	end
	local what = config.meeting and "a public meeting" or "a room without a Meeting";
	if not admit_public_when_unreachable then
		return false, what .. ", but jitsi_operator_admit_public_when_unreachable is off";
	end
	return true, what;
end

-- What a person turned away without the receiver is told.
local function refusal_text(reason)
	if reason == "its meeting has ended" then return "The meeting has ended."; end
	return "Access to this meeting cannot be checked right now. Please try again shortly.";
end

-- Before a join, ask the receiver whether this person may enter (a meeting that ended admits
-- nobody, a private one only its invitees). The join waits for the answer, at most
-- validate_timeout seconds; without one, decide_alone decides.
module:hook("muc-occupant-pre-join", function(event)
	local room, occupant, origin = event.room, event.occupant, event.origin;
	if is_healthcheck(room) or is_focus(occupant) then return; end
	local info = occupant_info(occupant, origin);
	local answer, why;
	if missing then
		why = missing .. " is not set";
	elseif async.ready() then
		answer, why = ask(room, info);
	else
		why = "this join cannot wait for it";
	end
	if answer then
		if answer.allowed == true then return; end
		local reason = type(answer.reason) == "string" and answer.reason or nil;
		module:log("info", "%s may not join %s: %s", occupant.bare_jid, room.jid, tostring(reason));
		origin.send(st.error_reply(event.stanza, "auth", "forbidden", reason));
		return true;
	end
	local allowed, reason = decide_alone(room, info);
	module:log("warn", "could not ask the receiver about %s joining %s (%s); %s: %s", occupant.bare_jid, room.jid, why,
		allowed and "admitted" or "refused", reason);
	if allowed then return; end
	origin.send(st.error_reply(event.stanza, "auth", "forbidden", refusal_text(reason)));
	return true;
end, 10);

if missing then return; end

module:hook("muc-room-created", function(event)
	local room = event.room;
	if is_healthcheck(room) then return; end
	local n = next_ask();
	send("room-created", room, nil, function(answer)
		learn(room, answer, n, "room-created");
		close_at_end(room, answer);
	end);
end, -2);

module:hook("muc-room-destroyed", function(event)
	known[event.room] = nil;
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
