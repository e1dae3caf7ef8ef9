# hmac_sha256 KEY MESSAGE prints the hex HMAC-SHA256 of MESSAGE under KEY: at most 64 hex digits,
# taken as text (as the receiver takes it), so the key is at most one SHA-256 block and is only
# padded, never hashed. The key's blocks (key XOR ipad, key XOR opad) are written as octal escapes
# by the shell's builtin printf into the pipe sha256sum reads, so the key is in no program's
# arguments or environment. Fails on any other key, and when printf is not the builtin.
hmac_sha256() {
	[ -n "${_h_builtin:-}" ] || { [ "$(command -v printf)" = printf ] && _h_builtin=1; } || return 1
	_hk=$1 _hi="" _ho="" _hn=0
	while [ -n "$_hk" ]; do
		_hc=${_hk%"${_hk#?}"}
		_hk=${_hk#?}
		case $_hc in
		[0123456789]) _hv=$((48 + _hc)) ;;
		[abcdef]) _hp=abcdef _hp=${_hp%%"$_hc"*} _hv=$((97 + ${#_hp})) ;;
		[ABCDEF]) _hp=ABCDEF _hp=${_hp%%"$_hc"*} _hv=$((65 + ${#_hp})) ;;
		*) return 1 ;;
		esac
		_hn=$((_hn + 1))
		[ "$_hn" -le 64 ] || return 1
		_hx=$((_hv ^ 54))
		_hi="$_hi\\$((_hx >> 6))$(((_hx >> 3) & 7))$((_hx & 7))"
		_hx=$((_hv ^ 92))
		_ho="$_ho\\$((_hx >> 6))$(((_hx >> 3) & 7))$((_hx & 7))"
	done
	[ "$_hn" -gt 0 ] || return 1
	while [ "$_hn" -lt 64 ]; do
		_hi="$_hi\\066" _ho="$_ho\\134" _hn=$((_hn + 1))
	done
	_hd=$({ printf "$_hi"; printf '%s' "$2"; } | sha256sum) || return 1
	_hd=${_hd%% *} _hb=""
	[ "${#_hd}" -eq 64 ] || return 1
	while [ -n "$_hd" ]; do
		_hx=$((0x${_hd%"${_hd#??}"}))
		_hd=${_hd#??}
		_hb="$_hb\\$((_hx >> 6))$(((_hx >> 3) & 7))$((_hx & 7))"
	done
	_hd=$({ printf "$_ho"; printf "$_hb"; } | sha256sum) || return 1
	_hd=${_hd%% *}
	_hi="" _ho="" _hk=""
	[ "${#_hd}" -eq 64 ] || return 1
	printf '%s\n' "$_hd"
}
