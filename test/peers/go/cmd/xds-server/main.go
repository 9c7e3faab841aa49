// xds-server serves xDS with go-control-plane (the reference Go xDS server library): per-node
// SnapshotCache for every type, or a LinearCache for EDS (--eds-cache=linear), on ADS and the
// per-type services, over plaintext or TLS (--tls-cert/--tls-key). It serves whatever resources it
// is given, so the same binary stands beside meshcp in `npm run bench` and can serve a fleet of
// real Envoys.
//
// Control protocol: JSON lines on stdin, events as JSON lines on stdout; it exits when stdin closes.
//
//	{"op":"resource","id":"r1","typeUrl":"type.googleapis.com/...","value":"<base64>"}
//	{"op":"snapshot","node":"dp-0","types":{"<typeUrl>":{"version":"v1","ids":["r1",...]}}}
//	{"op":"linear","typeUrl":"<EDS>","ids":[...]}            (the LinearCache's initial resources)
//	{"op":"serve"}                                           → {"event":"listening","port":P}
//	{"op":"await-acks","token":"t","nodes":N,"ids":[typeUrl...]} → {"event":"acked","token":"t"} once N nodes ACKed each of those types
//	{"op":"update","token":"t","typeUrl":"...","value":"<base64>","version":"v","nodes":N}
//	    → {"event":"updated","token":"t","ms":...,"syncMs":...,"pushed":K} once N nodes ACKed the new response
//	{"op":"memory"}                                          → {"event":"memory","rssBytes":...,"heapUsedBytes":...}
//
// A NACK is reported as {"event":"nack",...} on stdout.
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	clusterservice "github.com/envoyproxy/go-control-plane/envoy/service/cluster/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	endpointservice "github.com/envoyproxy/go-control-plane/envoy/service/endpoint/v3"
	listenerservice "github.com/envoyproxy/go-control-plane/envoy/service/listener/v3"
	routeservice "github.com/envoyproxy/go-control-plane/envoy/service/route/v3"
	secretservice "github.com/envoyproxy/go-control-plane/envoy/service/secret/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	_ "meshcp.test/peers/internal/envoytypes"
)

type command struct {
	Op      string          `json:"op"`
	ID      string          `json:"id"`
	TypeURL string          `json:"typeUrl"`
	Value   string          `json:"value"`
	Node    string          `json:"node"`
	Types   json.RawMessage `json:"types"`
	IDs     []string        `json:"ids"`
	Token   string          `json:"token"`
	Nodes   int             `json:"nodes"`
	Version string          `json:"version"`
}

type typeSet struct {
	Version string   `json:"version"`
	IDs     []string `json:"ids"`
}

var out = struct {
	sync.Mutex
	enc *json.Encoder
}{enc: json.NewEncoder(os.Stdout)}

func emit(event map[string]any) {
	out.Lock()
	defer out.Unlock()
	_ = out.enc.Encode(event)
}

func decode(typeURL, b64 string) (types.Resource, error) {
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, err
	}
	mt, err := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName(strings.TrimPrefix(typeURL, resourcev3.APITypePrefix)))
	if err != nil {
		return nil, fmt.Errorf("unknown type %s: %w", typeURL, err)
	}
	msg := mt.New().Interface()
	if err := proto.Unmarshal(raw, msg); err != nil {
		return nil, err
	}
	return msg.(types.Resource), nil
}

// acks follows, per stream, the nonce of the last response of each type, and turns requests that
// echo it into ACKs of that node; it also carries the waits the control protocol asked for.
type acks struct {
	mu         sync.Mutex
	nodeOf     map[int64]string
	sent       map[int64]map[string]string // stream → type → nonce of the last response
	ackedTypes map[string]map[string]bool  // node → types ACKed at least once
	initial    *initialWait
	update     *updateWait
}

type initialWait struct {
	token string
	nodes int
	types map[string]bool
	// Nodes that have ACKed every type of the wait, counted as their last type comes in.
	complete int
	done     bool
}

