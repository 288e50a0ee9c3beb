package prefect

import "encoding/json"

// Opt is a PATCH field, where "leave alone" and "clear" differ: the zero
// value is omitted (with the omitzero tag), Null() sends null, Some(v) sends v.
type Opt[T any] struct {
	state uint8 // 0 unset, 1 null, 2 value
	v     T
}

// Some sets a field to v.
func Some[T any](v T) Opt[T] { return Opt[T]{state: 2, v: v} }

// Null clears a field on the server.
func Null[T any]() Opt[T] { return Opt[T]{state: 1} }

// FromPtr maps nil to Null and a value to Some, for "converge to this spec".
func FromPtr[T any](p *T) Opt[T] {
	if p == nil {
		return Null[T]()
	}
	return Some(*p)
}

// IsZero lets encoding/json's omitzero drop unset fields.
func (o Opt[T]) IsZero() bool { return o.state == 0 }

// Get returns the value and whether one is set (false for unset and null).
func (o Opt[T]) Get() (T, bool) { return o.v, o.state == 2 }

// IsNull reports an explicit null.
func (o Opt[T]) IsNull() bool { return o.state == 1 }

// MarshalJSON writes null or the value; unset fields never reach it when
// tagged omitzero.
func (o Opt[T]) MarshalJSON() ([]byte, error) {
	if o.state != 2 {
		return []byte("null"), nil
	}
	return json.Marshal(o.v)
}

// UnmarshalJSON makes Opt usable in fake servers and round-trip tests.
func (o *Opt[T]) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*o = Null[T]()
		return nil
	}
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*o = Some(v)
	return nil
}
