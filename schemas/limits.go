package schemas

import (
	stdjson "encoding/json"
	"errors"

	"fmt"
	"github.com/segmentio/encoding/json"
	"strconv"
	"unicode/utf8"
)

// Limits on what a producer controls. Everything a record carries into a
// workflow id, a signal, a milestone header or the input of Continue-As-New
// is bounded here, well under the limits where Temporal or Kafka would
// refuse it: a record over a bound is dead-lettered as an invalid envelope
// at decode, instead of being refused by Temporal on every attempt later.
const (
	MaxIDBytes          = 256      // CloudEvents id
	MaxSourceBytes      = 512      // CloudEvents source (a URI reference)
	MaxTypeBytes        = 256      // CloudEvents type
	MaxSubjectBytes     = 512      // CloudEvents subject
	MaxContentTypeBytes = 256      // datacontenttype / content-type
	MaxKeyBytes         = 512      // the Kafka record key (the entity key)
	MaxDataDepth        = 128      // nesting of arrays and objects in data
	MaxHeaderBytes      = 64 << 10 // all Kafka header keys and values of one record
)

// Reasons a DecodeError gives for a broken limit or encoding.
const (
	ReasonUndecodable = "undecodable"  // not JSON, not UTF-8, or too deep to decode
	ReasonTooLong     = "too-long"     // an attribute over its byte limit
	ReasonNotUTF8     = "invalid-utf8" // an attribute that is not UTF-8
	ReasonControl     = "control-char" // an attribute with a control character
)

// checkAttr checks one attribute a producer set: UTF-8, no control
// characters (they break logs, headers and workflow ids), within max bytes.
func checkAttr(name, v string, max int) error {
	if len(v) > max {
		return &DecodeError{Reason: ReasonTooLong, Detail: fmt.Sprintf("%s is %d bytes, at most %d", name, len(v), max)}
	}
	if !utf8.ValidString(v) {
		return &DecodeError{Reason: ReasonNotUTF8, Detail: name + " is not valid UTF-8"}
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c == 0x7f {
			return &DecodeError{Reason: ReasonControl, Detail: fmt.Sprintf("%s has a control character (0x%02x) at byte %d", name, c, i)}
		}
	}
	return nil
}

// CheckKey checks a record key as an entity key: present, UTF-8, no control
// characters, at most MaxKeyBytes. Temporal refuses a workflow id that is
// not UTF-8 on every attempt.
func CheckKey(key []byte) error {
	return checkAttr("key", string(key), MaxKeyBytes)
}

// NormalizeData checks event data as JSON a workflow can decode and returns
// it as the Temporal SDK's JSON converter would encode it: compact, with
// <, >, & and U+2028/U+2029 escaped. Doing this once at decode means the
// size the bridge bounds a batch by is the size Temporal receives, and data
// that the SDK or the worker could never encode or decode (invalid UTF-8,
// nesting beyond MaxDataDepth; Go's decoder stops at 10,000) is bad input
// here rather than a signal retried forever.
func NormalizeData(data []byte) ([]byte, error) {
	if len(data) == 0 {
		return nil, nil
	}
	if !utf8.Valid(data) {
		return nil, &DecodeError{Reason: ReasonUndecodable, Detail: "data is not valid UTF-8 (JSON must be)"}
	}
	depth, dirty := inspectJSON(data)
	if depth > MaxDataDepth {
		return nil, &DecodeError{Reason: ReasonUndecodable, Detail: fmt.Sprintf("data nests %d deep, at most %d", depth, MaxDataDepth)}
	}
	if !json.Valid(data) {
		return nil, &DecodeError{Reason: ReasonUndecodable, Detail: "data is not valid JSON"}
	}
	if !dirty {
		return data, nil
	}
	return appendNormalized(make([]byte, 0, len(data)+len(data)/8), data), nil
}

// normalizeValid is NormalizeData for data already known to be valid
// UTF-8 JSON within the depth limit. Most producers' JSON is compact and
// free of HTML characters: then data is returned as it is, uncopied.
func normalizeValid(data []byte) []byte {
	if _, dirty := inspectJSON(data); !dirty {
		return data
	}
	return appendNormalized(make([]byte, 0, len(data)+len(data)/8), data)
}

// byte classes for inspectJSON and appendNormalized.
const (
	clPlain = iota
	clQuote
	clOpen
	clClose
	clSpace
	clEscape  // backslash, inside strings
	clHTML    // < > &, inside strings
	clLineSep // first byte of U+2028/U+2029, inside strings
)

var outsideClass, insideClass [256]byte

func init() {
	outsideClass['"'], insideClass['"'] = clQuote, clQuote
	outsideClass['['], outsideClass['{'] = clOpen, clOpen
	outsideClass[']'], outsideClass['}'] = clClose, clClose
	for _, c := range " \t\r\n" {
		outsideClass[c] = clSpace
	}
	insideClass['\\'] = clEscape
	insideClass['<'], insideClass['>'], insideClass['&'] = clHTML, clHTML, clHTML
	insideClass[0xe2] = clLineSep
}