type updateWait struct {
	token    string
	typeURL  string
	nodes    int
	started  time.Time
	syncMs   float64
	nonces   map[int64]string // responses of the update's type sent since it started
	acked    map[string]bool
	pushed   int
	finished bool
}

func newAcks() *acks {
	return &acks{nodeOf: map[int64]string{}, sent: map[int64]map[string]string{}, ackedTypes: map[string]map[string]bool{}}
}

func (a *acks) onRequest(stream int64, req *discovery.DiscoveryRequest) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if req.GetNode().GetId() != "" {
		a.nodeOf[stream] = req.GetNode().GetId()
	}
	node := a.nodeOf[stream]
	if req.GetErrorDetail() != nil {
		emit(map[string]any{"event": "nack", "node": node, "typeUrl": req.GetTypeUrl(), "error": req.GetErrorDetail().GetMessage()})
		return nil
	}
	nonce := req.GetResponseNonce()
	if nonce == "" || a.sent[stream][req.GetTypeUrl()] != nonce {
		return nil
	}
	if a.ackedTypes[node] == nil {
		a.ackedTypes[node] = map[string]bool{}
	}
	if !a.ackedTypes[node][req.GetTypeUrl()] {
		a.ackedTypes[node][req.GetTypeUrl()] = true
		if w := a.initial; w != nil && w.types[req.GetTypeUrl()] && a.ackedAll(node, w) {
			w.complete++
			a.checkInitial()
		}
	}
	if u := a.update; u != nil && !u.finished && u.typeURL == req.GetTypeUrl() && u.nonces[stream] == nonce {
		u.acked[node] = true
		if len(u.acked) >= u.nodes {
			u.finished = true
			emit(map[string]any{"event": "updated", "token": u.token, "ms": float64(time.Since(u.started).Microseconds()) / 1000, "syncMs": u.syncMs, "pushed": u.pushed})
		}
	}
	return nil
}

func (a *acks) onResponse(stream int64, resp *discovery.DiscoveryResponse) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.sent[stream] == nil {
		a.sent[stream] = map[string]string{}
	}
	a.sent[stream][resp.GetTypeUrl()] = resp.GetNonce()
	if u := a.update; u != nil && !u.finished && u.typeURL == resp.GetTypeUrl() {
		u.nonces[stream] = resp.GetNonce()
		u.pushed++
	}
}

func (a *acks) onClosed(stream int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.nodeOf, stream)
	delete(a.sent, stream)
}

func (a *acks) ackedAll(node string, w *initialWait) bool {
	for t := range w.types {
		if !a.ackedTypes[node][t] {
			return false
		}
	}
	return true
}

// checkInitial reports the initial wait once enough nodes ACKed every type; call with mu held.
func (a *acks) checkInitial() {
	if w := a.initial; w != nil && !w.done && w.complete >= w.nodes {
		w.done = true
		emit(map[string]any{"event": "acked", "token": w.token})
	}
}

func rssBytes() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			fields := strings.Fields(line)
			kb, _ := strconv.ParseInt(fields[1], 10, 64)
			return kb * 1024
		}
	}
	return -1
}

type controlPlane struct {
	ctx       context.Context
	snapshots cachev3.SnapshotCache
	linear    *cachev3.LinearCache
	linearURL string
	resources map[string]types.Resource
	// Per node, the snapshot last set: an update of a snapshot-served type rebuilds it.
	nodes map[string]*cachev3.Snapshot
	acks  *acks
}

