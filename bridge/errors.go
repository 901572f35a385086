package bridge

import (
	"context"
	"errors"
	"strings"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/converter"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// RejectedError marks a Signal-With-Start that Temporal (or its SDK, before
// sending) refuses on every attempt, as opposed to an outage. Signalers wrap
// such errors in it; the dispatcher halves the batch and dead-letters an
// event refused alone.
type RejectedError struct {
	// Rule names what the request broke (one of the Rule* constants).
	Rule string
	Err  error
}

func (e *RejectedError) Error() string {
	return "rejected by Temporal (" + e.Rule + "): " + e.Err.Error()
}
func (e *RejectedError) Unwrap() error { return e.Err }

// Rules a rejected Signal-With-Start broke.
const (
	RuleInvalidArgument = "invalid-argument"  // the server's InvalidArgument (id length, blob size limit, ...)
	RulePayloadTooLarge = "payload-too-large" // a payload over the server's blob size limit
	RuleMessageTooLarge = "message-too-large" // the request over a gRPC message size limit
	RuleCannotEncode    = "cannot-encode"     // the data converter cannot encode the batch
	RuleInvalidString   = "invalid-string"    // a string gRPC or protobuf cannot carry (UTF-8, header characters)
)

// ReasonRejected is the dead-letter reason of an event Temporal refused
// even alone in its batch.
const ReasonRejected = "rejected-by-temporal"

// Classify says whether a Signal-With-Start error is a deterministic
// refusal, and which rule the request broke. Everything else (Temporal
// unavailable, throttling, timeouts, a lost connection, and also an
// unknown namespace or refused credentials, which are the deployment's
// fault, not the event's) is retried with backoff and never skips an event.
func Classify(err error) (rule string, rejected bool) {
	if err == nil {
		return "", false
	}
	var r *RejectedError
	if errors.As(err, &r) {
		return r.Rule, true
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return "", false
	}
	if errors.Is(err, converter.ErrUnableToEncode) || errors.Is(err, converter.ErrUnableToFindConverter) {
		return RuleCannotEncode, true
	}
	var invalid *serviceerror.InvalidArgument
	if errors.As(err, &invalid) {
		if strings.Contains(strings.ToLower(invalid.Message), "size exceeds limit") {
			return RulePayloadTooLarge, true
		}
		return RuleInvalidArgument, true
	}
	// A server that throttles says so with a ResourceExhausted carrying a
	// cause; the same gRPC code without it is a message over a size limit,
	// which no retry will shrink.
	var throttled *serviceerror.ResourceExhausted
	if errors.As(err, &throttled) {
		return "", false
	}
	code, msg, ok := grpcStatus(err)
	if !ok {
		return "", false
	}
	switch code {
	case codes.InvalidArgument:
		return RuleInvalidArgument, true
	case codes.ResourceExhausted:
		if isMessageTooLarge(msg) {
			return RuleMessageTooLarge, true
		}
	case codes.Internal:
		// Refusals raised in this process before anything is sent: grpc-go
		// cannot marshal a string that is not UTF-8, nor send a header
		// value with characters outside printable ASCII.
		if strings.Contains(msg, "invalid UTF-8") || strings.Contains(msg, "error while marshaling") ||
			strings.Contains(msg, "non-printable ASCII") {
			return RuleInvalidString, true
		}
	}
	return "", false
}

// grpcStatus is err's gRPC code and message, whether it came from the
// server (a serviceerror) or from grpc-go in this process.
func grpcStatus(err error) (codes.Code, string, bool) {
	if se, ok := errors.AsType[serviceerror.ServiceError](err); ok {
		st := se.Status()
		return st.Code(), st.Message(), true
	}
	if st, ok := status.FromError(err); ok {
		return st.Code(), st.Message(), true
	}
	return codes.Unknown, "", false
}

// isMessageTooLarge recognises grpc-go's message size errors (the same
// list the Temporal SDK's own retry interceptor uses).
func isMessageTooLarge(msg string) bool {
	for _, p := range [...]string{
		"grpc: received message larger than max",
		"grpc: message after decompression larger than max",
		"grpc: received message after decompression larger than max",
		"grpc: trying to send message larger than max",
		"grpc: message too large",
		"trying to send message larger than max",
	} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}
