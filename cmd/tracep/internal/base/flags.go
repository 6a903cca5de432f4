package base

import (
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// flagSet parses the flags of the tracing commands in one grammar that
// accepts both of the reference tool's styles:
//
//   - one-letter flags that cluster (-ctu), a value letter taking the rest
//     of its cluster or the next argument (-Qo FILE, -p1234);
//   - long flags with one or two dashes (-timeout 3s, --ports=53,5353),
//     bool flags with an optional =value (-j, -j=false);
//   - the first argument that is not a flag, or whatever follows "--",
//     is the command to run.
//
// A token that names a long flag is that flag; otherwise it is a cluster
// of one-letter flags.
type FlagSet struct {
	name  string
	flags map[string]*flagDef
	order []*flagDef
}

type flagDef struct {
	name  string
	arg   string // the value's name in the usage; "" for a switch
	usage string
	value flag.Value
	set   bool
}

func NewFlags(name string) *FlagSet { return &FlagSet{name: name, flags: map[string]*flagDef{}} }

func (f *FlagSet) add(name, arg, usage string, v flag.Value) {
	if _, dup := f.flags[name]; dup {
		panic("flag -" + name + " declared twice")
	}
	d := &flagDef{name: name, arg: arg, usage: usage, value: v}
	f.flags[name] = d
	f.order = append(f.order, d)
}

// Bool declares a switch.
func (f *FlagSet) Bool(name string, p *bool, usage string) { f.add(name, "", usage, (*boolValue)(p)) }

// String declares a flag with a value; the last one given wins.
func (f *FlagSet) String(name, arg string, p *string, usage string) {
	f.add(name, arg, usage, (*stringValue)(p))
}

// List declares a repeatable flag whose values are comma-separated lists;
// every item of every use is kept, trimmed, empty items included (a
// caller decides whether they are an error).
func (f *FlagSet) List(name, arg string, p *[]string, usage string) {
	f.add(name, arg, usage, (*listValue)(p))
}

// Strings declares a repeatable flag; every value is kept as given.
func (f *FlagSet) Strings(name, arg string, p *[]string, usage string) {
	f.add(name, arg, usage, (*stringsValue)(p))
}

// Var declares a flag with a value of its own type.
func (f *FlagSet) Var(name, arg string, v flag.Value, usage string) { f.add(name, arg, usage, v) }

// Changed reports whether the flag was given.
func (f *FlagSet) Changed(name string) bool { d := f.flags[name]; return d != nil && d.set }

// ErrHelp is returned by Parse for -h, -help and --help.
var ErrHelp = flag.ErrHelp

// parse parses args and returns the command that follows the flags.
func (f *FlagSet) Parse(args []string) (cmd []string, err error) {
	for i := 0; i < len(args); i++ {
		arg := args[i]
		switch {
		case arg == "--":
			return args[i+1:], nil
		case arg == "-h" || arg == "-help" || arg == "--help":
			return nil, ErrHelp
		case len(arg) < 2 || arg[0] != '-':
			return args[i:], nil
		}
		name, value, hasValue := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(arg, "-"), "-"), "=")
		if d := f.flags[name]; d != nil && (len(name) > 1 || hasValue || strings.HasPrefix(arg, "--")) {
			// A long flag, or a one-letter flag written -x=v or --x.
			if d.arg != "" && !hasValue {
				if i+1 >= len(args) {
					return nil, fmt.Errorf("flag -%s needs a value (%s)", name, d.arg)
				}
				i++
				value, hasValue = args[i], true
			}
			if err := d.setValue(value, hasValue); err != nil {
				return nil, err
			}
			continue
		}
		if strings.HasPrefix(arg, "--") {
			return nil, fmt.Errorf("unknown flag %s", printable(arg))
		}
		for j := 1; j < len(arg); j++ {
			d := f.flags[arg[j:j+1]]
			if d == nil {
				return nil, fmt.Errorf("unknown flag -%s", printable(arg[j:j+1]))
			}
			if d.arg == "" {
				if err := d.setValue("", false); err != nil {
					return nil, err
				}
				continue
			}
			v := arg[j+1:] // attached: -p1234
			if v == "" {
				if i+1 >= len(args) {
					return nil, fmt.Errorf("flag -%s needs a value (%s)", d.name, d.arg)
				}
				i++
				v = args[i]
			}
			if err := d.setValue(v, true); err != nil {
				return nil, err
			}
			break
		}
	}
	return nil, nil
}

func (d *flagDef) setValue(v string, given bool) error {
	if d.arg == "" && !given {
		v = "true"
	}
	if err := d.value.Set(v); err != nil {
		return fmt.Errorf("invalid value %q for flag -%s: %v", printable(v), d.name, err)
	}
	d.set = true
	return nil
}

// printable escapes what a terminal would interpret in a flag named in a
// message.
func printable(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			fmt.Fprintf(&b, `\x%02x`, c)
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

type boolValue bool

func (b *boolValue) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return errors.New("want true or false")
	}
	*b = boolValue(v)
	return nil
}
func (b *boolValue) String() string { return strconv.FormatBool(bool(*b)) }

type stringValue string

func (s *stringValue) Set(v string) error { *s = stringValue(v); return nil }
func (s *stringValue) String() string     { return string(*s) }

type stringsValue []string

func (l *stringsValue) Set(v string) error { *l = append(*l, v); return nil }
func (l *stringsValue) String() string     { return strings.Join(*l, " ") }

type listValue []string

func (l *listValue) Set(v string) error {
	for _, item := range strings.Split(v, ",") {
		*l = append(*l, strings.TrimSpace(item))
	}
	return nil
}
func (l *listValue) String() string { return strings.Join(*l, ",") }

// secondsFlag is a duration flag that also accepts a bare number of seconds,
// the reference tool's form ("-timeout 3").
type secondsFlag struct{ d *time.Duration }

// Seconds is a flag.Value setting *d from a number of seconds or a
// duration ("3", "1.5", "500ms"), which must be positive.
func Seconds(d *time.Duration) flag.Value { return secondsFlag{d} }

func (s secondsFlag) String() string {
	if s.d == nil {
		return ""
	}
	return strconv.FormatFloat(s.d.Seconds(), 'f', -1, 64)
}

func (s secondsFlag) Set(v string) error {
	var d time.Duration
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		d = time.Duration(f * float64(time.Second))
	} else if d, err = time.ParseDuration(v); err != nil {
		return fmt.Errorf("%q is neither seconds nor a duration", v)
	}
	if d <= 0 {
		return fmt.Errorf("%q must be positive", v)
	}
	*s.d = d
	return nil
}