func (cp *controlPlane) handle(cmd command) error {
	switch cmd.Op {
	case "resource":
		res, err := decode(cmd.TypeURL, cmd.Value)
		if err != nil {
			return fmt.Errorf("resource %s: %w", cmd.ID, err)
		}
		cp.resources[cmd.ID] = res
	case "snapshot":
		sets := map[string]typeSet{}
		if err := json.Unmarshal(cmd.Types, &sets); err != nil {
			return err
		}
		snap := &cachev3.Snapshot{}
		for typeURL, set := range sets {
			if typeURL == cp.linearURL {
				continue
			}
			items := make([]types.Resource, 0, len(set.IDs))
			for _, id := range set.IDs {
				res, ok := cp.resources[id]
				if !ok {
					return fmt.Errorf("snapshot %s: no resource %s", cmd.Node, id)
				}
				items = append(items, res)
			}
			snap.Resources[cachev3.GetResponseType(typeURL)] = cachev3.NewResources(set.Version, items)
		}
		cp.nodes[cmd.Node] = snap
		return cp.snapshots.SetSnapshot(cp.ctx, cmd.Node, snap)
	case "linear":
		if cp.linear == nil || cmd.TypeURL != cp.linearURL {
			return fmt.Errorf("no LinearCache for %s (--eds-cache=linear serves EDS from one)", cmd.TypeURL)
		}
		initial := map[string]types.Resource{}
		for _, id := range cmd.IDs {
			res, ok := cp.resources[id]
			if !ok {
				return fmt.Errorf("linear: no resource %s", id)
			}
			initial[cachev3.GetResourceName(res)] = res
		}
		cp.linear.SetResources(initial)
	case "await-acks":
		wait := &initialWait{token: cmd.Token, nodes: cmd.Nodes, types: map[string]bool{}}
		for _, t := range cmd.IDs {
			wait.types[t] = true
		}
		cp.acks.mu.Lock()
		cp.acks.initial = wait
		// Nodes that ACKed before the wait began count too (once, here).
		for node := range cp.acks.ackedTypes {
			if cp.acks.ackedAll(node, wait) {
				wait.complete++
			}
		}
		cp.acks.checkInitial()
		cp.acks.mu.Unlock()
	case "update":
		return cp.update(cmd)
	case "memory":
		runtime.GC()
		debug.FreeOSMemory()
		var stats runtime.MemStats
		runtime.ReadMemStats(&stats)
		emit(map[string]any{"event": "memory", "rssBytes": rssBytes(), "heapUsedBytes": stats.HeapAlloc})
	default:
		return fmt.Errorf("unknown op %q", cmd.Op)
	}
	return nil
}

