package analytics

import (
	"reflect"
	"time"
)

func newScanTarget(t reflect.Type) any { return reflect.New(t).Interface() }

// deref turns a scanned pointer into a value JSON renders plainly: times
// as RFC 3339 strings, everything else as is.
func deref(p any) any {
	v := reflect.ValueOf(p).Elem().Interface()
	if t, ok := v.(time.Time); ok {
		return t.UTC().Format(time.RFC3339)
	}
	return v
}
