// grpc-peer is a proxyless gRPC workload built on grpc-go's xDS support, for meshcp's real-peer
// tests. It speaks the demo's Echo service (src/demo/echo.ts: /meshcp.test.Echo/Who, JSON
// messages), so it calls and is called by the grpc-js workloads in the same mesh.
//
//	grpc-peer server --name backend-1 --port 7001
//	grpc-peer client --target xds:///backend [--interval 20ms] [--fresh-every 5]
//
// Both read the xDS bootstrap from GRPC_XDS_BOOTSTRAP (gRFC A27) and use xDS credentials (gRFC
// A29), so TLS comes from the Listener and Cluster meshcp sends. Each prints JSON lines on stdout:
// the server its serving-mode changes, the client one line per call. Both stop on SIGTERM or when
// stdin closes, so a test that dies does not leave them running.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	xdscreds "google.golang.org/grpc/credentials/xds"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/xds"
)

const whoMethod = "/meshcp.test.Echo/Who"

// jsonCodec carries the Echo service's JSON messages (the grpc-js workloads' wire format).
type jsonCodec struct{}

func (jsonCodec) Marshal(v any) ([]byte, error)      { return json.Marshal(v) }
func (jsonCodec) Unmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }
func (jsonCodec) Name() string                       { return "json" }

type whoReply struct {
	Server   string   `json:"server"`
	PeerUris []string `json:"peerUris"`
}

var stdout = struct {
	sync.Mutex
	enc *json.Encoder
}{enc: json.NewEncoder(os.Stdout)}

func emit(event map[string]any) {
	stdout.Lock()
	defer stdout.Unlock()
	_ = stdout.enc.Encode(event)
}

// untilStopped is cancelled on SIGTERM/SIGINT or when stdin reaches EOF (the test went away).
func untilStopped() context.Context {
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	return ctx
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: grpc-peer server|client [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "server":
		err = runServer(os.Args[2:])
	case "client":
		err = runClient(os.Args[2:])
	default:
		err = fmt.Errorf("unknown mode %q: server or client", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "grpc-peer:", err)
		os.Exit(1)
	}
}

func peerURIs(ctx context.Context) []string {
	uris := []string{}
	p, ok := peer.FromContext(ctx)
	if !ok {
		return uris
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.PeerCertificates) == 0 {
		return uris
	}
	for _, u := range info.State.PeerCertificates[0].URIs {
		uris = append(uris, u.String())
	}
	return uris
}

func runServer(args []string) error {
	fs := flag.NewFlagSet("server", flag.ExitOnError)
	name := fs.String("name", "", "the server's name, returned by Who")
	host := fs.String("host", "127.0.0.1", "address to listen on")
	port := fs.Int("port", 0, "port to listen on (the Listener meshcp sends is named after it)")
	_ = fs.Parse(args)
	if *name == "" || *port == 0 {
		return fmt.Errorf("server needs --name and --port")
	}
	creds, err := xdscreds.NewServerCredentials(xdscreds.ServerOptions{FallbackCreds: insecure.NewCredentials()})
	if err != nil {
		return err
	}
	server, err := xds.NewGRPCServer(
		grpc.Creds(creds),
		grpc.ForceServerCodec(jsonCodec{}),
		xds.ServingModeCallback(func(addr net.Addr, change xds.ServingModeChangeArgs) {
			event := map[string]any{"event": "serving-mode", "address": addr.String(), "mode": change.Mode.String()}
			if change.Err != nil {
				event["error"] = change.Err.Error()
			}
			emit(event)
		}),
	)
	if err != nil {
		return err
	}
	calls := 0
	var mu sync.Mutex
	server.RegisterService(&grpc.ServiceDesc{
		ServiceName: "meshcp.test.Echo",
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{
			MethodName: "Who",
			Handler: func(_ any, ctx context.Context, decode func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
				var request map[string]any
				if err := decode(&request); err != nil {
					return nil, err
				}
				mu.Lock()
				calls++
				mu.Unlock()
				return whoReply{Server: *name, PeerUris: peerURIs(ctx)}, nil
			},
		}},
	}, struct{}{})
	listener, err := net.Listen("tcp", net.JoinHostPort(*host, strconv.Itoa(*port)))
	if err != nil {
		return err
	}
	ctx := untilStopped()
	go func() {
		<-ctx.Done()
		server.Stop()
	}()
	emit(map[string]any{"event": "listening", "address": listener.Addr().String()})
	if err := server.Serve(listener); err != nil && ctx.Err() == nil {
		return err
	}
	mu.Lock()
	emit(map[string]any{"event": "stopped", "calls": calls})
	mu.Unlock()
	return nil
}

func dial(target string) (*grpc.ClientConn, error) {
	creds, err := xdscreds.NewClientCredentials(xdscreds.ClientOptions{FallbackCreds: insecure.NewCredentials()})
	if err != nil {
		return nil, err
	}
	return grpc.NewClient(target, grpc.WithTransportCredentials(creds), grpc.WithDefaultCallOptions(grpc.ForceCodec(jsonCodec{})))
}

func call(ctx context.Context, conn *grpc.ClientConn, deadline time.Duration) map[string]any {
	ctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	var reply whoReply
	err := conn.Invoke(ctx, whoMethod, map[string]any{}, &reply)
	if err != nil {
		s := status.Convert(err)
		return map[string]any{"event": "call", "ok": false, "code": s.Code().String(), "message": s.Message()}
	}
	return map[string]any{"event": "call", "ok": true, "server": reply.Server, "peerUris": reply.PeerUris}
}

func runClient(args []string) error {
	fs := flag.NewFlagSet("client", flag.ExitOnError)
	target := fs.String("target", "", "xds:///SERVICE")
	interval := fs.Duration("interval", 20*time.Millisecond, "pause between calls")
	deadline := fs.Duration("deadline", 5*time.Second, "deadline of each call")
	freshEvery := fs.Int("fresh-every", 0, "every Nth call goes over a new channel (a new TLS handshake); 0: never")
	_ = fs.Parse(args)
	if *target == "" {
		return fmt.Errorf("client needs --target")
	}
	conn, err := dial(*target)
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx := untilStopped()
	for n := 1; ctx.Err() == nil; n++ {
		var result map[string]any
		if *freshEvery > 0 && n%*freshEvery == 0 {
			fresh, err := dial(*target)
			if err != nil {
				return err
			}
			result = call(ctx, fresh, *deadline)
			result["fresh"] = true
			fresh.Close()
		} else {
			result = call(ctx, conn, *deadline)
		}
		if ctx.Err() != nil {
			break
		}
		result["n"] = n
		emit(result)
		select {
		case <-ctx.Done():
		case <-time.After(*interval):
		}
	}
	return nil
}