// update replaces one resource of one type for every node, timed from here to the last ACK.
func (cp *controlPlane) update(cmd command) error {
	wait := &updateWait{token: cmd.Token, typeURL: cmd.TypeURL, nodes: cmd.Nodes, started: time.Now(), nonces: map[int64]string{}, acked: map[string]bool{}}
	cp.acks.mu.Lock()
	cp.acks.update = wait
	cp.acks.mu.Unlock()
	res, err := decode(cmd.TypeURL, cmd.Value)
	if err != nil {
		return err
	}
	name := cachev3.GetResourceName(res)
	if cmd.TypeURL == cp.linearURL && cp.linear != nil {
		err = cp.linear.UpdateResource(name, res)
	} else {
		index := cachev3.GetResponseType(cmd.TypeURL)
		for node, old := range cp.nodes {
			previous := old.Resources[index]
			items := make([]types.Resource, 0, len(previous.Items))
			for n, item := range previous.Items {
				if n != name {
					items = append(items, item.Resource)
				}
			}
			items = append(items, res)
			snap := &cachev3.Snapshot{Resources: old.Resources}
			snap.Resources[index] = cachev3.NewResources(cmd.Version, items)
			cp.nodes[node] = snap
			if err = cp.snapshots.SetSnapshot(cp.ctx, node, snap); err != nil {
				break
			}
		}
	}
	cp.acks.mu.Lock()
	wait.syncMs = float64(time.Since(wait.started).Microseconds()) / 1000
	cp.acks.mu.Unlock()
	return err
}

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to serve xDS on")
	tlsCert := flag.String("tls-cert", "", "serving certificate (PEM); with --tls-key, xDS is served over TLS")
	tlsKey := flag.String("tls-key", "", "key of --tls-cert")
	edsCache := flag.String("eds-cache", "linear", "linear: one LinearCache serves EDS to every node; snapshot: EDS is in each node's snapshot")
	flag.Parse()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cp := &controlPlane{
		ctx:       ctx,
		snapshots: cachev3.NewSnapshotCache(true, cachev3.IDHash{}, nil),
		resources: map[string]types.Resource{},
		nodes:     map[string]*cachev3.Snapshot{},
		acks:      newAcks(),
	}
	var xdsCache cachev3.Cache = cp.snapshots
	if *edsCache == "linear" {
		cp.linearURL = resourcev3.EndpointType
		cp.linear = cachev3.NewLinearCache(resourcev3.EndpointType)
		xdsCache = &cachev3.MuxCache{
			Classify: func(r *cachev3.Request) string {
				if r.GetTypeUrl() == resourcev3.EndpointType {
					return "linear"
				}
				return "snapshot"
			},
			ClassifyDelta: func(r *cachev3.DeltaRequest) string {
				if r.GetTypeUrl() == resourcev3.EndpointType {
					return "linear"
				}
				return "snapshot"
			},
			Caches: map[string]cachev3.Cache{"linear": cp.linear, "snapshot": cp.snapshots},
		}
	} else if *edsCache != "snapshot" {
		fmt.Fprintln(os.Stderr, "xds-server: --eds-cache is linear or snapshot")
		os.Exit(2)
	}
	callbacks := serverv3.CallbackFuncs{
		StreamRequestFunc: cp.acks.onRequest,
		StreamResponseFunc: func(_ context.Context, stream int64, _ *discovery.DiscoveryRequest, resp *discovery.DiscoveryResponse) {
			cp.acks.onResponse(stream, resp)
		},
		StreamClosedFunc: func(stream int64, _ *corev3.Node) { cp.acks.onClosed(stream) },
	}
	xds := serverv3.NewServer(ctx, xdsCache, callbacks)

	// The same transport limits as meshcp's server (keepalive, 16 MiB messages).
	options := []grpc.ServerOption{
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		grpc.MaxRecvMsgSize(16 << 20),
		grpc.MaxConcurrentStreams(1 << 20),
	}
	if *tlsCert != "" || *tlsKey != "" {
		cert, err := tls.LoadX509KeyPair(*tlsCert, *tlsKey)
		if err != nil {
			fmt.Fprintln(os.Stderr, "xds-server: --tls-cert/--tls-key:", err)
			os.Exit(2)
		}
		options = append(options, grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})))
	}
	server := grpc.NewServer(options...)
	discovery.RegisterAggregatedDiscoveryServiceServer(server, xds)
	clusterservice.RegisterClusterDiscoveryServiceServer(server, xds)
	endpointservice.RegisterEndpointDiscoveryServiceServer(server, xds)
	listenerservice.RegisterListenerDiscoveryServiceServer(server, xds)
	routeservice.RegisterRouteDiscoveryServiceServer(server, xds)
	secretservice.RegisterSecretDiscoveryServiceServer(server, xds)

	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 64<<20)
	for in.Scan() {
		var cmd command
		if err := json.Unmarshal(in.Bytes(), &cmd); err != nil {
			fmt.Fprintln(os.Stderr, "xds-server: bad command:", err)
			os.Exit(2)
		}
		if cmd.Op == "serve" {
			listener, err := net.Listen("tcp", *listen)
			if err != nil {
				fmt.Fprintln(os.Stderr, "xds-server:", err)
				os.Exit(1)
			}
			go func() {
				if err := server.Serve(listener); err != nil {
					fmt.Fprintln(os.Stderr, "xds-server:", err)
					os.Exit(1)
				}
			}()
			emit(map[string]any{"event": "listening", "port": listener.Addr().(*net.TCPAddr).Port})
			continue
		}
		if err := cp.handle(cmd); err != nil {
			fmt.Fprintln(os.Stderr, "xds-server:", err)
			os.Exit(1)
		}
	}
	// stdin closed: whoever started this server is gone.
	server.Stop()
}
