package securetest

import (
	"crypto/tls"
	"net"
	"strings"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Gateway stands in front of a plaintext Temporal dev server the way
// Temporal Cloud's front door does: it serves TLS (mutual, if the server
// config asks for client certificates) and, with an APIKey, refuses every
// call without "authorization: Bearer <key>". Calls it lets through are
// forwarded, bytes untouched, to the real server; every Temporal service
// call is unary, so that is all it needs to proxy.
type Gateway struct {
	Addr string
	// APIKey is compared on every call; Store a new one to rotate it.
	APIKey atomic.Pointer[string]
	// Refused counts calls turned away for a missing or wrong key.
	Refused atomic.Int64
}

type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	*(v.(*[]byte)) = append([]byte(nil), data...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

// NewGateway listens on 127.0.0.1 and forwards to target until t ends.
func NewGateway(t testing.TB, serverTLS *tls.Config, target, apiKey string) *Gateway {
	t.Helper()
	up, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	g := &Gateway{}
	if apiKey != "" {
		g.APIKey.Store(&apiKey)
	}
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(serverTLS)), grpc.ForceServerCodec(rawCodec{}),
		grpc.UnknownServiceHandler(func(_ any, stream grpc.ServerStream) error {
			method, _ := grpc.MethodFromServerStream(stream)
			in, _ := metadata.FromIncomingContext(stream.Context())
			if k := g.APIKey.Load(); k != nil {
				if got := in.Get("authorization"); len(got) != 1 || got[0] != "Bearer "+*k {
					g.Refused.Add(1)
					return status.Error(codes.Unauthenticated, "missing or wrong API key")
				}
			}
			out := metadata.MD{}
			for k, v := range in {
				if !strings.HasPrefix(k, ":") && k != "authorization" && k != "content-type" && k != "user-agent" {
					out[k] = v
				}
			}
			var req, resp []byte
			if err := stream.RecvMsg(&req); err != nil {
				return err
			}
			ctx := metadata.NewOutgoingContext(stream.Context(), out)
			if err := up.Invoke(ctx, method, &req, &resp, grpc.ForceCodec(rawCodec{})); err != nil {
				return err
			}
			return stream.SendMsg(&resp)
		}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g.Addr = ln.Addr().String()
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Stop(); up.Close() })
	return g
}
