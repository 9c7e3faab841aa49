// envoy-validate runs Envoy's own protoc-gen-validate rules, as compiled into go-control-plane's
// generated types (ValidateAll), on resources meshcp generates.
//
// Input: one JSON object per line on stdin, {"typeUrl": "type.googleapis.com/...", "binary":
// "<base64 of the encoded message>"} or {"typeUrl": ..., "json": <proto3 JSON>}. Output: one line
// per input, in order, {"errors": [...]}; an empty list means Envoy's rules accept it.
//
// ValidateAll does not look inside google.protobuf.Any (a filter's typed_config, a transport
// socket): those are unpacked here and validated as their own type, recursively, as Envoy does
// when it instantiates the extension. A type this tool does not know is an error, never a pass.
// Fields unknown to Envoy's protos (meshcp's protos out of step with Envoy's) are errors too.
package main

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/anypb"

	_ "meshcp.test/peers/internal/envoytypes"
)

type request struct {
	TypeURL string          `json:"typeUrl"`
	Binary  string          `json:"binary,omitempty"`
	JSON    json.RawMessage `json:"json,omitempty"`
}

type verdict struct {
	Errors []string `json:"errors"`
}

type allValidator interface{ ValidateAll() error }

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 256<<20)
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	enc := json.NewEncoder(out)
	for in.Scan() {
		line := strings.TrimSpace(in.Text())
		if line == "" {
			continue
		}
		if err := enc.Encode(verdict{Errors: validateLine([]byte(line))}); err != nil {
			fmt.Fprintln(os.Stderr, "envoy-validate: write:", err)
			os.Exit(2)
		}
	}
	if err := in.Err(); err != nil {
		fmt.Fprintln(os.Stderr, "envoy-validate: read:", err)
		os.Exit(2)
	}
}

func validateLine(line []byte) []string {
	var req request
	if err := json.Unmarshal(line, &req); err != nil {
		return []string{"input is not a JSON request: " + err.Error()}
	}
	name := strings.TrimPrefix(req.TypeURL, "type.googleapis.com/")
	mt, err := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName(name))
	if err != nil {
		return []string{fmt.Sprintf("unknown type %q: import its package in internal/envoytypes", req.TypeURL)}
	}
	msg := mt.New().Interface()
	switch {
	case req.JSON != nil:
		if err := protojson.Unmarshal(req.JSON, msg); err != nil {
			return []string{"proto3 JSON does not parse as " + name + ": " + err.Error()}
		}
	default:
		raw, err := base64.StdEncoding.DecodeString(req.Binary)
		if err != nil {
			return []string{"binary is not base64: " + err.Error()}
		}
		if err := proto.Unmarshal(raw, msg); err != nil {
			return []string{"bytes do not decode as " + name + ": " + err.Error()}
		}
	}
	errs := []string{}
	check(msg, name, &errs)
	return errs
}

// check runs the message's own rules (which cover its non-Any sub-messages), then every Any inside it.
func check(msg proto.Message, path string, errs *[]string) {
	if v, ok := msg.(allValidator); ok {
		if err := v.ValidateAll(); err != nil {
			*errs = append(*errs, path+": "+err.Error())
		}
	}
	walk(msg.ProtoReflect(), path, errs)
}

func walk(m protoreflect.Message, path string, errs *[]string) {
	if unknown := m.GetUnknown(); len(unknown) > 0 {
		*errs = append(*errs, fmt.Sprintf("%s: %d bytes of fields unknown to Envoy's %s", path, len(unknown), m.Descriptor().FullName()))
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		at := path + "." + string(fd.Name())
		switch {
		case fd.IsList() && fd.Message() != nil:
			list := v.List()
			for i := 0; i < list.Len(); i++ {
				visit(list.Get(i).Message(), fmt.Sprintf("%s[%d]", at, i), errs)
			}
		case fd.IsMap() && fd.MapValue().Message() != nil:
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				visit(mv.Message(), fmt.Sprintf("%s[%q]", at, k.String()), errs)
				return true
			})
		case !fd.IsList() && !fd.IsMap() && fd.Message() != nil:
			visit(v.Message(), at, errs)
		}
		return true
	})
}

func visit(m protoreflect.Message, path string, errs *[]string) {
	if m.Descriptor().FullName() != "google.protobuf.Any" {
		walk(m, path, errs)
		return
	}
	packed, ok := m.Interface().(*anypb.Any)
	if !ok {
		*errs = append(*errs, path+": an Any that is not *anypb.Any")
		return
	}
	inner, err := packed.UnmarshalNew()
	if err != nil {
		*errs = append(*errs, fmt.Sprintf("%s: cannot unpack %q (%v): if Envoy knows this type, import its package in internal/envoytypes", path, packed.GetTypeUrl(), err))
		return
	}
	check(inner, fmt.Sprintf("%s<%s>", path, inner.ProtoReflect().Descriptor().FullName()), errs)
}
