package harness

import (
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tracep/tracep/tracep"
)

// valueType is what a matcher key's values are, which decides what a
// pattern for it may be.
type valueType int

const (
	textValue   valueType = iota // any glob
	addrValue                    // an address, address:port, prefix or glob
	numberValue                  // digits (and glob characters)
	boolValue                    // true or false
	kindValue                    // a kind
)

var (
	addrPortType = reflect.TypeFor[netip.AddrPort]()
	addrType     = reflect.TypeFor[netip.Addr]()
	timeType     = reflect.TypeFor[time.Time]()
	durationType = reflect.TypeFor[time.Duration]()
)

// keysOf returns the matcher keys of events of kind k (of every kind when k
// is ""), with the type of their values: the JSON fields of the process and
// the payload, dotted into nested objects, and the derived keys.
var keysOf = func() func(tracep.Kind) map[string]valueType {
	var once sync.Once
	byKind := map[tracep.Kind]map[string]valueType{}
	build := func() {
		all := map[string]valueType{}
		for _, k := range tracep.Kinds() {
			keys := map[string]valueType{"kind": kindValue}
			jsonKeys(keys, "", reflect.TypeFor[tracep.Proc]())
			p := tracep.PayloadOf(k)
			jsonKeys(keys, "", reflect.TypeOf(p).Elem())
			fill(reflect.ValueOf(p).Elem())
			p.DerivedKeys(func(key, _ string) { keys[key] = textValue })
			byKind[k] = keys
			for key, t := range keys {
				all[key] = t
			}
		}
		byKind[""] = all
	}
	return func(k tracep.Kind) map[string]valueType {
		once.Do(build)
		return byKind[k]
	}
}()

// jsonKeys adds the JSON field names of t, dotted below prefix.
func jsonKeys(keys map[string]valueType, prefix string, t reflect.Type) {
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		if prefix != "" {
			name = prefix + "." + name
		}
		ft := f.Type
		if ft.Kind() == reflect.Slice && ft.Elem().Kind() != reflect.Uint8 {
			ft = ft.Elem() // a list matches when any element does
		}
		switch {
		case ft == addrPortType || ft == addrType:
			keys[name] = addrValue
		case ft == timeType:
			keys[name] = textValue
		case ft == durationType:
			keys[name] = numberValue
		case ft.Kind() == reflect.Struct:
			jsonKeys(keys, name, ft)
		case ft.Kind() == reflect.Bool:
			keys[name] = boolValue
		case ft.Kind() >= reflect.Int && ft.Kind() <= reflect.Uint64:
			keys[name] = numberValue
		default:
			keys[name] = textValue
		}
	}
}

// fill sets every string of v to "x" and gives every list one element, so
// that a payload's DerivedKeys names all the keys it can derive.
func fill(v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		v.SetString("x")
	case reflect.Struct:
		if v.Type() == addrPortType || v.Type() == addrType || v.Type() == timeType {
			return
		}
		for i := range v.NumField() {
			if v.Field(i).CanSet() {
				fill(v.Field(i))
			}
		}
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		fill(v.Index(0))
	}
}

// check makes sure t can match events of kind k: its key is one they
// have, and its pattern one a value of that key can match. A bare address
// for an address key is kept in t, to match it on any port.
func (t *Term) check(k tracep.Kind) error {
	keys := keysOf(k)
	typ, ok := keys[t.Key]
	if !ok {
		names := make([]string, 0, len(keys))
		for name := range keys {
			names = append(names, name)
		}
		slices.Sort(names)
		of := "any"
		if k != "" {
			of = string(k)
		}
		return fmt.Errorf("matcher term %s: no key %q in %s events (keys: %s): %w", t, t.Key, of, strings.Join(names, ", "), tracep.ErrInvalid)
	}
	var err error
	switch typ {
	case boolValue:
		if t.Pattern != "true" && t.Pattern != "false" && !hasGlob(t.Pattern) {
			err = fmt.Errorf("want true or false")
		}
	case numberValue:
		if strings.Trim(t.Pattern, "-0123456789*?") != "" || t.Pattern == "" {
			err = fmt.Errorf("want a number (or a glob of digits)")
		}
	case kindValue:
		_, err = tracep.ParseKind(t.Pattern)
	case addrValue:
		err = t.checkAddr()
	}
	if err != nil {
		return fmt.Errorf("matcher term %s: %v: %w", t, err, tracep.ErrInvalid)
	}
	return nil
}

// checkAddr accepts an address prefix (with an optional port), an
// address:port, a bare address (any port) or a glob.
func (t *Term) checkAddr() error {
	p := t.Pattern
	if strings.Contains(p, "/") {
		_, _, err := parseCIDR(p)
		return err
	}
	if _, err := netip.ParseAddrPort(p); err == nil || hasGlob(p) {
		return nil
	}
	a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(p, "["), "]"))
	if err != nil {
		return fmt.Errorf("want an address, address:port, address prefix (10.0.0.0/8, [2001:db8::/32]:443) or glob")
	}
	t.addr = a.Unmap()
	return nil
}

func hasGlob(s string) bool { return strings.ContainsAny(s, "*?") }

// parseCIDR parses "10.0.0.0/8", "10.0.0.0/8:443", "::1/128",
// "[2001:db8::/32]:443"; a port of "*" or none matches any port.
func parseCIDR(p string) (netip.Prefix, string, error) {
	addr, port := p, ""
	if strings.HasPrefix(p, "[") {
		i := strings.Index(p, "]")
		if i < 0 {
			return netip.Prefix{}, "", fmt.Errorf("unterminated [")
		}
		addr, port = p[1:i], p[i+1:]
		if port != "" && !strings.HasPrefix(port, ":") {
			return netip.Prefix{}, "", fmt.Errorf("want :port after ]")
		}
		port = strings.TrimPrefix(port, ":")
	} else if i := strings.LastIndex(p, ":"); i > strings.LastIndex(p, "/") && !strings.Contains(p[:i], ":") {
		addr, port = p[:i], p[i+1:] // IPv4 with a port; an IPv6 prefix needs brackets to carry one
	}
	prefix, err := netip.ParsePrefix(addr)
	if err != nil {
		return netip.Prefix{}, "", fmt.Errorf("bad address prefix %q", addr)
	}
	if port == "*" {
		port = ""
	}
	if port != "" {
		if n, err := strconv.ParseUint(port, 10, 16); err != nil || strconv.FormatUint(n, 10) != port {
			return netip.Prefix{}, "", fmt.Errorf("bad port %q", port)
		}
	}
	return prefix.Masked(), port, nil
}
