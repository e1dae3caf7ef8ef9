package webhook

import (
	"encoding/json"
	"reflect"
	"slices"
	"strconv"
)

// A status write sends only what changed: a JSON patch (RFC 6902) from the status the receiver
// read to the one it computed, with the read resourceVersion in it, so that the API server
// refuses it with a conflict when the Meeting changed meanwhile (an optimistic lock, as an
// update would be). A participant who joins is one "add" at the end of the list, a leave one
// "replace" of that entry, instead of the whole list of up to 200 people.

type patchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value,omitempty"`
}

// statusPatch is the JSON patch that turns status from into to on a Meeting at resourceVersion.
func statusPatch(from, to any, resourceVersion string) ([]byte, error) {
	before, err := asMap(from)
	if err != nil {
		return nil, err
	}
	after, err := asMap(to)
	if err != nil {
		return nil, err
	}
	// The test fails the whole patch (422) on a Meeting that moved on before any other operation
	// can fail on a path the newer status lacks; the replace makes the storage's own optimistic
	// lock (409) hold as well.
	ops := []patchOp{{Op: "test", Path: "/metadata/resourceVersion", Value: resourceVersion},
		{Op: "replace", Path: "/metadata/resourceVersion", Value: resourceVersion}}
	if reflect.DeepEqual(before, asZero(from)) {
		// A status never written may not exist on the server: there is nothing to patch into.
		ops = append(ops, patchOp{Op: "add", Path: "/status", Value: after})
		return json.Marshal(ops)
	}
	keys := make([]string, 0, len(before)+len(after))
	for k := range before {
		keys = append(keys, k)
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		path := "/status/" + pointerEscape(k)
		old, had := before[k]
		now, has := after[k]
		switch {
		case !has:
			ops = append(ops, patchOp{Op: "remove", Path: path})
		case !had:
			ops = append(ops, patchOp{Op: "add", Path: path, Value: now})
		case reflect.DeepEqual(old, now):
		default:
			ops = append(ops, listOps(path, old, now)...)
		}
	}
	return json.Marshal(ops)
}

// listOps changes the value at path from old to now. A list of entries with an "id" (the
// participants) is changed entry by entry: the entries dropped (the status keeps the newest 200)
// are removed, those that changed replaced, the new ones added at the end, as long as the
// entries kept are in the same order; anything else is replaced whole.
func listOps(path string, old, now any) []patchOp {
	whole := []patchOp{{Op: "replace", Path: path, Value: now}}
	a, okA := old.([]any)
	b, okB := now.([]any)
	if !okA || !okB {
		return whole
	}
	ids := map[any]bool{}
	for _, v := range b {
		if id := idOf(v); id != nil {
			ids[id] = true
		}
	}
	var ops []patchOp
	kept := make([]any, 0, len(a))
	for i := len(a) - 1; i >= 0; i-- { // from the end, so that the indices still hold
		if id := idOf(a[i]); id != nil && !ids[id] {
			ops = append(ops, patchOp{Op: "remove", Path: path + "/" + strconv.Itoa(i)})
			continue
		}
		kept = append(kept, a[i])
	}
	slices.Reverse(kept)
	if len(b) < len(kept) {
		return whole
	}
	for i := range kept {
		if !reflect.DeepEqual(idOf(kept[i]), idOf(b[i])) {
			return whole // reordered
		}
		if !reflect.DeepEqual(kept[i], b[i]) {
			ops = append(ops, patchOp{Op: "replace", Path: path + "/" + strconv.Itoa(i), Value: b[i]})
		}
	}
	for _, v := range b[len(kept):] {
		ops = append(ops, patchOp{Op: "add", Path: path + "/-", Value: v})
	}
	if len(ops) > len(b)/2+1 {
		return whole // most of it changed: one replace is smaller
	}
	return ops
}

// idOf is a list entry's "id", nil when it has none.
func idOf(v any) any {
	if m, ok := v.(map[string]any); ok {
		return m["id"]
	}
	return nil
}

func asMap(v any) (map[string]any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	m := map[string]any{}
	return m, json.Unmarshal(b, &m)
}

// asZero is the JSON form of v's type's zero value.
func asZero(v any) map[string]any {
	m, _ := asMap(reflect.New(reflect.TypeOf(v)).Elem().Interface())
	return m
}

func pointerEscape(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '~':
			out = append(out, "~0"...)
		case '/':
			out = append(out, "~1"...)
		default:
			out = append(out, s[i])
		}
	}
	return string(out)
}