// inspectJSON returns the deepest nesting of arrays and objects in data,
// and whether it differs from its normalised form (whitespace between
// tokens, or a character the SDK's encoder escapes). It does not validate,
// and stops counting past MaxDataDepth+1.
func inspectJSON(data []byte) (deepest int, dirty bool) {
	depth, n := 0, len(data)
	for i := 0; i < n; i++ {
		switch outsideClass[data[i]] {
		case clPlain:
		case clQuote:
			i++
		str:
			for i < n {
				// Most bytes of a string are plain: skip them in a tight loop.
				for i < n && insideClass[data[i]] == clPlain {
					i++
				}
				if i >= n {
					break
				}
				switch insideClass[data[i]] {
				case clEscape:
					i += 2
					continue
				case clHTML:
					dirty = true
				case clLineSep:
					if i+2 < n && data[i+1] == 0x80 && (data[i+2] == 0xa8 || data[i+2] == 0xa9) {
						dirty = true
					}
				case clQuote:
					break str
				}
				i++
			}
		case clOpen:
			if depth++; depth > deepest {
				deepest = depth
				if deepest > MaxDataDepth+1 {
					return deepest, dirty
				}
			}
		case clClose:
			depth--
		case clSpace:
			dirty = true
		}
	}
	return deepest, dirty
}

// appendNormalized appends valid JSON src to dst compacted and escaped
// exactly as Go's encoding/json encodes a json.RawMessage.
func appendNormalized(dst, src []byte) []byte {
	const hex = "0123456789abcdef"
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch outsideClass[c] {
		case clSpace:
			continue
		case clQuote:
			dst = append(dst, c)
			for i++; i < len(src); i++ {
				c = src[i]
				switch insideClass[c] {
				case clEscape:
					dst = append(dst, c, src[i+1])
					i++
					continue
				case clHTML:
					dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
					continue
				case clLineSep:
					if i+2 < len(src) && src[i+1] == 0x80 && (src[i+2] == 0xa8 || src[i+2] == 0xa9) {
						dst = append(dst, '\\', 'u', '2', '0', '2', hex[src[i+2]&15])
						i += 2
						continue
					}
					dst = append(dst, c)
					continue
				case clPlain:
					dst = append(dst, c)
					continue
				}
				dst = append(dst, c) // the closing quote
				break
			}
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// JSONErrorDetail describes a JSON decoding error without quoting the
// input: decoders' messages can carry fragments of the payload ("invalid
// character 'x' in string ..."), which must not reach dead-letter headers
// or logs.
func JSONErrorDetail(what string, err error) string {
	var syn *stdjson.SyntaxError
	var typ *stdjson.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return what + " is not valid JSON (at byte " + strconv.FormatInt(syn.Offset, 10) + ")"
	case errors.As(err, &typ):
		at := typ.Field
		if at == "" {
			at = "top level"
		}
		return fmt.Sprintf("%s: JSON %s where %s expects %s", what, typ.Value, at, typ.Type)
	default:
		return what + " is not valid JSON"
	}
}

// EncodedEventSize bounds the bytes be takes in an encoded SignalBatch (its
// JSON object and a separating comma). Strings count as the encoder escapes
// them, so a batch bounded by the sum of its events' sizes stays under the
// bound once encoded.
func EncodedEventSize(be *BatchedEvent) int {
	// {"offset":,"id":"","type":"","source":"","produced_at_us":,"data":,"redriven":true,"traceparent":""},
	const fixed = 104
	n := fixed + 20 + 20 // two int64s at most
	n += quotedLen(be.ID) + quotedLen(be.Type) + quotedLen(be.Source) + quotedLen(be.TraceParent)
	return n + len(be.Data)
}

// quotedLen is how many bytes s takes once JSON-escaped (without quotes),
// as Go's encoders escape: two bytes for \" \\ \n \r \t, six for other
// control characters, < > & and U+2028/U+2029, and three for each invalid
// byte (U+FFFD).
func quotedLen(s string) int {
	n := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t':
				n += 2
			case c < 0x20 || c == '<' || c == '>' || c == '&':
				n += 6
			default:
				n++
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			n += 6 // \ufffd
		case r == '\u2028' || r == '\u2029':
			n += 6
		default:
			n += size
		}
		i += size
	}
	return n
}

// Truncate cuts s to at most n bytes on a UTF-8 boundary, ending a cut
// string with "…" (within the n bytes). Error text, reasons and log values
// that a producer can lengthen go through it.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const mark = "…"
	n -= len(mark)
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	if n < 0 {
		n = 0
	}
	return s[:n] + mark
}

// CheckJSON checks a record value that is to be read as JSON: UTF-8,
// nested at most MaxDataDepth+1 deep (an envelope around data), valid.
// Decoders must never see input nested deep enough to exhaust them.
func CheckJSON(value []byte) error {
	if !utf8.Valid(value) {
		return &DecodeError{Reason: ReasonUndecodable, Detail: "value is not valid UTF-8 (JSON must be)"}
	}
	if d, _ := inspectJSON(value); d > MaxDataDepth+1 {
		return &DecodeError{Reason: ReasonUndecodable, Detail: fmt.Sprintf("value nests %d deep, data at most %d", d, MaxDataDepth)}
	}
	if !json.Valid(value) {
		return &DecodeError{Reason: ReasonUndecodable, Detail: "value is not valid JSON"}
	}
	return nil
}
